/**
 * The SFTP servers besides OpenSSH that the global setup starts (issue 10): each answers with the
 * pinned host key and the generated client key, stores bytes under its root at their local path,
 * and shows the behaviour measured in PRODUCT.md §9 that the delivery adapter must cope with.
 */
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import ssh2 from 'ssh2';
import { describe, expect, it } from 'vitest';
import { OTHER_SFTP_KINDS } from '../../src/embedded/other-sftp-servers.js';
import { fingerprintOfBlob } from '../../src/embedded/ssh-keys.js';
import { otherSftpServer } from '../helpers/servers.js';
import type { ProvidedSftp } from './provided.js';

describe.each(OTHER_SFTP_KINDS)('SFTP test server %s', (kind) => {
  it('is started by the harness and reports its kind', () => {
    expect(otherSftpServer(kind).kind).toBe(kind);
  });

  it('accepts the pinned host key and refuses a wrong one', async () => {
    const server = otherSftpServer(kind);
    const client = await connect(server);
    client.end();
    const wrong = `SHA256:${randomBytes(32).toString('base64').replace(/=+$/, '')}`;
    await expect(connect({ ...server, hostKeySha256: wrong })).rejects.toThrow(/verification failed/i);
  });

  it('stores written bytes at the local path and reads them back byte-equal', async () => {
    const server = otherSftpServer(kind);
    const client = await connect(server);
    try {
      const sftp = await call<ssh2.SFTPWrapper>((cb) => client.sftp(cb));
      const file = path.posix.join(server.root, `harness-${randomBytes(4).toString('hex')}.bin`);
      const body = Buffer.concat([
        randomBytes(100_000),
        Buffer.from(Array.from({ length: 256 }, (_, i) => i)),
      ]);
      await call((cb) => sftp.writeFile(file, body, cb));
      expect((await readFile(file)).equals(body)).toBe(true);
      expect((await call<Buffer>((cb) => sftp.readFile(file, cb))).equals(body)).toBe(true);
      await call((cb) => sftp.unlink(file, cb));
    } finally {
      client.end();
    }
  });
});

describe('measured quirks the adapter must cope with (PRODUCT.md §9)', () => {
  it('rclone serve sftp without a write cache refuses an out-of-order write (Illegal seek)', async () => {
    const server = otherSftpServer('rclone');
    const client = await connect(server);
    try {
      const sftp = await call<ssh2.SFTPWrapper>((cb) => client.sftp(cb));
      const file = path.posix.join(server.root, `ooo-${randomBytes(4).toString('hex')}.bin`);
      const handle = await call<Buffer>((cb) => sftp.open(file, 'w', cb));
      // Two writes of more than one SFTP packet each (ssh2 sends a long write's packets one
      // after another), the later part first: rclone cannot seek ahead without its write cache.
      const data = Buffer.alloc(100_000, 7);
      const late = call((cb) => sftp.write(handle, data, 50_000, 50_000, 50_000, cb));
      const early = call((cb) => sftp.write(handle, data, 0, 50_000, 0, cb));
      const results = await Promise.allSettled([late, early]);
      expect(results[0]).toMatchObject({ status: 'rejected', reason: { message: /Illegal seek/ } });
      await call((cb) => sftp.close(handle, cb)).catch(() => undefined);
    } finally {
      client.end();
    }
  });

  it('ProFTPD and gesftpserver offer posix-rename@openssh.com and fsync@openssh.com', async () => {
    for (const kind of ['proftpd', 'gesftpserver'] as const) {
      const client = await connect(otherSftpServer(kind));
      try {
        const sftp = await call<ssh2.SFTPWrapper>((cb) => client.sftp(cb));
        const extensions = (sftp as unknown as { _extensions: Record<string, string> })._extensions;
        expect(Object.keys(extensions)).toEqual(
          expect.arrayContaining(['posix-rename@openssh.com', 'fsync@openssh.com']),
        );
      } finally {
        client.end();
      }
    }
  });
});

async function connect(server: ProvidedSftp): Promise<ssh2.Client> {
  const key = await readFile(server.privateKeyFile, 'utf8');
  const client = new ssh2.Client();
  return new Promise<ssh2.Client>((resolve, reject) => {
    client.once('ready', () => resolve(client));
    client.once('error', reject);
    client.connect({
      host: server.host,
      port: server.port,
      username: server.username,
      privateKey: key,
      readyTimeout: 10_000,
      hostVerifier: (blob: Buffer) => fingerprintOfBlob(blob) === server.hostKeySha256,
    });
  });
}

function call<T = void>(
  start: (cb: (error: Error | null | undefined, value: T) => void) => void,
): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    start((error, value) => (error ? reject(error) : resolve(value)));
  });
}
