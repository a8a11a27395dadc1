/**
 * The render's plan on a real PostgreSQL (issue 11): COPY takes no parameters, so the report date
 * is read from a transaction-local setting. Read once per statement (an InitPlan), not once per
 * row a filter looks at: per row it cost 35 % more CPU than `psql \copy` on a 3M-row scan.
 */
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { reportCopySql } from '../../src/adapters/postgres/sql/report-query.js';
import { createFixture, type Fixture, TRANSACTIONS_DDL } from '../helpers/fixture.js';

interface PlanNode {
  'Node Type': string;
  'Parent Relationship'?: string;
  Filter?: string;
  Plans?: PlanNode[];
}

function nodes(plan: PlanNode): PlanNode[] {
  return [plan, ...(plan.Plans ?? []).flatMap(nodes)];
}

describe('render plan', () => {
  let fx: Fixture;
  let client: pg.PoolClient;

  beforeAll(async () => {
    fx = await createFixture('render_plan');
    await fx.pool.query(TRANSACTIONS_DDL);
    await fx.pool.query(
      `INSERT INTO transactions SELECT g, DATE '2026-03-01' + g % 3, now(), 'row ' || g, g FROM generate_series(1, 3000) AS g`,
    );
    await fx.pool.query('ANALYZE transactions');
    client = await fx.pool.connect();
  });
  afterAll(async () => {
    client?.release();
    await fx?.close();
  });

  /** The plan of the SELECT inside the COPY that reportCopySql builds for `query` and `date`. */
  async function renderPlan(query: string, date: string) {
    await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    try {
      const copy = await reportCopySql(client, query, date);
      const inner = /^COPY \(([\s\S]*)\) TO STDOUT \(FORMAT csv, HEADER\)$/.exec(copy)?.[1];
      expect(inner, copy).toBeDefined();
      const { rows } = await client.query<{ 'QUERY PLAN': [{ Plan: PlanNode }] }>(
        `EXPLAIN (VERBOSE, FORMAT JSON) ${inner}`,
      );
      const { rows: counted } = await client.query<{ n: string }>(
        `SELECT count(*) AS n FROM (${inner}) AS q`,
      );
      const explained = rows[0]?.['QUERY PLAN'][0];
      if (!explained) throw new Error('EXPLAIN returned no plan');
      return { plan: explained.Plan, rows: Number(counted[0]?.n) };
    } finally {
      await client.query('ROLLBACK');
    }
  }

  it('reads the report date once per render (an InitPlan), not in the per-row filter', async () => {
    const { plan, rows } = await renderPlan(
      'SELECT * FROM transactions WHERE booked_on = $1 ORDER BY id',
      '2026-03-02',
    );

    expect(rows).toBe(1000);
    const all = nodes(plan);
    expect(all.some((n) => n['Parent Relationship'] === 'InitPlan')).toBe(true);
    const scan = all.find((n) => n['Node Type'] === 'Seq Scan');
    expect(scan?.Filter).toBeDefined();
    expect(scan?.Filter).not.toContain('current_setting');
  });

  it('keeps the type PostgreSQL infers for $1 (a timestamp bound compares as a timestamp)', async () => {
    const { rows } = await renderPlan(
      "SELECT id FROM transactions WHERE booked_on::timestamp >= $1 AND booked_on::timestamp < $1 + interval '1 day'",
      '2026-03-01 00:00:00',
    );

    expect(rows).toBe(1000);
  });
});
