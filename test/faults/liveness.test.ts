/**
 * Issue 9, fault 4: /healthz said dead during healthy long steps (the scheduler only beat between
 * loop iterations) and deadline checks waited behind a busy slot. `serve` runs as a real child
 * process with a short monitoring.livenessStaleAfter: a rows step that streams for longer than
 * that stays healthy; a step that hangs (failpoint) turns /healthz 503 naming the step while the
 * scheduler timer still beats; a missed deadline is alerted while the only slot is busy.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createFixture, type Fixture } from '../helpers/fixture.js';
import { type RunningCli, startCli, waitFor } from '../helpers/watched-cli.js';

interface Health {
  status: string;
  problems: string[];
  warnings?: string[];
  scheduler?: { secondsSinceBeat: number; stalled: boolean };
  steps?: { report: string; step: string; idleSeconds: number; stalled: boolean }[];
}

// 60 rows of 2 kB, one every 0.2 s: about 12 s of rendering, a few kB moved every second.
const STREAMING_QUERY = `SELECT g AS id, $1::date AS day, repeat('x', 2000) AS pad, pg_sleep(0.2)::text AS pause
  FROM generate_series(1, 60) AS g ORDER BY g`;
const QUICK_QUERY = 'SELECT g AS id, $1::date AS day FROM generate_series(1, 100) AS g ORDER BY g';

describe('liveness by progress (fault 4)', () => {
  let fx: Fixture;
  let receiver: Server;
  let receiverUrl: string;
  const received: string[] = [];
  const running: RunningCli[] = [];

  beforeAll(async () => {
    fx = await createFixture('liveness');
    receiver = createServer((req, res) => {
      let body = '';
      req.on('data', (d: Buffer) => {
        body += d.toString();
      });
      req.on('end', () => {
        received.push(body);
        res.writeHead(200).end('ok');
      });
    });
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    receiverUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;
  });
  afterAll(async () => {
    for (const r of running) r.child.kill('SIGKILL');
    await Promise.all(running.map((r) => r.exit));
    await new Promise<void>((resolve) => receiver?.close(() => resolve()));
    await fx?.close();
  });

  const top = (monitoring: Record<string, unknown>) => ({
    lock: { strategy: 'lease', atMostFor: '60s', atLeastFor: '0s', renewEvery: '1s' },
    retry: { attempts: 2, initialDelay: '100ms', maxDelay: '500ms' },
    monitoring: { port: 0, ...monitoring },
    serve: { shutdownGrace: '1s', retryFailedAfter: '1m' },
  });
  const report = (name: string, query: string, extra: Record<string, unknown> = {}) => ({
    ...fx.baseReport(),
    name,
    fileName: '{report}_{yyyy}{MM}{dd}.csv',
    schedule: '*/2 * * * * *',
    timezone: 'UTC',
    catchUpDays: 0,
    query,
    ...extra,
  });

  async function serve(
    config: string,
    env: NodeJS.ProcessEnv = {},
  ): Promise<{ cli: RunningCli; url: string }> {
    const cli = startCli(['serve', '--config', config], { ...fx.env, ...env });
    running.push(cli);
    const url = (await cli.output(/status page (http:\/\/\S+?)\/?$/m))[1] as string;
    return { cli, url };
  }
  const health = async (url: string) => {
    const response = await fetch(`${url}/healthz`);
    return { status: response.status, body: (await response.json()) as Health };
  };
  const statuses = async (reportName: string) =>
    (
      await fx.pool.query<{ status: string }>(
        `SELECT e.status FROM end_of_day_reporting p JOIN end_of_day_reporting_event e USING (process_id)
         WHERE p.report = $1 ORDER BY e.event_id`,
        [reportName],
      )
    ).rows.map((r) => r.status);

  it('a rows step that streams for longer than livenessStaleAfter keeps /healthz 200 throughout', async () => {
    const config = await fx.writeConfig({
      top: top({ livenessStaleAfter: '3s' }),
      reports: [report('eod-streaming', STREAMING_QUERY)],
    });
    const { cli, url } = await serve(config, { EOD_INSTANCE_ID: 'live-streaming' });
    await waitFor('the rows step to start', async () =>
      (await statuses('eod-streaming')).includes('STARTED') ? true : undefined,
    );
    const started = performance.now();
    const seen: { status: number; body: Health }[] = [];
    while (!(await statuses('eod-streaming')).includes('ROWS_CREATED')) {
      seen.push(await health(url));
      await sleep(200);
    }
    const stepSeconds = (performance.now() - started) / 1000;
    expect(stepSeconds, 'precondition: the step outlived livenessStaleAfter twice').toBeGreaterThan(6);
    const unhealthy = seen.filter((h) => h.status !== 200);
    expect(unhealthy, JSON.stringify(unhealthy.slice(0, 3))).toEqual([]);
    expect(
      seen.some((h) => h.body.steps?.some((s) => s.report === 'eod-streaming' && s.step === 'rows')),
    ).toBe(true);
    await waitFor('the day to be archived', async () =>
      (await statuses('eod-streaming')).includes('REPORT_ARCHIVED') ? true : undefined,
    );
    expect((await health(url)).status).toBe(200);
    cli.child.kill('SIGTERM');
    expect(await cli.exit, cli.stderr.slice(-2000)).toEqual({ code: 0, signal: null });
  });

  it('a step that hangs past livenessStaleAfter makes /healthz 503 naming the step, while the scheduler timer still beats', async () => {
    const config = await fx.writeConfig({
      top: top({ livenessStaleAfter: '3s' }),
      reports: [report('eod-hung', QUICK_QUERY)],
    });
    const { cli, url } = await serve(config, {
      EOD_INSTANCE_ID: 'live-hung',
      EOD_FAILPOINT: 'rows.after-commit:hang',
    });
    await cli.output(/failpoint rows\.after-commit reached \(hang\)/);
    const dead = await waitFor(
      '/healthz 503',
      async () => {
        const h = await health(url);
        return h.status === 503 ? h : undefined;
      },
      30_000,
    );
    expect(dead.body.problems.join('\n')).toMatch(
      /eod-hung: step rows made no progress \(no bytes moved, no lease renewed\) for [\d.]+ s \(monitoring\.livenessStaleAfter = 3 s\)/,
    );
    expect(dead.body.scheduler?.stalled, 'the scheduler timer beats on').toBe(false);
    const metrics = await (await fetch(`${url}/metrics`)).text();
    expect(metrics).toMatch(/^eod_report_scheduler_stalled 0$/m);
    expect(metrics).toMatch(/^eod_report_step_idle_seconds\{report="eod-hung",step="rows"\} [\d.]+$/m);
    cli.child.kill('SIGKILL');
    await cli.exit;
  });

  it('a missed deadline is alerted while the only slot is busy with a hung step', async () => {
    const config = await fx.writeConfig({
      top: { ...top({ alertWebhookUrl: receiverUrl }), serve: { concurrency: 1, shutdownGrace: '1s' } },
      // deadline 00:00: the newest due date (yesterday) passed its deadline at midnight.
      reports: [
        report('eod-first', QUICK_QUERY, { deadline: '00:00' }),
        report('eod-second', QUICK_QUERY, { deadline: '00:00' }),
      ],
    });
    const { cli } = await serve(config, {
      EOD_INSTANCE_ID: 'live-deadline',
      EOD_FAILPOINT: 'rows.after-commit:hang',
    });
    await cli.output(/failpoint rows\.after-commit reached \(hang\)/);
    const [first, second] = [await statuses('eod-first'), await statuses('eod-second')];
    // The hung report holds the one slot; the other has not started and waits for it.
    const waiting = first.length === 0 ? 'eod-first' : 'eod-second';
    expect(first.length === 0 || second.length === 0, 'one report waits for the slot').toBe(true);
    const alert = await waitFor(
      `a deadline alert for ${waiting}`,
      async () => received.find((body) => body.includes(`*${waiting}*`) && body.includes('deadline')),
      30_000,
    );
    expect(alert).toMatch(/was not submitted by its deadline 00:00 UTC/);
    expect(await statuses(waiting), 'still waiting for the slot').toEqual([]);
    expect(cli.child.exitCode, 'the step still hangs in its slot').toBeNull();
    cli.child.kill('SIGKILL');
    await cli.exit;
  });
});
