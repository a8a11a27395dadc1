import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAlertSender } from '../../src/service/alerts.js';
import { createFixture, type Fixture } from '../helpers/fixture.js';

describe('alerts', () => {
  let fx: Fixture;
  beforeAll(async () => {
    fx = await createFixture('alerts');
  });
  afterAll(async () => {
    await fx?.close();
  });

  const logger = pino({ level: 'silent' });
  const noSleep = async () => undefined;

  it('is sent once per (report, date, kind) however many instances notice it', async () => {
    const sent: string[] = [];
    const fakeFetch = (async (_url: string, init?: RequestInit) => {
      sent.push(String(init?.body));
      return new Response('ok');
    }) as typeof fetch;
    const senders = ['a', 'b', 'c', 'd', 'e'].map((instanceId) =>
      createAlertSender({
        pool: fx.pool,
        instanceId,
        logger,
        webhookUrl: 'http://hooks.invalid/x',
        fetch: fakeFetch,
        sleep: noSleep,
      }),
    );
    const alert = { kind: 'failure' as const, report: 'r', date: '2026-01-01', text: 'boom' };
    const results = await Promise.all(senders.map((s) => s.notifyOnce(alert)));
    expect(results.filter(Boolean)).toHaveLength(1);
    expect(sent).toEqual([JSON.stringify({ text: 'boom' })]);
    // Another kind for the same day is its own alert.
    expect(await senders[0]?.notifyOnce({ ...alert, kind: 'deadline' })).toBe(true);
    expect(sent).toHaveLength(2);
  });

  it('retries a failing webhook and records the outcome', async () => {
    let calls = 0;
    const flaky = (async () => {
      calls++;
      return new Response('busy', { status: calls < 3 ? 503 : 200 });
    }) as unknown as typeof fetch;
    const sender = createAlertSender({
      pool: fx.pool,
      instanceId: 'x',
      logger,
      webhookUrl: 'http://hooks.invalid/y',
      fetch: flaky,
      sleep: noSleep,
    });
    expect(await sender.notifyOnce({ kind: 'failure', report: 'r', date: '2026-01-02', text: 't' })).toBe(
      true,
    );
    expect(calls).toBe(3);
    const { rows } = await fx.pool.query(
      `SELECT attempts, sent_at IS NOT NULL AS sent, last_error FROM end_of_day_reporting_alert WHERE date = '2026-01-02'`,
    );
    expect(rows).toEqual([{ attempts: 3, sent: true, last_error: null }]);

    const down = (async () => new Response('down', { status: 500 })) as unknown as typeof fetch;
    const failing = createAlertSender({
      pool: fx.pool,
      instanceId: 'x',
      logger,
      webhookUrl: 'http://hooks.invalid/z',
      fetch: down,
      sleep: noSleep,
      attempts: 2,
    });
    expect(await failing.notifyOnce({ kind: 'failure', report: 'r', date: '2026-01-03', text: 't' })).toBe(
      false,
    );
    const { rows: failed } = await fx.pool.query(
      `SELECT attempts, sent_at, last_error FROM end_of_day_reporting_alert WHERE date = '2026-01-03'`,
    );
    expect(failed).toEqual([{ attempts: 2, sent_at: null, last_error: 'webhook answered HTTP 500' }]);
  });

  it('re-claims only unsent claims older than reclaimAfter, each by one instance, and sends each once', async () => {
    const sent: string[] = [];
    const record = (async (_url: string, init?: RequestInit) => {
      sent.push(String(init?.body));
      return new Response('ok');
    }) as typeof fetch;
    const down = (async () => {
      throw new Error('connect ECONNREFUSED 127.0.0.1:9');
    }) as unknown as typeof fetch;
    const sender = (instanceId: string, fetchImpl: typeof fetch) =>
      createAlertSender({
        pool: fx.pool,
        instanceId,
        logger,
        webhookUrl: 'http://hooks.invalid/r',
        fetch: fetchImpl,
        sleep: noSleep,
        reclaimAfterMs: 1000,
      });
    // Claimed by an instance whose webhook is down: unsent, with its error.
    expect(
      await sender('first', down).notifyOnce({
        kind: 'failure',
        report: 'rc',
        date: '2026-02-01',
        text: 'one',
      }),
    ).toBe(false);
    // Sent already: never again.
    expect(
      await sender('first', record).notifyOnce({
        kind: 'failure',
        report: 'rc',
        date: '2026-02-02',
        text: 'two',
      }),
    ).toBe(true);
    sent.length = 0;
    // Too young to be claimed again.
    expect(await sender('second', record).resendUnsent()).toBe(0);
    await fx.pool.query(
      `UPDATE end_of_day_reporting_alert SET claimed_at = now() - interval '2 seconds' WHERE report = 'rc'`,
    );
    const results = await Promise.all(['b', 'c', 'd', 'e'].map((id) => sender(id, record).resendUnsent()));
    expect(results.reduce((a, b) => a + b, 0)).toBe(1);
    expect(sent).toEqual([JSON.stringify({ text: 'one' })]);
    const { rows } = await fx.pool.query(
      `SELECT date::text AS date, claimed_by, sent_at IS NOT NULL AS sent, last_error FROM end_of_day_reporting_alert WHERE report = 'rc' ORDER BY date`,
    );
    expect(rows).toEqual([
      { date: '2026-02-01', claimed_by: expect.stringMatching(/^[bcde]$/), sent: true, last_error: null },
      { date: '2026-02-02', claimed_by: 'first', sent: true, last_error: null },
    ]);
    await fx.pool.query(
      `UPDATE end_of_day_reporting_alert SET claimed_at = now() - interval '1 hour' WHERE report = 'rc'`,
    );
    expect(await sender('f', record).resendUnsent()).toBe(0);
    expect(sent).toHaveLength(1);
  });

  it('a sender stops retrying after half of reclaimAfter, leaving the alert to be claimed again', async () => {
    let calls = 0;
    const down = (async () => {
      calls++;
      return new Response('down', { status: 503 });
    }) as unknown as typeof fetch;
    const sender = createAlertSender({
      pool: fx.pool,
      instanceId: 'budget',
      logger,
      webhookUrl: 'http://hooks.invalid/b',
      fetch: down,
      attempts: 10,
      // Half is 1.4 s: the first retry delay (0.5-1 s) fits, the second (1-2 s) would not.
      reclaimAfterMs: 2800,
    });
    expect(await sender.notifyOnce({ kind: 'failure', report: 'rb', date: '2026-02-03', text: 't' })).toBe(
      false,
    );
    expect(calls).toBe(2);
    const { rows } = await fx.pool.query(
      `SELECT attempts, sent_at, last_error FROM end_of_day_reporting_alert WHERE report = 'rb'`,
    );
    expect(rows).toEqual([{ attempts: 2, sent_at: null, last_error: 'webhook answered HTTP 503' }]);
  });

  it('pings the dead-man switch at /start, the base URL and /fail, and never throws', async () => {
    const urls: string[] = [];
    const record = (async (url: string) => {
      urls.push(url);
      return new Response('ok');
    }) as unknown as typeof fetch;
    const sender = createAlertSender({
      pool: fx.pool,
      instanceId: 'x',
      logger,
      deadManSwitchUrl: 'http://hc.invalid/ping/abc',
      fetch: record,
    });
    await sender.ping('start');
    await sender.ping('success');
    await sender.ping('fail');
    expect(urls).toEqual([
      'http://hc.invalid/ping/abc/start',
      'http://hc.invalid/ping/abc',
      'http://hc.invalid/ping/abc/fail',
    ]);
    const broken = createAlertSender({
      pool: fx.pool,
      instanceId: 'x',
      logger,
      deadManSwitchUrl: 'http://hc.invalid/ping/abc',
      fetch: (async () => {
        throw new Error('unreachable');
      }) as unknown as typeof fetch,
    });
    await expect(broken.ping('start')).resolves.toBeUndefined();
  });
});
