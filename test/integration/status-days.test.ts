import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { configSchema, type ReportConfig } from '../../src/config/schema.js';
import { addDays } from '../../src/core/report-date.js';
import { loadReportViews } from '../../src/service/dashboard-load.js';
import { createFixture, type Fixture } from '../helpers/fixture.js';

/** The status page's days come from the real tables: only days the report is responsible for. */
describe('status page days (real PostgreSQL)', () => {
  let fx: Fixture;
  const NOW = new Date('2026-06-15T12:00:00Z');
  // Schedule 00:00 Europe/London, previous-day: the newest due date at NOW is 2026-06-14.
  const NEWEST = '2026-06-14';
  beforeAll(async () => {
    fx = await createFixture('status-days');
  });
  afterAll(async () => {
    await fx?.close();
  });

  const report = (name: string, extra: Record<string, unknown> = {}): ReportConfig =>
    configSchema.parse({
      database: { url: 'postgres://unused@127.0.0.1/unused' },
      reports: [{ ...fx.baseReport(), name, ...extra }],
    }).reports[0] as ReportConfig;
  const datesOf = async (r: ReportConfig) => {
    const [view] = await loadReportViews(fx.pool, [r], NOW, 30);
    return view?.days.map((d) => `${d.date} ${d.state}`);
  };
  const addProcess = (name: string, date: string) =>
    fx.pool.query('INSERT INTO end_of_day_reporting (report, date) VALUES ($1, $2::date)', [name, date]);

  it('a report that never ran shows only its newest due date, not 29 grey missing days before it', async () => {
    expect(await datesOf(report('brand-new'))).toEqual([`${NEWEST} missing`]);
  });

  it('a report whose first process is 3 days back shows those days only, the gaps as missing', async () => {
    await addProcess('three-days', addDays(NEWEST, -3));
    await addProcess('three-days', addDays(NEWEST, -1));
    expect(await datesOf(report('three-days'))).toEqual([
      `${NEWEST} missing`,
      `${addDays(NEWEST, -1)} in-progress`,
      `${addDays(NEWEST, -2)} missing`,
      `${addDays(NEWEST, -3)} in-progress`,
    ]);
  });

  it('startDate makes the report responsible from that date, processes or not', async () => {
    const dates = await datesOf(report('started', { startDate: addDays(NEWEST, -4) }));
    expect(dates).toHaveLength(5);
    expect(dates?.at(-1)).toBe(`${addDays(NEWEST, -4)} missing`);
  });

  it('a report with a process older than the page shows the whole page', async () => {
    await addProcess('old-timer', addDays(NEWEST, -100));
    expect(await datesOf(report('old-timer'))).toHaveLength(30);
  });
});
