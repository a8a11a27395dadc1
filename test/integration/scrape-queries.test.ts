/**
 * /metrics and the status page read the database on every scrape. With 100,000 events each of
 * their queries must use indexes (no Seq Scan on the process or event table): the plans of the
 * real query functions, run against seeded data, are checked here and written to
 * test-output/scrape-plans.txt. Time is printed there, never asserted.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { completeDatesSince, firstProcessDate } from '../../src/adapters/postgres/sql/history.js';
import {
  lastCaptures,
  lastSuccesses,
  processesBetween,
  wasSubmitted,
} from '../../src/adapters/postgres/sql/monitoring.js';
import { pruneCandidates } from '../../src/adapters/postgres/sql/retention.js';
import { createFixture, type Fixture } from '../helpers/fixture.js';

const REPORTS = Array.from({ length: 18 }, (_, i) => `report-${i + 1}`);
const DAYS = 1112; // 18 reports x 1112 days x 5 events = 100,080 events
const FIRST = '2023-01-01';
const LAST = '2026-01-16'; // FIRST + DAYS - 1
const BIG_TABLES = new Set(['end_of_day_reporting', 'end_of_day_reporting_event']);

interface PlanNode {
  'Node Type': string;
  'Relation Name'?: string;
  'Index Name'?: string;
  Plans?: PlanNode[];
}
interface Explained {
  label: string;
  sql: string;
  plan: PlanNode;
  executionMs: number;
  text: string;
}

function nodes(plan: PlanNode): PlanNode[] {
  return [plan, ...(plan.Plans ?? []).flatMap(nodes)];
}

/** A db handle that EXPLAINs (ANALYZE) every statement before running it. */
function explaining(client: pg.ClientBase, label: string, into: Explained[]): pg.ClientBase {
  const query = async (text: string, params?: unknown[]) => {
    const json = await client.query(`EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) ${text}`, params);
    const textual = await client.query(
      `EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY ON) ${text}`,
      params,
    );
    const [root] = json.rows[0]['QUERY PLAN'] as [{ Plan: PlanNode; 'Execution Time': number }];
    into.push({
      label,
      sql: text.replace(/\s+/g, ' ').trim(),
      plan: root.Plan,
      executionMs: root['Execution Time'],
      text: textual.rows.map((r: { 'QUERY PLAN': string }) => r['QUERY PLAN']).join('\n'),
    });
    return client.query(text, params);
  };
  return { query } as unknown as pg.ClientBase;
}

describe('scrape queries with 100,000 events (real PostgreSQL, EXPLAIN ANALYZE)', () => {
  let fx: Fixture;
  let client: pg.PoolClient;

  beforeAll(async () => {
    fx = await createFixture('scrape');
    await fx.pool.query(
      `INSERT INTO end_of_day_reporting (report, date)
       SELECT r, $2::date + d FROM unnest($1::text[]) AS r, generate_series(0, $3::int - 1) AS d`,
      [REPORTS, FIRST, DAYS],
    );
    // Five events per day (two attempts), in time order, as the runs would have written them.
    await fx.pool.query(
      `INSERT INTO end_of_day_reporting_event (process_id, status, instance_id, facts, created_at)
       SELECT p.process_id, s.status::end_of_day_report_status, 'seed',
              jsonb_build_object('rows', 10 + p.process_id % 7, 'bytes', 1000 + p.process_id, 'sha256', md5(p.process_id::text)),
              p.date + interval '1 day' + s.after
       FROM end_of_day_reporting p,
            (VALUES ('STARTED', interval '0'), ('ROWS_CREATION_FAILURE', interval '10 s'), ('ROWS_CREATED', interval '1 min'),
                    ('REPORT_SUBMITTED', interval '2 min'), ('REPORT_ARCHIVED', interval '3 min')) AS s(status, after)
       ORDER BY p.date, s.after`,
    );
    // As autovacuum leaves them in steady state (the bulk seed made every success an upsert).
    await fx.pool.query(
      'VACUUM ANALYZE end_of_day_reporting, end_of_day_reporting_event, end_of_day_reporting_last_success',
    );
    client = await fx.pool.connect();
  }, 300_000);
  afterAll(async () => {
    client?.release();
    await fx?.close();
  });

  it('seeds 100,000 events', async () => {
    const { rows } = await fx.pool.query('SELECT count(*)::int AS n FROM end_of_day_reporting_event');
    expect(rows[0].n).toBeGreaterThanOrEqual(100_000);
  });

  it('every scrape and status-page query uses indexes: no Seq Scan on the process or event table', async () => {
    const explained: Explained[] = [];
    const db = (label: string) => explaining(client, label, explained);
    const report = 'report-7';
    const from = '2025-12-18';

    await lastSuccesses(db('metrics: last success per report and step'), REPORTS);
    await lastCaptures(db('metrics: rows and bytes of the newest capture'), REPORTS);
    await wasSubmitted(db('metrics: late (was the newest due date submitted)'), report, LAST);
    await processesBetween(db('status page and /api/runs: 30 days of one report'), report, from, LAST);
    await pruneCandidates(db('prune (daily): archived captures older than the retention'), 35, 100);
    // Missing dates on the status page: indexed, but it reads every date since the first one.
    await firstProcessDate(db('status page: first date of a report') as unknown as pg.Pool, report);
    await completeDatesSince(
      db('status page: complete dates since the first') as unknown as pg.Pool,
      report,
      FIRST,
    );

    const lines: string[] = [];
    for (const e of explained) {
      const scans = nodes(e.plan).filter(
        (n) => n['Node Type'] === 'Seq Scan' && BIG_TABLES.has(n['Relation Name'] ?? ''),
      );
      expect(scans.map((n) => `${e.label}: Seq Scan on ${n['Relation Name']}`)).toEqual([]);
      lines.push(`-- ${e.label} (execution ${e.executionMs.toFixed(3)} ms)`, e.sql, e.text, '');
    }
    expect(explained.map((e) => e.label)).toEqual([
      'metrics: last success per report and step',
      'metrics: rows and bytes of the newest capture',
      'metrics: late (was the newest due date submitted)',
      'status page and /api/runs: 30 days of one report',
      'status page and /api/runs: 30 days of one report',
      'prune (daily): archived captures older than the retention',
      'status page: first date of a report',
      'status page: complete dates since the first',
    ]);
    await mkdir('test-output', { recursive: true });
    await writeFile('test-output/scrape-plans.txt', lines.join('\n'));
  });

  it('the newest success per report and step (kept by the trigger) equals the aggregate over all events', async () => {
    const fast = await lastSuccesses(fx.pool, REPORTS);
    const { rows: slow } = await fx.pool.query<{ report: string; status: string; at: Date }>(
      `SELECT p.report, e.status::text AS status, max(e.created_at) AS at
       FROM end_of_day_reporting_event e JOIN end_of_day_reporting p USING (process_id)
       WHERE e.status IN ('ROWS_CREATED', 'REPORT_SUBMITTED', 'REPORT_ARCHIVED') GROUP BY 1, 2`,
    );
    const key = (r: { report: string; status: string; at: Date }) =>
      `${r.report} ${r.status} ${r.at.toISOString()}`;
    expect(fast.map(key).sort()).toEqual(slow.map(key).sort());
    expect(fast).toHaveLength(REPORTS.length * 3);

    // A later success of an older date (a back-filled day) moves the time forward; nothing moves it back.
    const { rows } = await fx.pool.query(
      `SELECT process_id FROM end_of_day_reporting WHERE report = 'report-1' AND date = $1::date`,
      [FIRST],
    );
    await fx.pool.query('DELETE FROM end_of_day_reporting_event WHERE process_id = $1', [rows[0].process_id]);
    await fx.pool.query(
      `INSERT INTO end_of_day_reporting_event (process_id, status, created_at)
       VALUES ($1, 'REPORT_ARCHIVED', '2030-01-01T00:00:00Z'), ($1, 'ROWS_CREATED', '2000-01-01T00:00:00Z')`,
      [rows[0].process_id],
    );
    const after = await lastSuccesses(fx.pool, ['report-1']);
    const at = (status: string) => after.find((r) => r.status === status)?.at.toISOString();
    expect(at('REPORT_ARCHIVED')).toBe('2030-01-01T00:00:00.000Z');
    expect(at('ROWS_CREATED')).toBe(
      slow.find((r) => r.report === 'report-1' && r.status === 'ROWS_CREATED')?.at.toISOString(),
    );
  });

  it('a role with no privilege on the last-success table still records successes (the trigger runs as its owner)', async () => {
    const role = `eod_writer_${Date.now()}`;
    await fx.pool.query(`CREATE ROLE ${role}`);
    try {
      await fx.pool.query(
        `GRANT SELECT, INSERT ON end_of_day_reporting, end_of_day_reporting_event TO ${role}`,
      );
      await fx.pool.query(`GRANT USAGE ON SEQUENCE end_of_day_reporting_event_event_id_seq TO ${role}`);
      const { rows } = await fx.pool.query(
        // The day the test above left without REPORT_SUBMITTED (one success per process).
        `SELECT process_id FROM end_of_day_reporting WHERE report = 'report-1' AND date = $1::date`,
        [FIRST],
      );
      const writer = await fx.pool.connect();
      try {
        await writer.query(`SET ROLE ${role}`);
        await writer.query(
          `INSERT INTO end_of_day_reporting_event (process_id, status, created_at)
           VALUES ($1, 'REPORT_SUBMITTED', '2031-01-01T00:00:00Z')`,
          [rows[0].process_id],
        );
      } finally {
        await writer.query('RESET ROLE');
        writer.release();
      }
      const after = await lastSuccesses(fx.pool, ['report-1']);
      expect(after.find((r) => r.status === 'REPORT_SUBMITTED')?.at.toISOString()).toBe(
        '2031-01-01T00:00:00.000Z',
      );
    } finally {
      await fx.pool.query(`DROP OWNED BY ${role}; DROP ROLE ${role}`);
    }
  });

  it('rows and bytes come from the newest captured date of each report', async () => {
    const captures = await lastCaptures(fx.pool, ['report-3', 'no-such-report']);
    const { rows } = await fx.pool.query(
      `SELECT (e.facts->>'rows')::int AS rows, (e.facts->>'bytes')::int AS bytes
       FROM end_of_day_reporting p JOIN end_of_day_reporting_event e USING (process_id)
       WHERE p.report = 'report-3' AND p.date = $1::date AND e.status = 'ROWS_CREATED'`,
      [LAST],
    );
    expect(captures).toEqual([{ report: 'report-3', rows: rows[0].rows, bytes: rows[0].bytes }]);
  });
});
