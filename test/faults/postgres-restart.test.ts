/**
 * Issue 9, fault 1: PostgreSQL restarts (fast shutdown, then start) under a running `run` and
 * `serve`, on a server of this file's own so other test files are not disturbed. The process must
 * survive, record the failure once the database is back, retry, complete the day with the
 * invariants, and give its lease up instead of leaving it to lapse.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type EmbeddedPostgres, startEmbeddedPostgres } from '../../src/embedded/postgres.js';
import { createFixture, type Fixture, TRANSACTIONS_DDL } from '../helpers/fixture.js';
import { expectInvariants, fixtureNames } from '../helpers/invariants.js';
import { startCli, waitFor } from '../helpers/watched-cli.js';

const QUERY =
  'SELECT id, booked_at, description, amount FROM transactions WHERE booked_on = $1::date ORDER BY id';
/** The same rows, after five seconds inside the capture statement. */
const SLOW_QUERY = `WITH pause AS MATERIALIZED (SELECT pg_sleep(5))
  SELECT t.id, t.booked_at, t.description, t.amount FROM transactions t CROSS JOIN pause
  WHERE t.booked_on = $1::date ORDER BY t.id`;

const names = (report: string, date: string) => fixtureNames(date, report);

describe('PostgreSQL restart (fault 1)', () => {
  let baseDir: string;
  let postgres: EmbeddedPostgres;
  let fx: Fixture;

  beforeAll(async () => {
    baseDir = await mkdtemp(path.join(tmpdir(), 'eod-pg-restart-'));
    const { chmod } = await import('node:fs/promises');
    await chmod(baseDir, 0o755);
    postgres = await startEmbeddedPostgres({ baseDir });
    fx = await createFixture('pgrestart', { pgAdminUrl: postgres.url });
    await fx.pool.query(TRANSACTIONS_DDL);
    // 2026-06-01..03: small days; 2026-06-10: ~30 MB, so its render is still open mid-upload.
    await fx.pool.query(
      `INSERT INTO transactions
       SELECT d * 1000000 + g, day, day + g * interval '1 second', 'row ' || g, g / 7.0
       FROM generate_series(1, 3) AS d, LATERAL (SELECT ('2026-06-01'::date + d - 1) AS day) AS days,
            generate_series(1, 2000) AS g`,
    );
    await fx.pool.query(
      `INSERT INTO transactions
       SELECT 90000000 + g, '2026-06-10', '2026-06-10'::date + g * interval '1 second',
              repeat('y', 60) || ' ' || g, g / 3.0
       FROM generate_series(1, 300000) AS g`,
    );
  });
  afterAll(async () => {
    await fx?.close().catch(() => undefined);
    await postgres?.stop();
    if (baseDir) await rm(baseDir, { recursive: true, force: true });
  });

  const top = {
    lock: { strategy: 'lease', atMostFor: '60s', atLeastFor: '0s', renewEvery: '1s' },
    retry: { attempts: 3, initialDelay: '200ms', maxDelay: '1s' },
  };

  const eventsOf = async (report: string, date: string) =>
    (
      await fx.pool.query<{ status: string; failure_details: string | null }>(
        `SELECT e.status, e.failure_details FROM end_of_day_reporting p
         JOIN end_of_day_reporting_event e USING (process_id)
         WHERE p.report = $1 AND p.date = $2::date ORDER BY e.event_id`,
        [report, date],
      )
    ).rows;

  const leaseIsFree = async (report: string) =>
    (
      await fx.pool.query<{ free: boolean }>(
        'SELECT lock_until <= now() AS free FROM shedlock WHERE name = $1',
        [`eod-report:${report}`],
      )
    ).rows[0]?.free;

  const captureRunning = async () =>
    (
      await fx.pool.query(
        `SELECT 1 FROM pg_stat_activity
         WHERE state = 'active' AND query LIKE '%pg_sleep(5)%' AND pid <> pg_backend_pid()`,
      )
    ).rowCount
      ? true
      : undefined;

  it('restart one second into a 5 s capture: run survives, records ROWS_CREATION_FAILURE, retries, completes, frees its lease', async () => {
    const date = '2026-06-01';
    const config = await fx.writeConfig({ top, report: { query: SLOW_QUERY } });
    const run = startCli(['run', '--config', config, '--date', date], { ...fx.env, EOD_INSTANCE_ID: 'pg-a' });
    await waitFor('the capture statement to run', captureRunning);
    await sleep(1000);
    await postgres.restart();
    const exit = await run.exit;
    expect(exit, run.stderr.slice(-3000)).toEqual({ code: 0, signal: null });

    await expectInvariants(fx, names('eod-tx', date));
    const failures = (await eventsOf('eod-tx', date)).filter((e) => e.status === 'ROWS_CREATION_FAILURE');
    expect(failures.length).toBeGreaterThanOrEqual(1);
    expect(failures[0]?.failure_details).toMatch(/terminat|PostgreSQL unavailable/i);
    expect(await leaseIsFree('eod-tx'), 'the lease is given up, not left to lapse').toBe(true);
  });

  it('restart during the upload: the open render fails the submit, which is recorded and retried', async () => {
    const date = '2026-06-10';
    const config = await fx.writeConfig({ top, report: { query: QUERY } });
    const run = startCli(['run', '--config', config, '--date', date], {
      ...fx.env,
      EOD_INSTANCE_ID: 'pg-b',
      EOD_FAILPOINT: 'sftp.mid-upload:sleep2000',
    });
    await run.output(/failpoint sftp\.mid-upload reached/);
    await postgres.restart();
    const exit = await run.exit;
    expect(exit, run.stderr.slice(-3000)).toEqual({ code: 0, signal: null });

    await expectInvariants(fx, names('eod-tx', date));
    // The render feeds the capture and the upload at once: the cut shows as the failure of the
    // step that was running then.
    const failures = (await eventsOf('eod-tx', date)).filter((e) =>
      ['ROWS_CREATION_FAILURE', 'REPORT_SUBMISSION_FAILURE'].includes(e.status),
    );
    expect(failures.length, 'the interrupted upload is on record').toBeGreaterThanOrEqual(1);
    expect(await leaseIsFree('eod-tx')).toBe(true);
  });

  it('restart under serve: serve keeps running, the day completes, /healthz recovers, SIGTERM exits 0', async () => {
    const report = 'eod-served';
    const today = new Date().toISOString().slice(0, 10);
    const date = new Date(Date.parse(`${today}T00:00:00Z`) - 86_400_000).toISOString().slice(0, 10);
    await fx.pool.query(
      `INSERT INTO transactions SELECT 80000000 + g, $1::date, $1::date + g * interval '1 minute', 'served ' || g, g
       FROM generate_series(1, 500) AS g`,
      [date],
    );
    const config = await fx.writeConfig({
      top: { ...top, monitoring: { port: 0 }, serve: { shutdownGrace: '2s', retryFailedAfter: '1s' } },
      report: { name: report, schedule: '*/2 * * * * *', timezone: 'UTC', catchUpDays: 0, query: SLOW_QUERY },
    });
    const serve = startCli(['serve', '--config', config], { ...fx.env, EOD_INSTANCE_ID: 'pg-serve' });
    try {
      const url = (await serve.output(/status page (http:\/\/\S+?)\/?$/m))[1];
      await waitFor('the capture statement to run', captureRunning);
      await sleep(1000);
      await postgres.restart();
      await waitFor(
        'the day to be archived',
        async () =>
          (await eventsOf(report, date)).some((e) => e.status === 'REPORT_ARCHIVED') ? true : undefined,
        90_000,
      );
      expect(serve.child.exitCode, serve.stderr.slice(-3000)).toBeNull();
      const health = await waitFor('/healthz 200', async () => {
        const response = await fetch(`${url}/healthz`);
        return response.status === 200 ? response.status : undefined;
      });
      expect(health).toBe(200);
      const events = await eventsOf(report, date);
      expect(events.some((e) => e.status === 'ROWS_CREATION_FAILURE')).toBe(true);
      await expectInvariants(fx, { ...names(report, date) });
    } finally {
      serve.child.kill('SIGTERM');
    }
    expect(await serve.exit).toEqual({ code: 0, signal: null });
  });
});
