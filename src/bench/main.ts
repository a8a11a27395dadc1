/**
 * `npm run bench`: one report of N rows (default 1,000,000) through the real CLI against embedded
 * PostgreSQL, OpenSSH sshd and s3rver, each step timed from its event, peak RSS of the `run`
 * process from /usr/bin/time; then the same bytes through the reference tools (psql \copy,
 * OpenSSH sftp, aws s3 cp) for ratios. Prints figures; asserts nothing.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { REPORT_QUERY, seedTransactions } from '../demo/seed-transactions.js';
import { startEmbeddedPostgres } from '../embedded/postgres.js';
import { startEmbeddedS3 } from '../embedded/s3-server.js';
import { startEmbeddedSftp } from '../embedded/sftp-server.js';

const DATE = '2026-01-15';
const TIMEZONE = 'Europe/London';
const BUCKET = 'bench';

interface Timed {
  seconds: number;
  code: number | null;
  output: string;
  maxRssKb?: number;
}

function timed(command: string, args: string[], env: NodeJS.ProcessEnv): Promise<Timed> {
  const useTime = existsSync('/usr/bin/time');
  const [cmd, argv] = useTime
    ? ['/usr/bin/time', ['-f', 'EOD_BENCH_RSS %M', command, ...args]]
    : [command, args];
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, argv, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d: Buffer) => {
      output += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      output += d.toString();
    });
    child.on('error', reject);
    child.on('close', (code) => {
      const rss = /EOD_BENCH_RSS (\d+)/.exec(output)?.[1];
      resolve({
        seconds: (performance.now() - started) / 1000,
        code,
        output,
        ...(rss ? { maxRssKb: Number(rss) } : {}),
      });
    });
  });
}

const mb = (bytes: number) => (bytes / 1024 / 1024).toFixed(1);

async function main(argv: string[]): Promise<number> {
  const rowsArg = argv.indexOf('--rows');
  const rows = rowsArg >= 0 ? Number(argv[rowsArg + 1]) : 1_000_000;
  const baseDir = await mkdtemp(path.join(tmpdir(), 'eod-bench-'));
  await chmod(baseDir, 0o755);
  const stops: (() => Promise<void>)[] = [];
  try {
    const postgres = await startEmbeddedPostgres({ baseDir });
    stops.push(postgres.stop);
    const sftp = await startEmbeddedSftp({ baseDir });
    stops.push(sftp.stop);
    const s3 = await startEmbeddedS3({ baseDir, buckets: [BUCKET] });
    stops.push(s3.stop);
    console.log(
      `servers: PostgreSQL :${postgres.port}, ${sftp.kind} SFTP :${sftp.port}, s3rver ${s3.endpoint}`,
    );

    const client = new pg.Client({ connectionString: postgres.url });
    client.on('error', () => undefined);
    await client.connect();
    const seedStart = performance.now();
    await seedTransactions(client, { dates: [DATE], perDay: rows, timezone: TIMEZONE });
    await client.query('ANALYZE transactions');
    console.log(`seeded ${rows} rows in ${((performance.now() - seedStart) / 1000).toFixed(1)} s`);

    const configPath = path.join(baseDir, 'bench.yaml');
    await writeFile(
      configPath,
      JSON.stringify({
        instance: { id: 'bench' },
        lock: { atLeastFor: '0s' },
        reports: [
          {
            name: 'bench',
            timezone: TIMEZONE,
            query: REPORT_QUERY,
            fileName: 'bench_{yyyy}{MM}{dd}.csv',
            sftp: {
              host: '127.0.0.1',
              port: sftp.port,
              username: sftp.username,
              privateKeyFile: sftp.privateKeyFile,
              hostKeySha256: sftp.hostKeySha256,
              directory: sftp.root,
            },
            s3: { bucket: BUCKET, endpoint: s3.endpoint, forcePathStyle: true },
          },
        ],
      }),
    );
    const env = {
      ...process.env,
      DATABASE_URL: postgres.url,
      AWS_ACCESS_KEY_ID: s3.accessKeyId,
      AWS_SECRET_ACCESS_KEY: s3.secretAccessKey,
      AWS_REGION: s3.region,
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
      EOD_LOG_LEVEL: 'warn',
    };
    const cli = fileURLToPath(new URL('../cli/main.js', import.meta.url));
    const migrated = await timed(process.execPath, [cli, 'migrate', '--config', configPath], env);
    if (migrated.code !== 0) throw new Error(`migrate failed: ${migrated.output}`);

    const run = await timed(process.execPath, [cli, 'run', '--config', configPath, '--date', DATE], env);
    if (run.code !== 0) throw new Error(`run failed: ${run.output}`);
    const { rows: events } = await client.query<{
      status: string;
      facts: { durationMs?: number; bytes?: number };
    }>(`SELECT status, facts FROM end_of_day_reporting_event ORDER BY event_id`);
    await client.end();
    const step = (status: string) =>
      (events.find((e) => e.status === status)?.facts.durationMs ?? Number.NaN) / 1000;
    const bytes = events.find((e) => e.status === 'ROWS_CREATED')?.facts.bytes ?? 0;
    const file = path.join(sftp.root, `bench_${DATE.replaceAll('-', '')}.csv`);
    if ((await stat(file)).size !== bytes) throw new Error('delivered file has the wrong size');

    // The reference tools on the same data and servers.
    const copyFile = path.join(baseDir, 'psql-copy.csv');
    const oracleQuery = REPORT_QUERY.replace('$1::date', `'${DATE}'::date`).replace(/\n/g, ' ');
    const psql = await timed(
      'psql',
      [
        postgres.url,
        '-c',
        `SET TimeZone = '${TIMEZONE}'`,
        '-c',
        `\\copy (${oracleQuery}) TO '${copyFile}' (FORMAT csv, HEADER)`,
      ],
      env,
    );
    const batch = path.join(baseDir, 'sftp.batch');
    await writeFile(batch, `put ${copyFile} ${sftp.root}/reference.csv\n`);
    const knownHosts = path.join(baseDir, 'known_hosts');
    const sftpRef = await timed(
      'sftp',
      [
        '-q',
        '-i',
        sftp.privateKeyFile,
        '-o',
        'StrictHostKeyChecking=no',
        '-o',
        `UserKnownHostsFile=${knownHosts}`,
        '-P',
        String(sftp.port),
        '-b',
        batch,
        `${sftp.username}@127.0.0.1`,
      ],
      env,
    );
    const aws = await timed(
      'aws',
      [
        '--endpoint-url',
        s3.endpoint,
        's3',
        'cp',
        copyFile,
        `s3://${BUCKET}/reference.csv`,
        '--only-show-errors',
      ],
      env,
    );

    const rowsStep = step('ROWS_CREATED');
    const submit = step('REPORT_SUBMITTED');
    const archive = step('REPORT_ARCHIVED');
    const line = (name: string, ours: number, ref: Timed | undefined, refName: string) =>
      console.log(
        `${name.padEnd(22)} ${ours.toFixed(2).padStart(7)} s  ${(bytes / 1024 / 1024 / ours).toFixed(0).padStart(5)} MB/s   ` +
          (ref && ref.code === 0
            ? `${refName.padEnd(12)} ${ref.seconds.toFixed(2).padStart(7)} s   ratio ${(ours / ref.seconds).toFixed(2)}`
            : `${refName}: unavailable`),
      );
    console.log(`\nreport: ${rows} rows, ${mb(bytes)} MiB\n`);
    console.log(`${'step'.padEnd(22)} ${'eod-report'.padStart(9)}  ${'rate'.padStart(10)}   reference`);
    line('rows (capture + COPY)', rowsStep, psql, 'psql \\copy');
    line('submit (SFTP)', submit, sftpRef, 'sftp put');
    line('archive (S3)', archive, aws, 'aws s3 cp');
    console.log(
      `\nwhole \`eod-report run\`: ${run.seconds.toFixed(2)} s wall, peak RSS ${run.maxRssKb ? `${(run.maxRssKb / 1024).toFixed(0)} MiB` : 'unknown (no /usr/bin/time)'}`,
    );
    console.log(
      'reference times include each tool’s start-up (aws: ~2 s of Python); ratios > 1 mean eod-report is slower.',
    );
    return 0;
  } finally {
    for (const stop of stops.reverse()) await stop().catch(() => undefined);
    await rm(baseDir, { recursive: true, force: true });
  }
}

process.exitCode = await main(process.argv.slice(2)).catch((error: unknown) => {
  console.error(error);
  return 1;
});
