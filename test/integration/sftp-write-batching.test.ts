/**
 * One SFTP write, one socket write (issue 11): ssh2 hands each SSH packet to the socket in three
 * writes and cuts a 255 KiB SFTP write into 8 packets; with Nagle off that was 24 syscalls and as
 * many TCP segments per write, which cost the client and OpenSSH 0.45 s of CPU per 320 MB.
 * And the server's disk catches up while we upload (fsync@openssh.com every 64 MiB), so the fsync
 * before the rename has only the last stretch to write: 15-25 ms instead of 0.1 s for 320 MB.
 * Against the harness's OpenSSH sshd.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectSftp, type SftpSession } from '../../src/adapters/sftp/connect.js';
import { RemoteFs } from '../../src/adapters/sftp/remote-fs.js';
import { uploadStream } from '../../src/adapters/sftp/upload.js';
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

  it('asks the server to flush every flushEvery bytes while the upload goes on (fsync@openssh.com), and the file is whole', async () => {
    const remote = new RemoteFs(session.sftp, session.endpoint, 30_000, session.socket);
    expect(remote.supports('fsync@openssh.com')).toBe(true);
    const file = path.join(directory, 'flushed.bin');
    const handle = await remote.createExclusive(file, null);
    const data = randomBytes(5 * 1024 * 1024 + 123);
    let flushes = 0;
    const written = await uploadStream(
      remote,
      handle,
      file,
      Readable.from([data.subarray(0, 3_000_000), data.subarray(3_000_000)]),
      {
        writeSize: 64 * 1024,
        maxInFlight: 4,
        flushEvery: 1024 * 1024,
        flush: () => {
          flushes++;
          return remote.fsyncIfSupported(handle, file);
        },
      },
    );
    await remote.close(handle, file);
    // One flush per MiB sent, sent along with the writes (the caller's final fsync is not one).
    expect(flushes).toBe(5);
    expect(written.bytes).toBe(data.length);
    expect((await readFile(file)).equals(data)).toBe(true);
  });

  it('fails the upload when a flush fails, like a failed write', async () => {
    const remote = new RemoteFs(session.sftp, session.endpoint, 30_000, session.socket);
    const file = path.join(directory, 'flush-fails.bin');
    const handle = await remote.createExclusive(file, null);
    await expect(
      uploadStream(remote, handle, file, Readable.from([randomBytes(3 * 1024 * 1024)]), {
        writeSize: 64 * 1024,
        flushEvery: 1024 * 1024,
        flush: () => Promise.reject(new Error('fsync refused by the test')),
      }),
    ).rejects.toThrow('fsync refused by the test');
    await remote.close(handle, file);
  });
});
