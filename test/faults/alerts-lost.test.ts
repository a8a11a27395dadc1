/**
 * Issue 9, fault 5: alerts lost for good. An alert is claimed in the database, then sent; when the
 * webhook was down through the retries, or the instance died between claim and send, it was never
 * sent. Now an unsent claim older than monitoring.alertReclaimAfter is claimed again and sent, and
 * still only once. `serve` runs as real child processes; the webhook is a real HTTP server on
 * loopback that is down (nothing listens on its port) and then up again.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createFixture, type Fixture } from '../helpers/fixture.js';
import { type RunningCli, startCli, waitFor } from '../helpers/watched-cli.js';

const BROKEN_QUERY = 'SELECT no_such_column FROM generate_series(1, 3) AS g WHERE $1::date IS NOT NULL';

/** A webhook receiver on a fixed loopback port that can go down and come back. */
class Webhook {
  readonly received: string[] = [];
  private server: Server | undefined;
  port = 0;

  async up(): Promise<void> {
    const server = createServer((req, res) => {
      let body = '';
      req.on('data', (d: Buffer) => {
        body += d.toString();
      });
      req.on('end', () => {
        this.received.push(body);
        res.writeHead(200).end('ok');
      });
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', resolve);
    });
    this.port = (server.address() as AddressInfo).port;
    this.server = server;
  }

  async down(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}/hook`;
  }

  failureAlertsOf(report: string): string[] {
    return this.received.filter((body) => body.includes(`*${report}*`) && body.includes('failed'));
  }
}

describe('alerts are not lost (fault 5)', () => {
  let fx: Fixture;
  const running: RunningCli[] = [];
  const webhooks: Webhook[] = [];

  beforeAll(async () => {
    fx = await createFixture('alerts-lost');
  });
  afterAll(async () => {
    for (const r of running) r.child.kill('SIGKILL');
    await Promise.all(running.map((r) => r.exit));
    for (const w of webhooks) await w.down();
    await fx?.close();
  });

  async function configFor(report: string, webhook: Webhook): Promise<string> {
    return fx.writeConfig({
      top: {
        lock: { strategy: 'lease', atMostFor: '60s', atLeastFor: '0s', renewEvery: '1s' },
        retry: { attempts: 1, initialDelay: '100ms', maxDelay: '100ms' },
        // livenessStaleAfter 3s: the scheduler timer (which re-sends) runs every second.
        monitoring: {
          port: 0,
          alertWebhookUrl: webhook.url,
          alertReclaimAfter: '2s',
          livenessStaleAfter: '3s',
        },
        serve: { shutdownGrace: '1s', retryFailedAfter: '10m', retryFailedAtMost: '10m' },
      },
      reports: [
        {
          ...fx.baseReport(),
          name: report,
          schedule: '*/2 * * * * *',
          timezone: 'UTC',
          catchUpDays: 0,
          query: BROKEN_QUERY,
        },
      ],
    });
  }
  const serve = (config: string, instance: string, env: NodeJS.ProcessEnv = {}) => {
    const cli = startCli(['serve', '--config', config], { ...fx.env, EOD_INSTANCE_ID: instance, ...env });
    running.push(cli);
    return cli;
  };
  const alertRow = async (report: string) =>
    (
      await fx.pool.query<{ claimed_by: string; sent: boolean; last_error: string | null }>(
        `SELECT claimed_by, sent_at IS NOT NULL AS sent, last_error FROM end_of_day_reporting_alert
         WHERE report = $1 AND kind = 'failure'`,
        [report],
      )
    ).rows;

  it('a webhook down through the retries: the alert goes out once it is back, and only once across instances', async () => {
    const webhook = new Webhook();
    webhooks.push(webhook);
    await webhook.up();
    await webhook.down(); // the port is known and nothing listens on it
    const config = await configFor('eod-hook-down', webhook);
    const a = serve(config, 'hook-down-a');
    const b = serve(config, 'hook-down-b');
    const unsent = await waitFor('the failed send to be recorded', async () => {
      const rows = await alertRow('eod-hook-down');
      return rows[0]?.last_error ? rows : undefined;
    });
    expect(unsent).toEqual([
      { claimed_by: expect.stringMatching(/^hook-down-[ab]$/), sent: false, last_error: expect.any(String) },
    ]);
    expect((a.stdout + a.stderr + b.stdout + b.stderr).includes('/hook')).toBe(false);

    await webhook.up();
    await waitFor('the alert to arrive', async () =>
      webhook.failureAlertsOf('eod-hook-down').length > 0 ? true : undefined,
    );
    // Several more rounds of both timers, each past alertReclaimAfter: nobody sends it again.
    await sleep(5000);
    expect(webhook.failureAlertsOf('eod-hook-down')).toHaveLength(1);
    expect(webhook.failureAlertsOf('eod-hook-down')[0]).toMatch(/step rows failed: .*no_such_column/);
    expect(await alertRow('eod-hook-down')).toEqual([
      { claimed_by: expect.stringMatching(/^hook-down-[ab]$/), sent: true, last_error: null },
    ]);
    for (const cli of [a, b]) cli.child.kill('SIGTERM');
    for (const cli of [a, b])
      expect(await cli.exit, cli.stderr.slice(-2000)).toEqual({ code: 0, signal: null });
  });

  it('an instance killed between claim and send: another instance claims the alert again and sends it once', async () => {
    const webhook = new Webhook();
    webhooks.push(webhook);
    await webhook.up();
    const config = await configFor('eod-claimer-died', webhook);
    const doomed = serve(config, 'claimer-killed', { EOD_FAILPOINT: 'alert.after-claim:kill' });
    expect(await doomed.exit).toEqual({ code: null, signal: 'SIGKILL' });
    expect(doomed.stderr).toContain('failpoint alert.after-claim reached');
    expect(await alertRow('eod-claimer-died')).toEqual([
      { claimed_by: 'claimer-killed', sent: false, last_error: null },
    ]);
    expect(webhook.failureAlertsOf('eod-claimer-died')).toEqual([]);

    const survivor = serve(config, 'claimer-survivor');
    await waitFor('the alert to arrive', async () =>
      webhook.failureAlertsOf('eod-claimer-died').length > 0 ? true : undefined,
    );
    await sleep(5000);
    expect(webhook.failureAlertsOf('eod-claimer-died')).toHaveLength(1);
    expect(await alertRow('eod-claimer-died')).toEqual([
      { claimed_by: 'claimer-survivor', sent: true, last_error: null },
    ]);
    expect(survivor.stderr).toMatch(
      /alert failure for eod-claimer-died [\d-]+ claimed by claimer-killed was never sent/,
    );
    survivor.child.kill('SIGTERM');
    expect(await survivor.exit, survivor.stderr.slice(-2000)).toEqual({ code: 0, signal: null });
  });
});
