/**
 * One SFTP write, one socket write (issue 11): ssh2 hands each SSH packet to the socket in three
 * writes and cuts a 255 KiB SFTP write into 8 packets; with Nagle off that was 24 syscalls and as
 * many TCP segments per write, which cost the client and OpenSSH 0.45 s of CPU per 320 MB.
 * Against the harness's OpenSSH sshd.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectSftp, type SftpSession } from '../../src/adapters/sftp/connect.js';
import { RemoteFs } from '../../src/adapters/sftp/remote-fs.js';
import { sftpServer } from '../helpers/servers.js';
import { sftpConfigFor } from '../helpers/sftp-config.js';

describe('SFTP writes against OpenSSH', () => {
  let session: SftpSession;
  let directory: string;

  beforeAll(async () => {
    const server = sftpServer();
    directory = await mkdtemp(path.join(server.root, 'batching-'));
    session = await connectSftp(sftpConfigFor(server, directory));
  });
  afterAll(async () => {
    await session?.end();
    if (directory) await rm(directory, { recursive: true, force: true });
  });

  it('sends the packets of one 255 KiB write in one socket write, and the server has the bytes', async () => {
    const remote = new RemoteFs(session.sftp, session.endpoint, 30_000, session.socket);
    const file = path.join(directory, 'one-write.bin');
    const handle = await remote.createExclusive(file, null);
    const data = randomBytes(Math.min(261_120, remote.maxWriteLength()));
    expect(data.length).toBeGreaterThan(200_000);

    // Socket is a stream.Duplex: every write reaches the kernel through _write or _writev.
    const socket = session.socket as unknown as Record<'_write' | '_writev', (...args: unknown[]) => unknown>;
    const calls = { write: 0, writev: 0, buffers: 0 };
    const { _write: write, _writev: writev } = socket;
    socket._write = function (this: unknown, ...args: unknown[]) {
      calls.write++;
      calls.buffers++;
      return write.apply(this, args);
    };
    socket._writev = function (this: unknown, ...args: unknown[]) {
      calls.writev++;
      calls.buffers += (args[0] as unknown[]).length;
      return writev.apply(this, args);
    };
    try {
      await remote.write(handle, data, 0, file);
    } finally {
      socket._write = write;
      socket._writev = writev;
    }
    await remote.close(handle, file);

    // 8 packets of 32 KiB, 3 buffers each: all in the first socket write.
    expect(calls.buffers).toBeGreaterThanOrEqual(24);
    expect(calls.write + calls.writev).toBe(1);
    expect((await readFile(file)).equals(data)).toBe(true);
  });
});
