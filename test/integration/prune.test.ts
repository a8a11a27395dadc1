/**
 * Retention: `prune` (and `serve`, daily) drops the captures of archived days older than
 * retention.capturedDays; events and proof stay, and `verify` still proves the day from S3.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI, createFixture, type Fixture, runCli, TRANSACTIONS_DDL } from '../helpers/fixture.js';

const OLD = ['2024-01-02', '2024-01-03'];
const OLD_FOR_SERVE = '2024-01-04';
const NOT_ARCHIVED = '2024-01-05';

describe('eod-report prune and retention.capturedDays (real PostgreSQL, OpenSSH sshd, s3rver)', () => {
  let fx: Fixture;
  let config: string;
  let recent: string;

  const processOf = async (date: string) =>
    (
      await fx.pool.query<{ process_id: string; capture_dropped_at: Date | null }>(
        'SELECT process_id, capture_dropped_at FROM end_of_day_reporting WHERE date = $1::date',
        [date],
      )
    ).rows[0];
  /** Whether the stored capture of a date is still there (its chunks of rendered CSV). */
  const captureExists = async (date: string) => {
    const id = (await processOf(date))?.process_id;
    const { rows } = await fx.pool.query<{ chunks: number }>(
      'SELECT count(*)::int AS chunks FROM end_of_day_reporting_content WHERE process_id = $1',
      [id],
    );
    return (rows[0]?.chunks ?? 0) > 0;
  };
  const eventCount = async () =>
    Number((await fx.pool.query('SELECT count(*) AS n FROM end_of_day_reporting_event')).rows[0].n);

  beforeAll(async () => {
    fx = await createFixture('prune');
    await fx.pool.query(TRANSACTIONS_DDL);
    recent = (await fx.pool.query<{ d: string }>('SELECT (current_date - 3)::text AS d')).rows[0]
      ?.d as string;
    let id = 0;
    for (const date of [...OLD, OLD_FOR_SERVE, NOT_ARCHIVED, recent]) {
      for (let i = 0; i < 20; i++) {
        await fx.pool.query(
          `INSERT INTO transactions VALUES ($1, $2::date, $2::date + interval '10 hours', $3, $4)`,
          [++id, date, `tx ${id}`, '1.0000'],
        );
      }
    }
    config = await fx.writeConfig({ top: { retention: { capturedDays: 35 } } });
    for (const date of [...OLD, recent]) {
      const run = await runCli(['run', '--config', config, '--date', date], fx.env);
      expect(run.code, run.stderr).toBe(0);
    }
    const failed = await runCli(['run', '--config', config, '--date', NOT_ARCHIVED], {
      ...fx.env,
      EOD_FAILPOINT: 'archive.before-put:throw',
    });
    expect(failed.code, failed.stderr).toBe(1);
  }, 180_000);
  afterAll(async () => {
    await fx?.close();
  });

  it('--dry-run lists the archived days older than the retention and drops nothing', async () => {
    const result = await runCli(['prune', '--config', config, '--dry-run'], fx.env);
    expect(result.code, result.stderr).toBe(0);
    const lines = result.stdout.trim().split('\n');
    expect(lines.slice(0, -1).map((l) => l.split(':')[0])).toEqual(OLD.map((d) => `eod-tx ${d}`));
    expect(lines.at(-1)).toBe(
      'would drop the captures of 2 archived day(s) older than 35 days (retention.capturedDays); events and proof are kept',
    );
    for (const date of OLD) expect(await captureExists(date)).toBe(true);
  });

  it('drops the captures of archived days older than the retention, keeping every event and proof; recent and unarchived days keep theirs', async () => {
    const before = await eventCount();
    const result = await runCli(['prune', '--config', config], fx.env);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain('dropped the captures of 2 archived day(s) older than 35 days');

    for (const date of OLD) {
      expect(await captureExists(date)).toBe(false);
      expect((await processOf(date))?.capture_dropped_at).toBeInstanceOf(Date);
    }
    expect(await captureExists(recent)).toBe(true);
    expect(await captureExists(NOT_ARCHIVED)).toBe(true);
    expect(await eventCount()).toBe(before);
    const status = await runCli(['status', '--config', config, '--date', OLD[0] as string, '--json'], fx.env);
    const [timeline] = JSON.parse(status.stdout);
    expect(timeline.events.map((e: { status: string }) => e.status)).toEqual([
      'STARTED',
      'ROWS_CREATED',
      'REPORT_SUBMITTED',
      'REPORT_ARCHIVED',
    ]);

    const again = await runCli(['prune', '--config', config], fx.env);
    expect(again.stdout).toContain('dropped the captures of 0 archived day(s)');
  });

  it('verify still proves a pruned day from S3 (and the regulator), and run finds it complete', async () => {
    for (const date of OLD) {
      const result = await runCli(['verify', '--config', config, '--date', date], fx.env);
      expect(result.code, result.stdout + result.stderr).toBe(0);
      expect(result.stdout).toMatch(
        new RegExp(`^eod-tx ${date} OK: 20 rows, .*: matches; archived .*: matches$`, 'm'),
      );
    }
    const rerun = await runCli(['run', '--config', config, '--date', OLD[0] as string], fx.env);
    expect(rerun.code).toBe(0);
    expect(rerun.stdout).toContain('already complete');
  });

  it('serve prunes at start', async () => {
    const run = await runCli(['run', '--config', config, '--date', OLD_FOR_SERVE], fx.env);
    expect(run.code, run.stderr).toBe(0);
    expect(await captureExists(OLD_FOR_SERVE)).toBe(true);
    const serveConfig = await fx.writeConfig({
      top: { retention: { capturedDays: 35 }, monitoring: { port: 0 } },
    });
    const child: ChildProcess = spawn(process.execPath, [CLI, 'serve', '--config', serveConfig], {
      env: fx.env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr?.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
    try {
      const deadline = Date.now() + 60_000;
      while (!/"event":"prune.done"/.test(stderr) && Date.now() < deadline) await sleep(200);
      expect(stderr).toMatch(/"event":"prune.done","dropped":1,"capturedDays":35/);
      expect(await captureExists(OLD_FOR_SERVE)).toBe(false);
      expect(await captureExists(recent)).toBe(true);
    } finally {
      child.kill('SIGTERM');
    }
    expect(await exited).toBe(0);
  });
});
