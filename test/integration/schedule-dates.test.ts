/**
 * Issue 8 items 8 and 10 against the real servers: the scheduler of `serve` under a fake clock
 * across a weekend with a business-day schedule (real runs, real files), and dates that left the
 * catch-up window incomplete: metric, one webhook per date across two instances, the status page,
 * and `run --date` filling one.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { readdir } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setImmediate, setTimeout as sleep } from 'node:timers/promises';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { noFailpoints } from '../../src/app/failpoints.js';
import { createApp } from '../../src/app/wiring.js';
import { loadConfig } from '../../src/config/load.js';
import { addDays } from '../../src/core/report-date.js';
import type { Clock } from '../../src/ports.js';
import { createAlertSender } from '../../src/service/alerts.js';
import { runScheduler } from '../../src/service/scheduler.js';
import { CLI, createFixture, type Fixture, runCli, TRANSACTIONS_DDL } from '../helpers/fixture.js';

async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 90_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(250);
  }
}

describe('schedules decide dates (issue 8 items 8 and 10)', () => {
  let fx: Fixture;

  beforeAll(async () => {
    fx = await createFixture('schedule-dates');
    await fx.pool.query(TRANSACTIONS_DDL);
  });
  afterAll(async () => {
    await fx?.close();
  });

  const processDates = async (report: string) =>
    (
      await fx.pool.query<{ date: string }>(
        'SELECT date::text AS date FROM end_of_day_reporting WHERE report = $1 ORDER BY date',
        [report],
      )
    ).rows.map((r) => r.date);

  it('item 8: serve\'s scheduler with "0 0 * * 2-6" under a fake clock from Friday to Tuesday runs Mon-Fri dates only', async () => {
    const file = await fx.writeConfig({
      report: {
        name: 'eod-weekdays',
        schedule: '0 0 * * 2-6',
        timezone: 'Europe/London',
        catchUpDays: 3,
        startDate: '2026-11-18',
      },
    });
    const loaded = await loadConfig({ path: file, env: fx.env });
    // In this process the S3 client reads its credentials from process.env, as in production.
    const saved = { ...process.env };
    for (const key of [
      'AWS_ACCESS_KEY_ID',
      'AWS_SECRET_ACCESS_KEY',
      'AWS_REGION',
      'AWS_EC2_METADATA_DISABLED',
    ])
      process.env[key] = fx.env[key];
    const logLines: string[] = [];
    const logger = pino({ level: 'info' }, { write: (line: string) => logLines.push(line) });
    const app = createApp(loaded, { logger, failpoint: noFailpoints, instanceId: 'fake-clock' });
    // Friday 2026-11-20 00:00:05 in London; every sleep moves the fake clock on at once.
    let now = Date.parse('2026-11-20T00:00:05Z');
    const end = Date.parse('2026-11-24T00:30:00Z');
    const stop = new AbortController();
    const clock: Clock = {
      now: () => new Date(now),
      sleep: async (ms, signal) => {
        signal?.throwIfAborted();
        now += ms;
        if (now > end) stop.abort();
        await setImmediate();
      },
    };
    try {
      await runScheduler({
        deps: { ...app.deps, clock },
        reports: loaded.config.reports,
        history: app.history,
        logger,
        alerts: createAlertSender({ pool: app.pool, instanceId: 'fake-clock', logger }),
        heartbeat: () => undefined,
        retryFailed: { initialDelayMs: 60_000, maxDelayMs: 60_000 },
        stop: stop.signal,
        interrupt: new AbortController().signal,
        concurrency: 1,
        maxSleepMs: 6 * 3600_000,
      });
    } finally {
      await app.close();
      for (const key of [
        'AWS_ACCESS_KEY_ID',
        'AWS_SECRET_ACCESS_KEY',
        'AWS_REGION',
        'AWS_EC2_METADATA_DISABLED',
      ]) {
        if (saved[key] === undefined) delete process.env[key];
        else process.env[key] = saved[key];
      }
    }
    // Wed, Thu (the window at Friday 00:00 from startDate), Fri (Saturday's tick), Mon (Tuesday's).
    expect(await processDates('eod-weekdays'), logLines.join('').slice(-3000)).toEqual([
      '2026-11-18',
      '2026-11-19',
      '2026-11-20',
      '2026-11-23',
    ]);
    const { rows } = await fx.pool.query<{ date: string }>(
      `SELECT p.date::text AS date FROM end_of_day_reporting p JOIN end_of_day_reporting_event e USING (process_id)
       WHERE p.report = 'eod-weekdays' AND e.status = 'REPORT_ARCHIVED' ORDER BY 1`,
    );
    expect(rows.map((r) => r.date)).toEqual(['2026-11-18', '2026-11-19', '2026-11-20', '2026-11-23']);
    const files = (await readdir(fx.sftpDir)).filter((f) => f.startsWith('eod_202611'));
    expect(files.sort()).toEqual([
      'eod_20261118.csv',
      'eod_20261119.csv',
      'eod_20261120.csv',
      'eod_20261123.csv',
    ]);
  }, 120_000);

  describe('item 10: missing dates', () => {
    let receiver: Server;
    let receiverUrl: string;
    const hooks: string[] = [];
    const children: ChildProcess[] = [];

    beforeAll(async () => {
      receiver = createServer((req, res) => {
        let body = '';
        req.on('data', (d: Buffer) => {
          body += d.toString();
        });
        req.on('end', () => {
          hooks.push(JSON.parse(body).text as string);
          res.writeHead(200).end('ok');
        });
      });
      await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
      receiverUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;
    });
    afterAll(async () => {
      for (const child of children) child.kill('SIGKILL');
      await new Promise<void>((resolve) => receiver?.close(() => resolve()));
    });

    it('are counted in eod_report_missing_dates, alerted once per date across instances, listed on the status page, and filled by run --date', async () => {
      const { rows } = await fx.pool.query<{ date: string }>(
        "SELECT ((now() AT TIME ZONE 'UTC')::date - 1)::text AS date",
      );
      const newest = rows[0]?.date as string;
      const config = await fx.writeConfig({
        top: { monitoring: { port: 0, alertWebhookUrl: receiverUrl } },
        report: { name: 'eod-gaps', timezone: 'UTC', catchUpDays: 1 },
      });
      // The report's first date, six days back; then everything stopped.
      const first = addDays(newest, -6);
      const ran = await runCli(['run', '--config', config, '--date', first], fx.env);
      expect(ran.code, ran.stdout + ran.stderr).toBe(0);
      const missing = [5, 4, 3, 2].map((back) => addDays(newest, -back));

      const urls: Promise<string>[] = [];
      for (const id of ['gaps-a', 'gaps-b']) {
        const child = spawn(process.execPath, [CLI, 'serve', '--config', config], {
          env: { ...fx.env, EOD_INSTANCE_ID: id },
          stdio: ['ignore', 'pipe', 'pipe'],
        });
        children.push(child);
        let out = '';
        urls.push(
          new Promise((resolve) =>
            child.stdout?.on('data', (d: Buffer) => {
              out += d.toString();
              const match = /status page (http:\/\/\S+?)\/?$/m.exec(out);
              if (match?.[1]) resolve(match[1]);
            }),
          ),
        );
      }
      const [a, b] = await Promise.all(urls);
      const gauge = async (url: string) => {
        const text = await (await fetch(`${url}/metrics`)).text();
        const value = /^eod_report_missing_dates\{report="eod-gaps"\} (\S+)$/m.exec(text)?.[1];
        return value === undefined ? undefined : Number(value);
      };
      // The window (newest and one before it) is run by serve; the four dates before it are missing.
      await waitFor('the window to complete', async () =>
        (await processDates('eod-gaps')).includes(newest) ? true : undefined,
      );
      expect(await gauge(a as string)).toBe(4);
      expect(await gauge(b as string)).toBe(4);
      await waitFor('four webhooks', async () =>
        hooks.filter((h) => h.includes('is missing')).length >= 4 ? true : undefined,
      );
      await sleep(3000); // both instances loop several times more: still one webhook per date
      const missingHooks = hooks.filter((h) => h.includes('is missing'));
      expect(missingHooks).toHaveLength(4);
      // Two instances claim dates concurrently: the webhooks may arrive in any order.
      for (const date of missing) {
        const forDate = missingHooks.filter((h) => h.includes(`*eod-gaps* for ${date} is missing`));
        expect(forDate).toHaveLength(1);
        expect(forDate[0]).toContain(`eod-report run --report eod-gaps --date ${date}`);
      }
      const page = await (await fetch(`${a}/`)).text();
      const line = /<li class="missing" data-missing="eod-gaps">[\s\S]*?<\/li>/.exec(page)?.[0] ?? '';
      expect(line).toContain('4 missing');
      expect(line).toContain(missing.join(', '));
      const runs = (await (await fetch(`${b}/api/runs`)).json()) as {
        reports: { name: string; missingDates: string[] }[];
      };
      expect(runs.reports.find((r) => r.name === 'eod-gaps')?.missingDates).toEqual(missing);
      // The operator fills one: it is no longer missing.
      const filled = await runCli(['run', '--config', config, '--date', missing[1] as string], fx.env);
      expect(filled.code, filled.stdout + filled.stderr).toBe(0);
      expect(await gauge(a as string)).toBe(3);
    }, 150_000);
  });
});
