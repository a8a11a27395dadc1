/**
 * `npm run bench [-- --rows N --pairs P --storage plain|main|external|extended]`: one report of N rows
 * (default 1,000,000) through the real CLI against embedded PostgreSQL, OpenSSH sshd and s3rver,
 * alternated with the shell pipeline it replaces (psql \copy, then sftp put, then aws s3 cp) on
 * the same data and servers: P pairs (default 3), the order flipped every pair so both sides see
 * the same load, medians reported. Each step is timed from its event, peak RSS of the `run`
 * process from /usr/bin/time. Prints figures; asserts nothing.
 * `--sftp-servers [--mib N]`: instead, the SFTP delivery to each server the tests use against
 * OpenSSH's `sftp put` to the same server (sftp-servers.ts).
 */
import { existsSync } from 'node:fs';
import { chmod, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { DeleteObjectCommand, S3Client } from '@aws-sdk/client-s3';
import pg from 'pg';
import { REPORT_QUERY, seedTransactions } from '../demo/seed-transactions.js';
import { startEmbeddedPostgres } from '../embedded/postgres.js';
import { startEmbeddedS3 } from '../embedded/s3-server.js';
import { startEmbeddedSftp } from '../embedded/sftp-server.js';
import { median, runCollecting } from './measure.js';
import { benchSftpServers } from './sftp-servers.js';
import { shellStepSeconds, writeShellPipeline } from './shell-pipeline.js';

const DATE = '2026-01-15';
const TIMEZONE = 'Europe/London';
const BUCKET = 'bench';

interface Timed {
  seconds: number;
  code: number | null;
  output: string;
  maxRssKb?: number;
}

/** `command` timed; its peak RSS from GNU time when installed. */
async function timed(command: string, args: string[], env: NodeJS.ProcessEnv): Promise<Timed> {
  const run = existsSync('/usr/bin/time')
    ? await runCollecting('/usr/bin/time', ['-f', 'EOD_BENCH_RSS %M', command, ...args], env)
    : await runCollecting(command, args, env);
  const rss = /EOD_BENCH_RSS (\d+)/.exec(run.output)?.[1];
  return { ...run, ...(rss ? { maxRssKb: Number(rss) } : {}) };
}

function option(argv: string[], name: string): string | undefined {
  const at = argv.indexOf(name);
  return at >= 0 ? argv[at + 1] : undefined;
}

const s = (seconds: number) => `${seconds.toFixed(2)} s`.padStart(9);
const load = () => loadavg()[0]?.toFixed(1) ?? '?';

interface EodRun {
  wall: number;
  rows: number;
  submit: number;
  archive: number;
  rssMiB: number;
  load: string;
}
interface ShellRun {
  wall: number;
  psql: number;
  sftp: number;
  aws: number;
  load: string;
}

async function main(argv: string[]): Promise<number> {
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
  const rows = Number(option(argv, '--rows') ?? 1_000_000);
  const pairs = Number(option(argv, '--pairs') ?? 3);
  if (argv.includes('--sftp-servers')) {
    return benchSftpServers({ mib: Number(option(argv, '--mib') ?? 50), pairs });
  }
  const storage = option(argv, '--storage');
  const storages = ['plain', 'main', 'external', 'extended'];
  if (storage !== undefined && !storages.includes(storage)) {
    throw new Error(
      `--storage ${storage}: expected one of ${storages.join(', ')} (PostgreSQL column storage of the chunks)`,
    );
  }
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
    stops.push(() => client.end());
    const seedStart = performance.now();
    await seedTransactions(client, { dates: [DATE], perDay: rows, timezone: TIMEZONE });
    // VACUUM too, not only ANALYZE: autovacuum would otherwise take the freshly inserted table in
    // the first minute, in the middle of whichever run comes first (pair 1: 8.4-8.9 s against
    // 6.6-7.7 s for the other runs of `eod-report`).
    await client.query('VACUUM (ANALYZE) transactions');
    console.log(`seeded ${rows} rows in ${((performance.now() - seedStart) / 1000).toFixed(1)} s`);

    const names = Array.from({ length: pairs }, (_, i) => `bench-${i + 1}`);
    const configPath = path.join(baseDir, 'bench.yaml');
    await writeFile(
      configPath,
      JSON.stringify({
        instance: { id: 'bench' },
        lock: { atLeastFor: '0s' },
        reports: names.map((name) => ({
          name,
          timezone: TIMEZONE,
          query: REPORT_QUERY,
          fileName: `${name}_{yyyy}{MM}{dd}.csv`,
          sftp: {
            host: '127.0.0.1',
            port: sftp.port,
            username: sftp.username,
            privateKeyFile: sftp.privateKeyFile,
            hostKeySha256: sftp.hostKeySha256,
            directory: sftp.root,
          },
          s3: { bucket: BUCKET, endpoint: s3.endpoint, forcePathStyle: true },
        })),
      }),
    );
    const env = {
      ...process.env,
      DATABASE_URL: postgres.url,
      AWS_ACCESS_KEY_ID: s3.accessKeyId,
      AWS_SECRET_ACCESS_KEY: s3.secretAccessKey,
      AWS_REGION: s3.region,
      AWS_DEFAULT_REGION: s3.region,
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
      EOD_LOG_LEVEL: 'warn',
    };
    const cli = fileURLToPath(new URL('../cli/main.js', import.meta.url));
    const migrated = await timed(process.execPath, [cli, 'migrate', '--config', configPath], env);
    if (migrated.code !== 0) throw new Error(`migrate failed: ${migrated.output}`);
    if (storage) {
      // A whitelisted keyword, not a value: ALTER … SET STORAGE takes no parameters.
      await client.query(
        `ALTER TABLE end_of_day_reporting_content ALTER COLUMN data SET STORAGE ${storage.toUpperCase()}`,
      );
    }
    const s3Client = new S3Client({
      endpoint: s3.endpoint,
      region: s3.region,
      forcePathStyle: true,
      credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
    });
    const shellTargets = {
      baseDir,
      databaseUrl: postgres.url,
      timezone: TIMEZONE,
      query: REPORT_QUERY.replace('$1::date', `'${DATE}'::date`),
      sftp: {
        port: sftp.port,
        username: sftp.username,
        privateKeyFile: sftp.privateKeyFile,
        root: sftp.root,
      },
      s3: { endpoint: s3.endpoint, bucket: BUCKET },
    };

    // Warm the table into the page cache for both sides alike (untimed).
    await timed(
      'psql',
      [postgres.url, '-q', '-c', `\\copy (${shellTargets.query.replace(/\s+/g, ' ')}) TO '/dev/null' CSV`],
      env,
    );

    let reportBytes = 0;
    const runEod = async (name: string): Promise<EodRun> => {
      const at = load();
      const run = await timed(
        // The program itself, as `eod-report` runs it: its shebang sets V8's memory options.
        cli,
        ['run', '--config', configPath, '--report', name, '--date', DATE],
        env,
      );
      if (run.code !== 0) throw new Error(`run ${name} failed: ${run.output}`);
      const { rows: events } = await client.query<{
        status: string;
        facts: { durationMs?: number; bytes?: number };
      }>(
        `SELECT e.status, e.facts FROM end_of_day_reporting_event e JOIN end_of_day_reporting p USING (process_id)
         WHERE p.report = $1 ORDER BY e.event_id`,
        [name],
      );
      const step = (status: string) =>
        (events.find((e) => e.status === status)?.facts.durationMs ?? Number.NaN) / 1000;
      reportBytes = events.find((e) => e.status === 'ROWS_CREATED')?.facts.bytes ?? 0;
      const fileName = `${name}_${DATE.replaceAll('-', '')}.csv`;
      const file = path.join(sftp.root, fileName);
      if ((await stat(file)).size !== reportBytes)
        throw new Error(`${name}: delivered file has the wrong size`);
      await rm(file);
      await s3Client.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: fileName }));
      return {
        wall: run.seconds,
        rows: step('ROWS_CREATED'),
        submit: step('REPORT_SUBMITTED'),
        archive: step('REPORT_ARCHIVED'),
        rssMiB: (run.maxRssKb ?? Number.NaN) / 1024,
        load: at,
      };
    };
    const runShell = async (label: string): Promise<ShellRun> => {
      const at = load();
      const script = await writeShellPipeline(shellTargets, label);
      const run = await timed('bash', [script.path], env);
      if (run.code !== 0) throw new Error(`shell pipeline failed (is the aws CLI installed?): ${run.output}`);
      if ((await stat(script.localFile)).size !== reportBytes && reportBytes > 0) {
        throw new Error('the shell pipeline wrote a file of another size than eod-report');
      }
      await rm(script.localFile);
      await rm(path.join(sftp.root, script.remoteName));
      await s3Client.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: script.objectKey }));
      return { wall: run.seconds, ...shellStepSeconds(run.output), load: at };
    };

    const eod: EodRun[] = [];
    const shell: ShellRun[] = [];
    console.log(`\n${'pair'.padEnd(5)}${'side'.padEnd(12)}${'whole'.padStart(9)}  steps`);
    for (let i = 0; i < pairs; i++) {
      const order = i % 2 === 0 ? ['eod', 'shell'] : ['shell', 'eod'];
      for (const side of order) {
        if (side === 'eod') {
          const r = await runEod(names[i] as string);
          eod.push(r);
          console.log(
            `${String(i + 1).padEnd(5)}${'eod-report'.padEnd(12)}${s(r.wall)}  rows ${s(r.rows)}  submit ${s(r.submit)}  archive ${s(r.archive)}  peak RSS ${r.rssMiB.toFixed(0)} MiB  (load ${r.load})`,
          );
        } else {
          const r = await runShell(`shell-${i + 1}`);
          shell.push(r);
          console.log(
            `${String(i + 1).padEnd(5)}${'shell'.padEnd(12)}${s(r.wall)}  psql ${s(r.psql)}  sftp   ${s(r.sftp)}  aws     ${s(r.aws)}  (load ${r.load})`,
          );
        }
      }
    }

    const m = {
      eod: median(eod.map((r) => r.wall)),
      rows: median(eod.map((r) => r.rows)),
      submit: median(eod.map((r) => r.submit)),
      archive: median(eod.map((r) => r.archive)),
      shell: median(shell.map((r) => r.wall)),
      psql: median(shell.map((r) => r.psql)),
      sftp: median(shell.map((r) => r.sftp)),
      aws: median(shell.map((r) => r.aws)),
    };
    const pairRatios = eod.map((r, i) => r.wall / (shell[i]?.wall ?? Number.NaN));
    const rate = (seconds: number) => `${(reportBytes / 1024 / 1024 / seconds).toFixed(0).padStart(4)} MiB/s`;
    const line = (name: string, ours: number, refName: string, ref: number) =>
      console.log(
        `${name.padEnd(24)}${s(ours)} ${rate(ours)}   ${refName.padEnd(16)}${s(ref)} ${rate(ref)}   ratio ${(ours / ref).toFixed(2)}`,
      );
    console.log(
      `\nreport: ${rows} rows, ${(reportBytes / 1024 / 1024).toFixed(1)} MiB; medians of ${pairs} alternated pairs\n`,
    );
    line('rows (render + store)', m.rows, 'psql \\copy', m.psql);
    line('submit (SFTP)', m.submit, 'sftp put', m.sftp);
    line('archive (S3)', m.archive, 'aws s3 cp', m.aws);
    line('whole `eod-report run`', m.eod, 'shell pipeline', m.shell);
    console.log(
      `\nend to end: ${(m.eod / m.shell).toFixed(2)}× the shell pipeline (per-pair ratios ${pairRatios.map((r) => r.toFixed(2)).join(', ')}; bar ≤ 0.85)`,
    );
    const rss = eod.map((r) => r.rssMiB);
    console.log(
      `peak RSS of \`eod-report run\`: max ${Math.max(...rss).toFixed(0)} MiB, median ${median(rss).toFixed(0)} MiB (bar ≤ 150)`,
    );
    console.log(
      'Steps may overlap (submit and archive upload at the same time), so their sum can exceed the whole run.\n' +
        'Shell times include each tool’s start-up (aws: ~1-2 s of Python). Load = 1-min load average at the start of each run (2 cores).',
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
