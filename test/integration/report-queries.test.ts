/**
 * Report queries as real users write them (issue 9, items 8 and 13): what `COPY (query)` accepts
 * is captured and delivered byte-identical to PostgreSQL's own CSV, or refused at `check` with
 * the report named.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createFixture, type Fixture, runCli, TRANSACTIONS_DDL } from '../helpers/fixture.js';
import { oracleCsv } from '../helpers/invariants.js';

const DATE = '2026-03-29';

/** Supported: each is run and compared with COPY (query) for the date. */
const SUPPORTED: Record<string, string> = {
  'trailing-comment': `SELECT id, amount FROM transactions WHERE booked_on = $1::date ORDER BY id
-- newest last`,
  'dollar-one-in-comment-and-string': `SELECT id, '$1' AS "not a $1", $x$ $1 $x$ AS dollar_quoted
FROM transactions /* a whole-table report, $1 not used */
ORDER BY id; -- $1 nowhere`,
  'line-no-column': `SELECT id AS eod_report_line_no, amount FROM transactions WHERE booked_on = $1::date ORDER BY id`,
  'anonymous-row': `SELECT id, ROW(id, description, booked_at) FROM transactions WHERE booked_on = $1::date ORDER BY id`,
  'duplicate-names': `SELECT id, amount * 2, amount * 3, id AS amount FROM transactions WHERE booked_on = $1::date ORDER BY id;`,
};

/** The oracle's text for a query: the date bound where the query uses it. */
const forOracle = (query: string) =>
  query
    .replace('$1::date', `'${DATE}'::date`)
    .replace(/;\s*(--.*)?$/, '')
    .concat('\n');

describe('report queries that COPY (query) accepts', () => {
  let fx: Fixture;

  beforeAll(async () => {
    fx = await createFixture('report_queries');
    await fx.pool.query(TRANSACTIONS_DDL);
    await fx.pool.query(
      `INSERT INTO transactions VALUES
       (1, '2026-03-29', '2026-03-29 00:30:00 Europe/London', 'comma, "quoted"', '1.5000'),
       (2, '2026-03-29', '2026-03-29 12:00:00 Europe/London', NULL, '-2.0000'),
       (3, '2026-03-30', '2026-03-30 00:00:00 Europe/London', 'next day', '3.0000')`,
    );
  });
  afterAll(async () => {
    await fx?.close();
  });

  const reportFor = (name: string, query: string) => ({
    ...fx.baseReport(),
    name,
    query,
    fileName: `${name}_{yyyy}{MM}{dd}.csv`,
    // Config load refuses a query without $1 unless told (issue 8); here the server decides.
    ...(/\$1::date/.test(query) ? {} : { allowQueryWithoutDate: true }),
  });

  it('check prepares each query and run delivers PostgreSQL’s own CSV for every one of them', async () => {
    const config = await fx.writeConfig({
      reports: Object.entries(SUPPORTED).map(([name, query]) => reportFor(name, query)),
    });
    const check = await runCli(['check', '--config', config], fx.env);
    expect(check.code, check.stdout + check.stderr).toBe(0);
    expect(check.stdout).toMatch(/^ok +query trailing-comment: prepared; \$1 is the report date$/m);
    expect(check.stdout).toMatch(/^ok +query dollar-one-in-comment-and-string: prepared; does not use \$1/m);

    const run = await runCli(['run', '--config', config, '--date', DATE], fx.env, { timeoutMs: 120_000 });
    expect(run.code, run.stdout + run.stderr).toBe(0);
    for (const [name, query] of Object.entries(SUPPORTED)) {
      const file = await readFile(path.join(fx.sftpDir, `${name}_20260329.csv`));
      const oracle = await oracleCsv(fx.pool, forOracle(query), 'Europe/London');
      expect(file.toString('utf8'), name).toBe(oracle.toString('utf8'));
    }
    // The anonymous ROW keeps its timestamptz rendered in the report's zone, as COPY prints it.
    const rowFile = await readFile(path.join(fx.sftpDir, 'anonymous-row_20260329.csv'), 'utf8');
    expect(rowFile).toContain('2026-03-29 00:30:00+00');
  });

  it('check fails, exit 1, naming the report, for a query that modifies data, a syntax error, a missing column or a second statement', async () => {
    const refused: Record<string, [string, RegExp]> = {
      'modifies-data': [
        `WITH touched AS (UPDATE transactions SET description = description WHERE booked_on = $1::date RETURNING id)
         SELECT id FROM touched ORDER BY id`,
        /modifies data .*must only read/,
      ],
      'syntax-error': [`SELECT id FROM transactions WHERE booked_on = $1::date ORDER BY`, /syntax error/],
      'two-statements': [`SELECT 1; DELETE FROM transactions`, /more than one statement/],
      'missing-column': [
        `SELECT id, no_such_column FROM transactions WHERE booked_on = $1::date -- last line`,
        /report query was refused: column "no_such_column" does not exist/,
      ],
    };
    const config = await fx.writeConfig({
      reports: Object.entries(refused).map(([name, [query]]) => reportFor(name, query)),
    });
    const check = await runCli(['check', '--config', config], fx.env);
    expect(check.code, check.stdout + check.stderr).toBe(1);
    for (const [name, [, message]] of Object.entries(refused)) {
      const line = check.stdout.split('\n').find((l) => l.startsWith(`FAILED query ${name}:`));
      expect(line, `${name}\n${check.stdout}`).toMatch(message);
    }
    const { rows } = await fx.pool.query('SELECT count(*)::int AS n FROM transactions');
    expect(rows[0].n, 'check executed nothing').toBe(3);
  });

  it('run refuses a data-modifying query at once (not retried), and the data is untouched', async () => {
    const config = await fx.writeConfig({
      reports: [
        reportFor(
          'modifies-data',
          `WITH gone AS (DELETE FROM transactions WHERE booked_on = $1::date RETURNING id) SELECT id FROM gone`,
        ),
      ],
    });
    const run = await runCli(['run', '--config', config, '--date', DATE], fx.env);
    expect(run.code).toBe(1);
    expect(run.stdout + run.stderr).toMatch(/modifies data/);
    const { rows } = await fx.pool.query(
      `SELECT e.failure_details FROM end_of_day_reporting_event e JOIN end_of_day_reporting p USING (process_id)
       WHERE p.report = 'modifies-data' AND e.status = 'ROWS_CREATION_FAILURE'`,
    );
    expect(rows).toHaveLength(1);
    expect(rows[0].failure_details).toMatch(/modifies data/);
    const left = await fx.pool.query('SELECT count(*)::int AS n FROM transactions');
    expect(left.rows[0].n).toBe(3);
  });
});
