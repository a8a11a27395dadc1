/**
 * Issue 9, fault 3: `run` of every report. Report A's event log is inconsistent (an edit by hand:
 * REPORT_SUBMITTED without ROWS_CREATED), which makes its run throw; report B must still run and
 * complete, A is reported as failed, and `run` exits 1 at the end.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createFixture, type Fixture, runCli, TRANSACTIONS_DDL } from '../helpers/fixture.js';
import { expectInvariants } from '../helpers/invariants.js';

describe('run of every report (fault 3)', () => {
  let fx: Fixture;
  beforeAll(async () => {
    fx = await createFixture('every');
    await fx.pool.query(TRANSACTIONS_DDL);
    await fx.pool.query(
      `INSERT INTO transactions SELECT g, '2026-08-01', '2026-08-01'::date + g * interval '1 minute', 'tx ' || g, g
       FROM generate_series(1, 100) AS g`,
    );
  });
  afterAll(async () => {
    await fx?.close();
  });

  it("report A's odd event log does not stop report B; run exits 1 naming A", async () => {
    const date = '2026-08-01';
    const base = fx.baseReport();
    const config = await fx.writeConfig({
      reports: [
        { ...base, name: 'eod-a', fileName: 'a_{yyyy}{MM}{dd}.csv' },
        { ...base, name: 'eod-b', fileName: 'b_{yyyy}{MM}{dd}.csv' },
      ],
    });
    const { rows } = await fx.pool.query<{ process_id: string }>(
      `INSERT INTO end_of_day_reporting (report, date) VALUES ('eod-a', $1::date) RETURNING process_id`,
      [date],
    );
    await fx.pool.query(
      `INSERT INTO end_of_day_reporting_event (process_id, status, instance_id, facts)
       VALUES ($1, 'REPORT_SUBMITTED', 'by-hand', '{}')`,
      [rows[0]?.process_id],
    );

    const result = await runCli(['run', '--config', config, '--date', date], fx.env);
    expect(result.code, result.stderr.slice(-3000)).toBe(1);
    expect(result.stdout).toMatch(/eod-a 2026-08-01: failed: event log is inconsistent/);
    expect(result.stdout).toMatch(/eod-b 2026-08-01: complete/);
    await expectInvariants(fx, {
      report: 'eod-b',
      date,
      fileName: 'b_20260801.csv',
      key: 'eod/2026/08/b_20260801.csv',
    });
  });
});
