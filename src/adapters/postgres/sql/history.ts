import type pg from 'pg';
import type { ReportHistory } from '../../../ports.js';

/** The oldest date with a process row of `report`, or null. */
export async function firstProcessDate(db: pg.Pool, report: string): Promise<string | null> {
  const { rows } = await db.query<{ date: string | null }>(
    'SELECT min(date)::text AS date FROM end_of_day_reporting WHERE report = $1',
    [report],
  );
  return rows[0]?.date ?? null;
}

/** Dates on or after `from` that are archived, the last step (steps only succeed in order). */
export async function completeDatesSince(db: pg.Pool, report: string, from: string): Promise<Set<string>> {
  const { rows } = await db.query<{ date: string }>(
    `SELECT p.date::text AS date FROM end_of_day_reporting p
     WHERE p.report = $1 AND p.date >= $2::date
       AND EXISTS (SELECT 1 FROM end_of_day_reporting_event e
                   WHERE e.process_id = p.process_id AND e.status = 'REPORT_ARCHIVED')`,
    [report, from],
  );
  return new Set(rows.map((r) => r.date));
}

export function postgresReportHistory(db: pg.Pool): ReportHistory {
  return {
    firstProcessDate: (report) => firstProcessDate(db, report),
    completeDatesSince: (report, from) => completeDatesSince(db, report, from),
  };
}
