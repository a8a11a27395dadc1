import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import {
  CreateBucketCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import pg from 'pg';
import ssh2 from 'ssh2';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { startInProcessSftp } from '../../src/embedded/sftp-server.js';
import { fingerprintOfBlob, generateParsableEd25519 } from '../../src/embedded/ssh-keys.js';
import { createTestDatabase } from '../helpers/database.js';
import { s3Server, sftpServer } from '../helpers/servers.js';
import type { ProvidedSftp } from './provided.js';

describe('PostgreSQL test server', () => {
  it('answers on the admin URL', async () => {
    const client = new pg.Client({ connectionString: inject('pgAdminUrl') });
    await client.connect();
    try {
      const { rows } = await client.query<{ version: string }>('select version()');
      expect(rows[0]?.version).toMatch(/^PostgreSQL \d+/);
    } finally {
      await client.end();
    }
  });

  it('creates, uses and drops a private test database', async () => {
    const database = await createTestDatabase('Harness Check!');
    const name = new URL(database.url).pathname.slice(1);
    expect(name).toMatch(/^harness_check_[0-9a-f]{12}$/);
    const client = new pg.Client({ connectionString: database.url });
    // drop() terminates this still-open session; without a listener pg would throw it globally.
    client.on('error', () => undefined);
    await client.connect();
    await client.query('create table t (id int primary key, label text not null)');
    await client.query("insert into t values (1, 'ünïcode')");
    const { rows } = await client.query('select id, label from t');
    expect(rows).toEqual([{ id: 1, label: 'ünïcode' }]);

    await database.drop();
    await client.end().catch(() => undefined);

    const admin = new pg.Client({ connectionString: inject('pgAdminUrl') });
    await admin.connect();
    try {
      const { rowCount } = await admin.query('select 1 from pg_database where datname = $1', [name]);
      expect(rowCount).toBe(0);
    } finally {
      await admin.end();
    }
  });
});

describe('SFTP test server', () => {
  it('is OpenSSH whenever sshd is installed, and always on CI', () => {
    const expected = process.env.CI || existsSync('/usr/sbin/sshd') ? 'openssh' : 'in-process';
    expect(sftpServer().kind).toBe(expected);
  });

  sftpBehaviour(() => sftpServer());
});

describe('in-process SFTP fallback', () => {
  let baseDir: string;
  let server: Awaited<ReturnType<typeof startInProcessSftp>>;
  beforeAll(async () => {
    baseDir = await mkdtemp(path.join(os.tmpdir(), 'eod-test-'));
    server = await startInProcessSftp({ baseDir });
  });
  afterAll(async () => {
    await server?.stop();
    await rm(baseDir, { recursive: true, force: true });
  });

  it('reports its kind', () => {
    expect(server.kind).toBe('in-process');
  });

  sftpBehaviour(() => server);

  it('refuses paths outside its root', async () => {
    const client = await connectSftp(server);
    try {
      const sftp = await openSftp(client);
      await expect(call<Buffer>((cb) => sftp.readFile('/etc/hostname', cb))).rejects.toThrow(/outside/);
    } finally {
      client.end();
    }
  });
});

/** The behaviour the product relies on, checked against whichever server `info` returns. */
function sftpBehaviour(info: () => ProvidedSftp): void {
  it('accepts the pinned host key fingerprint and the generated client key', async () => {
    const client = await connectSftp(info());
    try {
      // Authenticated with a pinned host key: the session answers a request.
      const sftp = await openSftp(client);
      const home = await call<string>((cb) => sftp.realpath('.', cb));
      expect(home).toMatch(/^\//);
    } finally {
      client.end();
    }
  });

  it('refuses a wrong host key fingerprint', async () => {
    const server = info();
    const wrong = `SHA256:${randomBytes(32).toString('base64').replace(/=+$/, '')}`;
    await expect(connectSftp({ ...server, hostKeySha256: wrong })).rejects.toThrow(/verification failed/i);
  });

  it('refuses a client key it does not know', async () => {
    const otherKey = generateParsableEd25519('stranger').private;
    await expect(connectSftp(info(), otherKey)).rejects.toThrow(/authentication methods failed/i);
  });

  it('writes, renames (plain and posix-rename) and reads back byte-equal', async () => {
    const server = info();
    const client = await connectSftp(server);
    try {
      const sftp = await openSftp(client);
      const dir = path.posix.join(server.root, `case-${randomBytes(4).toString('hex')}`);
      await call((cb) => sftp.mkdir(dir, cb));
      // Larger than one SFTP packet, and every byte value, to catch framing or encoding bugs.
      const body = Buffer.concat([
        randomBytes(300_000),
        Buffer.from(Array.from({ length: 256 }, (_, i) => i)),
      ]);
      const temp = `${dir}/report.csv.part`;
      const final = `${dir}/report.csv`;

      await call((cb) => sftp.writeFile(temp, body, { mode: 0o640 }, cb));
      const stats = await call<ssh2.Stats>((cb) => sftp.stat(temp, cb));
      expect(stats.size).toBe(body.length);
      expect(stats.mode & 0o777).toBe(0o640);

      // Plain SFTP RENAME refuses to replace an existing file (OpenSSH semantics) ...
      await call((cb) => sftp.writeFile(final, 'old content', cb));
      await expect(call((cb) => sftp.rename(temp, final, cb))).rejects.toThrow();
      // ... posix-rename replaces it atomically.
      await call((cb) => sftp.ext_openssh_rename(temp, final, cb));

      const back = await call<Buffer>((cb) => sftp.readFile(final, cb));
      expect(back.equals(body)).toBe(true);
      expect((await readFile(final)).equals(body)).toBe(true); // remote path == local path
      const names = (await call<ssh2.FileEntry[]>((cb) => sftp.readdir(dir, cb))).map(
        (entry) => entry.filename,
      );
      expect(names).toEqual(['report.csv']);

      await call((cb) => sftp.unlink(final, cb));
      await call((cb) => sftp.rmdir(dir, cb));
    } finally {
      client.end();
    }
  });
}

describe('S3 test server', () => {
  const client = (): S3Client => {
    const s3 = s3Server();
    return new S3Client({
      endpoint: s3.endpoint,
      region: s3.region,
      forcePathStyle: true,
      credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
      // s3rver stores aws-chunked framing as data (PRODUCT.md §9).
      requestChecksumCalculation: 'WHEN_REQUIRED',
    });
  };

  it('creates a bucket and returns an object byte-equal', async () => {
    const s3 = client();
    try {
      const bucket = `harness-${randomBytes(4).toString('hex')}`;
      await s3.send(new CreateBucketCommand({ Bucket: bucket }));
      const body = randomBytes(1_000_000);
      await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'reports/2024-01-02.csv', Body: body }));
      const got = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: 'reports/2024-01-02.csv' }));
      const back = Buffer.from((await got.Body?.transformToByteArray()) ?? []);
      expect(back.equals(body)).toBe(true);
    } finally {
      s3.destroy();
    }
  });

  it('never shows a partially uploaded object (harness makes s3rver writes atomic)', async () => {
    const s3 = client();
    try {
      const bucket = `harness-${randomBytes(4).toString('hex')}`;
      await s3.send(new CreateBucketCommand({ Bucket: bucket }));
      // Announce 10 MB, send 1 MB, then abort: the client dies mid-upload.
      const abort = new AbortController();
      let sent = 0;
      const body = new Readable({
        read() {
          if (sent < 1_000_000) {
            sent += 100_000;
            this.push(Buffer.alloc(100_000, 1));
          } else {
            setTimeout(() => abort.abort(), 100);
          }
        },
      });
      await expect(
        s3.send(
          new PutObjectCommand({ Bucket: bucket, Key: 'partial.csv', Body: body, ContentLength: 10_000_000 }),
          {
            abortSignal: abort.signal,
          },
        ),
      ).rejects.toThrow();

      // The server notices the dropped connection asynchronously; give it a moment.
      await new Promise((resolve) => setTimeout(resolve, 300));
      await expect(
        s3.send(new HeadObjectCommand({ Bucket: bucket, Key: 'partial.csv' })),
      ).rejects.toMatchObject({
        name: 'NotFound',
      });
      const listed = await s3.send(new ListObjectsV2Command({ Bucket: bucket }));
      expect(listed.Contents ?? []).toEqual([]);
      // No temp file left behind either.
      expect(await readdir(path.join(s3Server().directory, bucket))).toEqual([]);
    } finally {
      s3.destroy();
    }
  });
});

function connectSftp(server: ProvidedSftp, privateKey?: string): Promise<ssh2.Client> {
  return (async () => {
    const key = privateKey ?? (await readFile(server.privateKeyFile, 'utf8'));
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
        // ssh2 hands over the raw host key blob; compare its fingerprint with the pinned one.
        hostVerifier: (blob: Buffer) => fingerprintOfBlob(blob) === server.hostKeySha256,
      });
    });
  })();
}

function openSftp(client: ssh2.Client): Promise<ssh2.SFTPWrapper> {
  return call<ssh2.SFTPWrapper>((cb) => client.sftp(cb));
}

/** Promise wrapper for ssh2's node-style callbacks. */
function call<T = void>(
  start: (cb: (error: Error | null | undefined, value: T) => void) => void,
): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    start((error, value) => (error ? reject(error) : resolve(value)));
  });
}
