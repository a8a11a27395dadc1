/**
 * `eod-report serve` as real child processes: three instances against one database, a schedule
 * firing every two seconds, two reports with missing days to catch up, one instance killed with
 * SIGKILL mid-run, a failing report that must alert once, and a graceful SIGTERM during an upload.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import { addDays } from '../../src/core/report-date.js';
import { CLI, createFixture, type Fixture, TRANSACTIONS_DDL } from '../helpers/fixture.js';
import { expectInvariants } from '../helpers/invariants.js';

const QUERY =
  'SELECT id, booked_at, description, amount FROM transactions WHERE booked_on = $1::date ORDER BY id';
const WEBHOOK_TOKEN = 'T0KEN-do-not-log-9f8e7d';

interface Instance {
  child: ChildProcess;
  stdout: string;
  stderr: string;
  url: Promise<string>;
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

function startServe(config: string, env: NodeJS.ProcessEnv): Instance {
  const child = spawn(process.execPath, [CLI, 'serve', '--config', config], {
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const instance: Instance = {
    child,
    stdout: '',
    stderr: '',
    url: new Promise((resolve, reject) => {
      child.stdout?.on('data', (d: Buffer) => {
        instance.stdout += d.toString();
        const match = /status page (http:\/\/\S+?)\/?$/m.exec(instance.stdout);
        if (match?.[1]) resolve(match[1]);
      });
      child.on('close', () => reject(new Error(`serve exited early: ${instance.stderr.slice(-2000)}`)));
    }),
    exit: new Promise((resolve) => child.on('close', (code, signal) => resolve({ code, signal }))),
  };
  child.stderr?.on('data', (d: Buffer) => {
    instance.stderr += d.toString();
  });
  instance.url.catch(() => undefined);
  return instance;
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

describe('eod-report serve', () => {
  let fx: Fixture;
  let receiver: Server;
  let receiverUrl: string;
  const received: { path: string; body: string }[] = [];
  const instances: Instance[] = [];
  const today = new Date().toISOString().slice(0, 10);
  const newest = addDays(today, -1);
  const dates = [3, 2, 1, 0].map((back) => addDays(newest, -back));

  beforeAll(async () => {
    fx = await createFixture('serve');
    await fx.pool.query(TRANSACTIONS_DDL);
    // About 3 MB a day, so that uploads take a moment and the kill lands mid-upload.
    await fx.pool.query(
      `INSERT INTO transactions
       SELECT d * 100000 + g, day, day + g * interval '3 seconds', repeat('z', 40) || ' ' || g, g / 3.0
       FROM generate_series(0, 4) AS d, LATERAL (SELECT ($1::date - d) AS day) AS days, generate_series(1, 30000) AS g`,
      [newest],
    );
    receiver = createServer((req, res) => {
      let body = '';
      req.on('data', (d: Buffer) => {
        body += d.toString();
      });
      req.on('end', () => {
        received.push({ path: req.url ?? '', body });
        res.writeHead(200).end('ok');
      });
    });
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    receiverUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    for (const i of instances) i.child.kill('SIGKILL');
    await Promise.all(instances.map((i) => i.exit));
    await new Promise<void>((resolve) => receiver?.close(() => resolve()));
    await fx?.close();
  });

  const reportsConfig = () => {
    const base = fx.baseReport();
    // startDate: a report with no process yet would otherwise run only its newest date.
    const common = {
      ...base,
      schedule: '*/2 * * * * *',
      timezone: 'UTC',
      catchUpDays: 3,
      startDate: dates[0],
      query: QUERY,
    };
    return [
      { ...common, name: 'eod-alpha', fileName: '{report}_{yyyy}{MM}{dd}.csv' },
      { ...common, name: 'eod-beta', fileName: '{report}_{yyyy}{MM}{dd}.csv' },
      {
        ...common,
        name: 'eod-broken',
        fileName: '{report}_{yyyy}{MM}{dd}.csv',
        query: 'SELECT no_such_column FROM transactions WHERE booked_on = $1::date',
        deadline: '00:00',
      },
    ];
  };

  const completed = async () => {
    const { rows } = await fx.pool.query(
      `SELECT p.report, p.date::text AS date, count(*) FILTER (WHERE e.status = 'REPORT_ARCHIVED') AS archived
       FROM end_of_day_reporting p JOIN end_of_day_reporting_event e USING (process_id)
       WHERE p.report IN ('eod-alpha', 'eod-beta') GROUP BY 1, 2`,
    );
    return rows.filter((r) => Number(r.archived) === 1).length;
  };

  it('three instances complete every (report, date) exactly once, spread over instances, after one is killed mid-run', async () => {
    const config = await fx.writeConfig({
      top: {
        lock: { strategy: 'lease', atMostFor: '3s', atLeastFor: '0s', renewEvery: '1s' },
        retry: { attempts: 2, initialDelay: '100ms', maxDelay: '200ms' },
        monitoring: {
          port: 0,
          alertWebhookUrl: `${receiverUrl}/hooks/${WEBHOOK_TOKEN}`,
          deadManSwitchUrl: `${receiverUrl}/ping/dms`,
        },
        serve: { shutdownGrace: '2s', retryFailedAfter: '1m' },
      },
      reports: reportsConfig(),
    });
    const env = (id: string, extra: NodeJS.ProcessEnv = {}) => ({ ...fx.env, EOD_INSTANCE_ID: id, ...extra });

    // The first instance starts alone and stops in the middle of its first upload: killed there.
    const doomed = startServe(config, env('instance-1', { EOD_FAILPOINT: 'sftp.mid-upload:hang' }));
    instances.push(doomed);
    await waitFor('instance-1 to reach the middle of an upload', async () =>
      doomed.stderr.includes('failpoint sftp.mid-upload reached') ? true : undefined,
    );
    doomed.child.kill('SIGKILL');
    expect((await doomed.exit).signal).toBe('SIGKILL');
    // Its lease lapses after atMostFor (3 s); the others start and take over its day.
    await sleep(3200);
    const a = startServe(config, env('instance-2'));
    const b = startServe(config, env('instance-3'));
    instances.push(a, b);
    await waitFor('8 (report, date) to complete', async () => ((await completed()) === 8 ? true : undefined));

    for (const report of ['eod-alpha', 'eod-beta']) {
      for (const date of dates) {
        const compact = date.replaceAll('-', '');
        await expectInvariants(fx, {
          report,
          date,
          fileName: `${report}_${compact}.csv`,
          key: `eod/${date.slice(0, 4)}/${date.slice(5, 7)}/${report}_${compact}.csv`,
        });
      }
    }
    const { rows: writers } = await fx.pool.query(
      `SELECT DISTINCT instance_id FROM end_of_day_reporting_event WHERE status = 'REPORT_SUBMITTED'`,
    );
    expect(writers.map((w) => w.instance_id).sort()).toEqual(['instance-2', 'instance-3']);

    // The broken report alerted once for its oldest missing date, and once for the missed deadline.
    await waitFor('the alerts', async () =>
      received.filter((r) => r.path.startsWith('/hooks/')).length >= 2 ? true : undefined,
    );
    await sleep(2500);
    const hooks = received
      .filter((r) => r.path === `/hooks/${WEBHOOK_TOKEN}`)
      .map((r) => JSON.parse(r.body).text as string);
    expect(
      hooks.filter((t) => t.includes('eod-broken') && t.includes(`for ${dates[0]}: step rows failed`)),
    ).toHaveLength(1);
    expect(hooks.filter((t) => t.includes('not submitted by its deadline'))).toHaveLength(1);
    expect(hooks).toHaveLength(2);
    expect(received.some((r) => r.path === '/ping/dms/start')).toBe(true);
    expect(received.some((r) => r.path === '/ping/dms')).toBe(true);
    expect(received.some((r) => r.path === '/ping/dms/fail')).toBe(true);

    // /api/runs, /metrics and the page agree with the event table.
    const url = await a.url;
    const runs = (await (await fetch(`${url}/api/runs`)).json()) as {
      reports: {
        name: string;
        days: { date: string; state: string; late: boolean; processId: string | null }[];
      }[];
    };
    const { rows: processes } = await fx.pool.query(
      `SELECT report, date::text AS date, process_id FROM end_of_day_reporting`,
    );
    for (const report of ['eod-alpha', 'eod-beta']) {
      const view = runs.reports.find((r) => r.name === report);
      for (const date of dates) {
        const day = view?.days.find((d) => d.date === date);
        expect(day?.state, `${report} ${date}`).toBe('complete');
        expect(day?.processId).toBe(
          processes.find((p) => p.report === report && p.date === date)?.process_id,
        );
      }
    }
    const broken = runs.reports.find((r) => r.name === 'eod-broken');
    expect(broken?.days.find((d) => d.date === dates[0])).toMatchObject({ state: 'failed', late: true });
    expect(broken?.days.find((d) => d.date === newest)?.late).toBe(true);

    const metrics = await (await fetch(`${url}/metrics`)).text();
    const { rows: last } = await fx.pool.query(
      `SELECT (e.facts->>'rows')::int AS rows, (e.facts->>'bytes')::bigint AS bytes FROM end_of_day_reporting p
       JOIN end_of_day_reporting_event e USING (process_id) WHERE p.report = 'eod-alpha' AND p.date = $1 AND e.status = 'ROWS_CREATED'`,
      [newest],
    );
    expect(metrics).toContain(`eod_report_last_rows{report="eod-alpha"} ${last[0].rows}`);
    expect(metrics).toContain(`eod_report_last_bytes{report="eod-alpha"} ${last[0].bytes}`);
    expect(metrics).toMatch(/eod_report_late\{report="eod-broken"\} 1/);
    expect(metrics).toMatch(/eod_report_step_failures_total\{report="eod-broken",step="rows"\} [1-9]/);
    const { rows: archivedAt } = await fx.pool.query(
      `SELECT extract(epoch FROM max(e.created_at))::float8 AS at FROM end_of_day_reporting p
       JOIN end_of_day_reporting_event e USING (process_id) WHERE p.report = 'eod-beta' AND e.status = 'REPORT_ARCHIVED'`,
    );
    const exposed = Number(
      /eod_report_last_success_timestamp_seconds\{report="eod-beta",step="archive"\} (\S+)/.exec(
        metrics,
      )?.[1],
    );
    expect(Math.abs(exposed - archivedAt[0].at)).toBeLessThan(0.001);

    const page = await (await fetch(`${url}/`)).text();
    for (const date of dates) {
      expect(page).toMatch(
        new RegExp(`data-report="eod-alpha"[\\s\\S]*data-date="${date}"[^>]*data-state="complete"`),
      );
    }
    expect(page).toMatch(/data-state="failed"/);
    expect(page).toMatch(/data-late="true"/);

    const health = await fetch(`${url}/healthz`);
    expect(health.status).toBe(200);

    // SIGTERM: both exit 0; no configured secret ever reached a log line.
    a.child.kill('SIGTERM');
    b.child.kill('SIGTERM');
    expect((await a.exit).code).toBe(0);
    expect((await b.exit).code).toBe(0);
    const { secrets } = await loadConfig({ path: config, env: fx.env });
    expect(secrets.length).toBeGreaterThan(0);
    const logs = doomed.stderr + a.stderr + b.stderr;
    expect(logs).toContain('"step":"submit"');
    for (const secret of secrets) expect(logs, 'a secret in the logs').not.toContain(secret);
    expect(logs).not.toContain(WEBHOOK_TOKEN);
  });

  it('SIGTERM during an SFTP upload: exits 0 within the grace bound; the next start completes the day once', async () => {
    const config = await fx.writeConfig({
      top: {
        lock: { strategy: 'lease', atMostFor: '30s', atLeastFor: '0s' },
        monitoring: { port: 0 },
        serve: { shutdownGrace: '500ms' },
      },
      // Due at start: yesterday (UTC), the day the midnight tick reported.
      reports: [{ ...reportsConfig()[0], name: 'eod-gamma', catchUpDays: 0, schedule: '0 0 * * *' }],
    });
    const env = { ...fx.env, EOD_INSTANCE_ID: 'graceful', EOD_FAILPOINT: 'sftp.mid-upload:sleep1500' };
    const first = startServe(config, env);
    instances.push(first);
    await waitFor('the upload to start', async () =>
      first.stderr.includes('failpoint sftp.mid-upload reached') ? true : undefined,
    );
    first.child.kill('SIGTERM');
    const exited = await Promise.race([first.exit, sleep(15_000).then(() => 'timeout' as const)]);
    expect(exited, 'serve did not stop within the grace bound').not.toBe('timeout');
    expect(exited).toMatchObject({ code: 0 });
    expect(first.stderr).toMatch(/interrupting the running step/);
    const { rows: before } = await fx.pool.query(
      `SELECT e.status FROM end_of_day_reporting p JOIN end_of_day_reporting_event e USING (process_id) WHERE p.report = 'eod-gamma'`,
    );
    expect(before.map((r) => r.status)).not.toContain('REPORT_SUBMITTED');

    const second = startServe(config, { ...fx.env, EOD_INSTANCE_ID: 'restarted' });
    instances.push(second);
    const due = await waitFor('the day to complete', async () => {
      const { rows } = await fx.pool.query(
        `SELECT p.date::text AS date FROM end_of_day_reporting p JOIN end_of_day_reporting_event e USING (process_id)
         WHERE p.report = 'eod-gamma' AND e.status = 'REPORT_ARCHIVED'`,
      );
      return rows[0]?.date as string | undefined;
    });
    second.child.kill('SIGTERM');
    expect((await second.exit).code).toBe(0);
    const compact = due.replaceAll('-', '');
    await expectInvariants(fx, {
      report: 'eod-gamma',
      date: due,
      fileName: `eod-gamma_${compact}.csv`,
      key: `eod/${due.slice(0, 4)}/${due.slice(5, 7)}/eod-gamma_${compact}.csv`,
    });
  });
});
