import type pg from 'pg';
import { processesBetween } from '../adapters/postgres/sql/monitoring.js';
import type { ReportConfig } from '../config/schema.js';
import { addDays, previousLocalDate } from '../core/report-date.js';
import { type ReportView, reportView } from './dashboard-model.js';
import { latestDueDate } from './due-dates.js';

/** The views of every report for its last `days` due dates (newest first). */
export async function loadReportViews(
  pool: pg.Pool,
  reports: readonly ReportConfig[],
  now: Date,
  days: number,
): Promise<ReportView[]> {
  return Promise.all(
    reports.map(async (report) => {
      const newest = latestDueDate(report, now) ?? previousLocalDate(now, report.timezone);
      const processes = await processesBetween(pool, report.name, addDays(newest, -(days - 1)), newest);
      return reportView(report, processes, { newest, days, now });
    }),
  );
}
