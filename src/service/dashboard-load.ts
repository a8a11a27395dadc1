import type pg from 'pg';
import { firstProcessDate } from '../adapters/postgres/sql/history.js';
import { processesBetween } from '../adapters/postgres/sql/monitoring.js';
import type { ReportConfig } from '../config/schema.js';
import { previousLocalDate } from '../core/report-date.js';
import { latestDueDate, scheduledDatesBefore } from '../core/schedule-dates.js';
import type { ReportHistory } from '../ports.js';
import { type ReportView, reportView, responsibleFrom } from './dashboard-model.js';
import { missingDatesOf } from './missing-dates.js';

/** The views of every report for its last `days` scheduled dates (newest first) at database time
 * `now`, none before the report is responsible for them (dashboard-model `responsibleFrom`), with
 * the dates that left the catch-up window incomplete when `history` is given. */
export async function loadReportViews(
  pool: pg.Pool,
  reports: readonly ReportConfig[],
  now: Date,
  days: number,
  history?: ReportHistory,
): Promise<ReportView[]> {
  return Promise.all(
    reports.map(async (report) => {
      const newest = latestDueDate(report, now) ?? previousLocalDate(now, report.timezone);
      const dates = [newest, ...scheduledDatesBefore(report, newest, days - 1)];
      const oldest = dates.at(-1) ?? newest;
      const processes = await processesBetween(pool, report.name, oldest, newest);
      const missing = history ? await missingDatesOf(history, report, now) : [];
      const from = responsibleFrom(report, await firstProcessDate(pool, report.name), newest);
      return reportView(report, processes, { newest, days, now, dates, missing, responsibleFrom: from });
    }),
  );
}
