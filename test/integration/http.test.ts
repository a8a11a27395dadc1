import pg from 'pg';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { configSchema } from '../../src/config/schema.js';
import { freePort } from '../../src/embedded/free-port.js';
import { startHttpServer } from '../../src/service/http-server.js';
import { createMetrics } from '../../src/service/metrics.js';
import { createFixture, type Fixture } from '../helpers/fixture.js';

describe('serve HTTP endpoints', () => {
  let fx: Fixture;
  beforeAll(async () => {
    fx = await createFixture('http');
  });
  afterAll(async () => {
    await fx?.close();
  });

  const reports = () =>
    configSchema.parse({
      database: { url: 'postgres://unused@127.0.0.1/unused' },
      reports: [fx.baseReport()],
    }).reports;

  async function serve(pool: pg.Pool) {
    const metrics = createMetrics({ pool, reports: reports() });
    const http = await startHttpServer({
      host: '127.0.0.1',
      port: 0,
      pool,
      reports: reports(),
      metrics,
      instanceId: 'http-test',
      statusDays: 7,
      logger: pino({ level: 'silent' }),
      now: () => new Date(),
    });
    return { http, metrics };
  }

  it('healthz is 200 with a reachable database and a live scheduler; metrics, runs and the page answer', async () => {
    const { http } = await serve(fx.pool);
    try {
      const health = await fetch(`${http.url}/healthz`);
      expect(health.status).toBe(200);
      expect(await health.json()).toMatchObject({ status: 'ok', instance: 'http-test', problems: [] });
      const metrics = await fetch(`${http.url}/metrics`);
      expect(metrics.headers.get('content-type')).toMatch(/text\/plain/);
      const text = await metrics.text();
      expect(text).toContain('eod_report_step_failures_total{report="eod-tx",step="rows"} 0');
      expect(text).toContain('process_cpu_seconds_total');
      const runs = (await (await fetch(`${http.url}/api/runs`)).json()) as {
        reports: { name: string; days: unknown[] }[];
      };
      expect(runs.reports.map((r) => r.name)).toEqual(['eod-tx']);
      // A report that never ran is responsible for its newest due date only, not 7 days back.
      expect(runs.reports[0]?.days).toHaveLength(1);
      const page = await fetch(`${http.url}/`);
      expect(page.headers.get('content-type')).toMatch(/text\/html/);
      expect(await page.text()).toContain('data-report="eod-tx"');
      expect((await fetch(`${http.url}/nope`)).status).toBe(404);
      expect((await fetch(`${http.url}/healthz`, { method: 'POST' })).status).toBe(405);
    } finally {
      await http.close();
    }
  });

  it('healthz is 503 when the database is unreachable or, with no step running, the scheduler timer stopped beating', async () => {
    const dead = new pg.Pool({
      connectionString: `postgres://x:y@127.0.0.1:${await freePort()}/none`,
      connectionTimeoutMillis: 2000,
    });
    dead.on('error', () => undefined);
    const { http } = await serve(dead);
    try {
      const health = await fetch(`${http.url}/healthz`);
      expect(health.status).toBe(503);
      const body = (await health.json()) as { problems: string[] };
      expect(body.problems.join('\n')).toMatch(/database unreachable/);
      expect(body.problems.join('\n')).not.toContain('y@');
    } finally {
      await http.close();
      await dead.end();
    }
    const { http: stale, metrics } = await serve(fx.pool);
    // The last loop 120 s ago: past the default 90 s, so the scheduler counts as stalled.
    metrics.heartbeat(Date.now() - 120_000);
    try {
      const health = await fetch(`${stale.url}/healthz`);
      expect(health.status).toBe(503);
      expect(((await health.json()) as { problems: string[] }).problems.join('\n')).toMatch(
        /scheduler timer has not beaten for 120 s/,
      );
    } finally {
      await stale.close();
    }
  });
});
