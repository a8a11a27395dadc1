/**
 * Issue 8 items 5, 6, 7, 10, 11, 12 against the real servers, the CLI as a child process:
 * only finished days by database time (also with a host clock days fast, libfaketime), a fast host
 * clock does not capture a day before it ends, first start, missing dates, and config texts
 * refused before anything is recorded.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addDays } from '../../src/core/report-date.js';
import { CLI, type CliResult, createFixture, type Fixture, TRANSACTIONS_DDL } from '../helpers/fixture.js';

const LIBFAKETIME = '/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1';

/**
 * Starts the CLI as a child process; with `fake` (e.g. "+10m") under libfaketime, preloaded into
 * node itself (not through the `faketime` wrapper, which would stand between us and the signals),
 * so the child's host clock is off while the database's is not.
 */
function start(args: string[], env: NodeJS.ProcessEnv, fake?: string): ChildProcess {
  if (fake && !existsSync(LIBFAKETIME))
    throw new Error(`${LIBFAKETIME} is missing: install the Debian package faketime (libfaketime)`);
  const childEnv = fake ? { ...env, LD_PRELOAD: LIBFAKETIME, FAKETIME: fake } : env;
  return spawn(process.execPath, [CLI, ...args], { env: childEnv, stdio: ['ignore', 'pipe', 'pipe'] });
}

function cli(args: string[], env: NodeJS.ProcessEnv, fake?: string): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = start(args, env, fake);
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (d: Buffer) => {
      stdout += d.toString();
    });
    child.stderr?.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

interface Serve {
  stdout: string;
  stderr: string;
  url: Promise<string>;
  stop(): Promise<void>;
}

function serve(config: string, env: NodeJS.ProcessEnv, fake?: string): Serve {
  const child = start(['serve', '--config', config], env, fake);
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  const s: Serve = {
    stdout: '',
    stderr: '',
    url: new Promise((resolve, reject) => {
      child.stdout?.on('data', (d: Buffer) => {
        s.stdout += d.toString();
        const match = /status page (http:\/\/\S+?)\/?$/m.exec(s.stdout);
        if (match?.[1]) resolve(match[1]);
      });
      child.on('exit', () => reject(new Error(`serve exited early: ${s.stderr.slice(-2000)}`)));
    }),
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const killer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      await exited;
      clearTimeout(killer);
    },
  };
  child.stderr?.on('data', (d: Buffer) => {
    s.stderr += d.toString();
  });
  s.url.catch(() => undefined);
  return s;
}

async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 90_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(250);
  }
}

/** A fixed-offset zone in which the database's time of day is near noon, and its date there. */
async function noonZone(fx: Fixture): Promise<{ zone: string; today: string }> {
  const { rows } = await fx.pool.query<{ hour: number }>(
    `SELECT extract(hour FROM now() AT TIME ZONE 'UTC')::int AS hour`,
  );
  const shift = 12 - (rows[0]?.hour ?? 12); // -11 … 12
  // POSIX-style names: Etc/GMT-5 is UTC+5.
  const zone = shift === 0 ? 'Etc/UTC' : `Etc/GMT${shift > 0 ? '-' : '+'}${Math.abs(shift)}`;
  const { rows: today } = await fx.pool.query<{ date: string }>(
    'SELECT (now() AT TIME ZONE $1)::date::text AS date',
    [zone],
  );
  return { zone, today: today[0]?.date as string };
}

describe('dates and time (issue 8 items 5, 6, 7, 10, 11, 12)', () => {
  let fx: Fixture;

  beforeAll(async () => {
    fx = await createFixture('dates');
    await fx.pool.query(TRANSACTIONS_DDL);
  });
  afterAll(async () => {
    await fx?.close();
  });

  const recorded = async (report: string) => {
    const { rows } = await fx.pool.query(
      `SELECT p.date::text AS date, count(e.event_id)::int AS events
       FROM end_of_day_reporting p LEFT JOIN end_of_day_reporting_event e USING (process_id)
       WHERE p.report = $1 GROUP BY 1 ORDER BY 1`,
      [report],
    );
    return rows as { date: string; events: number }[];
  };

  it('item 5: run --date for today or tomorrow is refused (exit 2) and nothing is recorded, even with the host clock two days fast', async () => {
    const { zone, today } = await noonZone(fx);
    const config = await fx.writeConfig({ report: { name: 'eod-unfinished', timezone: zone } });
    for (const [date, fake] of [
      [today, undefined],
      [addDays(today, 1), undefined],
      // The host believes today ended two days ago; the database says it has not.
      [today, '+2d'],
    ] as const) {
      const result = await cli(['run', '--config', config, '--date', date], fx.env, fake);
      expect(result.code, `${date} ${fake ?? ''}: ${result.stdout}${result.stderr}`).toBe(2);
      expect(result.stderr).toContain(
        `--date ${date}: report eod-unfinished's day ${date} has not ended yet`,
      );
      expect(result.stderr).toContain('database time is');
    }
    expect(await recorded('eod-unfinished')).toEqual([]);
    const { rows } = await fx.pool.query('SELECT count(*)::int AS n FROM end_of_day_reporting_event');
    expect(rows[0]?.n).toBe(0);
    expect((await readdir(fx.sftpDir)).filter((f) => f.includes(today.replaceAll('-', '')))).toEqual([]);
  });

  it('item 11/12: a query without $1 or a bad template is refused by run and check (exit 2, naming the key); nothing recorded', async () => {
    const noDate = await fx.writeConfig({
      report: {
        name: 'eod-nodate',
        query: 'SELECT id FROM transactions WHERE booked_on = current_date - 1 ORDER BY id',
      },
    });
    const badName = await fx.writeConfig({
      report: { name: 'eod-badname', fileName: 'eod_{YYYY}{MM}{dd}.csv' },
    });
    const badPrefix = await fx.writeConfig({
      report: { name: 'eod-badprefix', s3: { ...(fx.baseReport().s3 as object), prefix: 'eod/{unknown}/' } },
    });
    for (const [config, key] of [
      [noDate, 'reports[0].query: does not use $1'],
      [badName, 'reports[0].fileName: "eod_{YYYY}{MM}{dd}.csv" has an unknown placeholder {YYYY}'],
      [badPrefix, 'reports[0].s3.prefix: "eod/{unknown}/" has an unknown placeholder {unknown}'],
    ] as const) {
      for (const command of [['run', '--date', '2026-11-25'], ['check']]) {
        const result = await cli([...command, '--config', config], fx.env);
        expect(result.code, result.stdout + result.stderr).toBe(2);
        expect(result.stderr).toContain(key);
      }
    }
    const { rows } = await fx.pool.query('SELECT count(*)::int AS n FROM end_of_day_reporting');
    expect(rows[0]?.n).toBe(0);
  });

  it('item 6: an instance whose host clock is 10 min fast does not capture a day before it ends by database time; skew is a metric and a warning', async () => {
    // A same-day report whose business day closes (its only tick) 25 s from now by database time:
    // by the fast host clock it closed 9.5 min ago.
    const { rows } = await fx.pool.query<{ tick: Date }>(
      `SELECT date_trunc('second', now()) + interval '25 seconds' AS tick`,
    );
    const tick = rows[0]?.tick as Date;
    const date = tick.toISOString().slice(0, 10);
    const [, hh, mm, ss] = /T(\d\d):(\d\d):(\d\d)/.exec(tick.toISOString()) as RegExpExecArray;
    const schedule = `${Number(ss)} ${Number(mm)} ${Number(hh)} ${tick.getUTCDate()} ${tick.getUTCMonth() + 1} *`;
    const config = await fx.writeConfig({
      top: {
        monitoring: { port: 0 },
        lock: { strategy: 'lease', atMostFor: '1m', atLeastFor: '0s' },
        serve: { shutdownGrace: '1s' },
      },
      report: { name: 'eod-fast-host', timezone: 'UTC', schedule, reportDate: 'same-day', startDate: date },
    });
    const instance = serve(config, { ...fx.env, EOD_INSTANCE_ID: 'fast-host' }, '+10m');
    try {
      const url = await instance.url;
      const metrics = await (await fetch(`${url}/metrics`, { signal: AbortSignal.timeout(10000) })).text();
      const skew = Number(/^eod_report_clock_skew_seconds (\S+)$/m.exec(metrics)?.[1]);
      expect(skew).toBeGreaterThan(590);
      expect(skew).toBeLessThan(610);
      expect(instance.stderr).toMatch(/"event":"clock.skew".*ahead of the database clock/);
      // Until the tick by database time, nothing is captured. The instance reads database time
      // with the uncertainty of one round trip (ms), hence the 1 s allowance; the host is 600 s off.
      // One statement: the clock reading and the rows are of the same moment.
      for (;;) {
        const { rows: probe } = await fx.pool.query<{ before: boolean; processes: number }>(
          `SELECT now() < $1::timestamptz - interval '1 second' AS before,
                  (SELECT count(*)::int FROM end_of_day_reporting WHERE report = 'eod-fast-host') AS processes`,
          [tick],
        );
        if (!probe[0]?.before) break;
        expect(probe[0]?.processes, `captured before its end: ${instance.stderr.slice(-2000)}`).toBe(0);
        await sleep(500);
      }
      await waitFor(
        'the day to be captured after its end',
        async () => ((await recorded('eod-fast-host')).length > 0 ? true : undefined),
        40_000,
      ).catch((error: Error) => {
        throw new Error(`${error.message}; serve stderr: ${instance.stderr.slice(-3000)}`);
      });
      const { rows: first } = await fx.pool.query<{ at: Date; date: string }>(
        `SELECT min(e.created_at) AS at, min(p.date)::text AS date
         FROM end_of_day_reporting p JOIN end_of_day_reporting_event e USING (process_id)
         WHERE p.report = 'eod-fast-host'`,
      );
      expect(first[0]?.date).toBe(date);
      expect(first[0]?.at?.getTime()).toBeGreaterThanOrEqual(tick.getTime() - 1000);
    } finally {
      await instance.stop();
    }
  }, 120_000);

  it('item 7: a first start without startDate runs only the newest due date and says so', async () => {
    const config = await fx.writeConfig({
      top: { monitoring: { port: 0 } },
      report: { name: 'eod-first', timezone: 'UTC', schedule: '*/2 * * * * *', catchUpDays: 3 },
    });
    const instance = serve(config, { ...fx.env, EOD_INSTANCE_ID: 'first' });
    try {
      await instance.url;
      const runs = await waitFor('the newest date to complete', async () => {
        const r = await recorded('eod-first');
        return r.some((d) => d.events >= 4) ? r : undefined;
      });
      await sleep(3000); // several more ticks: still nothing older
      const { rows } = await fx.pool.query<{ date: string }>(
        "SELECT ((now() AT TIME ZONE 'UTC')::date - 1)::text AS date",
      );
      expect((await recorded('eod-first')).map((d) => d.date)).toEqual([rows[0]?.date]);
      expect(runs.map((d) => d.date)).toEqual([rows[0]?.date]);
      expect(instance.stderr).toContain(
        `eod-first: no process recorded yet and no startDate: running only its newest due date ${rows[0]?.date}`,
      );
    } finally {
      await instance.stop();
    }
  });
});
