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
