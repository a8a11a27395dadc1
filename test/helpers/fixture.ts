/**
 * A complete, isolated environment for one test file: its own database (migrated), its own SFTP
 * directory and S3 bucket on the shared servers, and a config file pointing at them.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { CreateBucketCommand, GetObjectCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import pg from 'pg';
import { stringify } from 'yaml';
import { migrate } from '../../src/adapters/postgres/migrate.js';
import type { ConfigInput } from '../../src/config/schema.js';
import { createTestDatabase, type TestDatabase } from './database.js';
import { s3Server, sftpServer } from './servers.js';

export const CLI = path.resolve('dist/cli/main.js');

export interface Fixture {
  db: TestDatabase;
  pool: pg.Pool;
  dir: string;
  sftpDir: string;
  bucket: string;
  env: NodeJS.ProcessEnv;
  s3: S3Client;
  /** Writes a config (defaults + overrides for the first report) and returns its path. */
  writeConfig(overrides?: {
    report?: Record<string, unknown>;
    top?: Record<string, unknown>;
    reports?: unknown[];
  }): Promise<string>;
  baseReport(): Record<string, unknown>;
  listObjects(): Promise<string[]>;
  getObject(key: string): Promise<Buffer>;
  close(): Promise<void>;
}

/** `options.pgAdminUrl`: a PostgreSQL server of the test's own (default: the shared one). */
export async function createFixture(label: string, options: { pgAdminUrl?: string } = {}): Promise<Fixture> {
  const db = await createTestDatabase(label, options.pgAdminUrl);
  const pool = new pg.Pool({ connectionString: db.url, max: 4 });
  // Tests that restart PostgreSQL: the test's own idle clients lose their server too.
  pool.on('error', () => undefined);
  const client = await pool.connect();
  try {
    await migrate(client);
  } finally {
    client.release();
  }
  const suffix = randomBytes(4).toString('hex');
  const sftp = sftpServer();
  const sftpDir = path.join(sftp.root, `${label}-${suffix}`);
  await mkdir(sftpDir, { recursive: true, mode: 0o755 });
  const s3info = s3Server();
  const bucket = `${label
    .toLowerCase()
    .replace(/[^a-z0-9-]/g, '-')
    .slice(0, 40)}-${suffix}`;
  const s3 = new S3Client({
    endpoint: s3info.endpoint,
    region: s3info.region,
    forcePathStyle: true,
    credentials: { accessKeyId: s3info.accessKeyId, secretAccessKey: s3info.secretAccessKey },
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
  await s3.send(new CreateBucketCommand({ Bucket: bucket }));
  const dir = await mkdtemp(path.join(tmpdir(), `eod-${label}-`));
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    DATABASE_URL: db.url,
    AWS_ACCESS_KEY_ID: s3info.accessKeyId,
    AWS_SECRET_ACCESS_KEY: s3info.secretAccessKey,
    AWS_REGION: s3info.region,
    // The AWS SDK must not look for profiles or instance metadata of the machine running the tests.
    AWS_EC2_METADATA_DISABLED: 'true',
    AWS_CONFIG_FILE: path.join(dir, 'no-aws-config'),
    AWS_SHARED_CREDENTIALS_FILE: path.join(dir, 'no-aws-credentials'),
    // The SDK's notice that its 2027 releases need Node 22 would otherwise end every stderr.
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
  };

  const baseReport = () => ({
    name: 'eod-tx',
    schedule: '0 0 * * *',
    timezone: 'Europe/London',
    query:
      'SELECT id, booked_at, description, amount FROM transactions WHERE booked_on = $1::date ORDER BY id',
    fileName: 'eod_{yyyy}{MM}{dd}.csv',
    sftp: {
      host: '127.0.0.1',
      port: sftp.port,
      username: sftp.username,
      privateKeyFile: sftp.privateKeyFile,
      hostKeySha256: sftp.hostKeySha256,
      directory: sftpDir,
    },
    s3: { bucket, prefix: 'eod/{yyyy}/{MM}/', endpoint: s3info.endpoint, forcePathStyle: true },
  });

  let configs = 0;
  return {
    db,
    pool,
    dir,
    sftpDir,
    bucket,
    env,
    s3,
    baseReport,
    writeConfig: async (overrides = {}) => {
      const config: ConfigInput | Record<string, unknown> = {
        lock: { strategy: 'lease', atMostFor: '2m', atLeastFor: '0s' },
        retry: { attempts: 2, initialDelay: '100ms', maxDelay: '500ms' },
        ...overrides.top,
        reports: overrides.reports ?? [{ ...baseReport(), ...overrides.report }],
      };
      const file = path.join(dir, `config-${++configs}.yaml`);
      await writeFile(file, stringify(config));
      return file;
    },
    listObjects: async () => {
      const listed = await s3.send(new ListObjectsV2Command({ Bucket: bucket }));
      return (listed.Contents ?? []).map((o) => o.Key ?? '').sort();
    },
    getObject: async (key) => {
      const object = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
      return Buffer.from(
        await (object.Body as { transformToByteArray(): Promise<Uint8Array> }).transformToByteArray(),
      );
    },
    close: async () => {
      s3.destroy();
      await pool.end();
      await db.drop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs the built CLI as a real child process. */
export function runCli(
  args: string[],
  env: NodeJS.ProcessEnv,
  options: { timeoutMs?: number } = {},
): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString('utf8');
    });
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString('utf8');
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 60_000);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

export const TRANSACTIONS_DDL = `CREATE TABLE transactions (
  id BIGINT PRIMARY KEY, booked_on DATE NOT NULL, booked_at TIMESTAMPTZ NOT NULL, description TEXT, amount NUMERIC(20, 4))`;
