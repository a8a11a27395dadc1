import type pg from 'pg';
import type { RunEvent } from '../../../core/events.js';
import { listEvents } from './events.js';

/** Unix time of the newest success of each step, per report (any date). */
export async function lastSuccesses(db: pg.Pool): Promise<{ report: string; status: string; at: Date }[]> {
  const { rows } = await db.query<{ report: string; status: string; at: Date }>(
    `SELECT p.report, e.status::text AS status, max(e.created_at) AS at
     FROM end_of_day_reporting_event e JOIN end_of_day_reporting p USING (process_id)
     WHERE e.status IN ('ROWS_CREATED', 'REPORT_SUBMITTED', 'REPORT_ARCHIVED')
     GROUP BY p.report, e.status`,
  );
  return rows;
}

/** Rows and bytes captured for the newest date of each report. */
export async function lastCaptures(db: pg.Pool): Promise<{ report: string; rows: number; bytes: number }[]> {
  const { rows } = await db.query<{ report: string; rows: string; bytes: string }>(
    `SELECT DISTINCT ON (p.report) p.report, e.facts->>'rows' AS rows, e.facts->>'bytes' AS bytes
     FROM end_of_day_reporting_event e JOIN end_of_day_reporting p USING (process_id)
     WHERE e.status = 'ROWS_CREATED'
     ORDER BY p.report, p.date DESC`,
  );
  return rows.map((r) => ({ report: r.report, rows: Number(r.rows), bytes: Number(r.bytes) }));
}

/** The processes of one report between two dates (inclusive) with their events. */
export async function processesBetween(
  db: pg.Pool,
  report: string,
  from: string,
  to: string,
): Promise<{ processId: string; date: string; events: RunEvent[] }[]> {
  const { rows } = await db.query<{ process_id: string; date: string }>(
    `SELECT process_id, date::text AS date FROM end_of_day_reporting
     WHERE report = $1 AND date BETWEEN $2::date AND $3::date ORDER BY date`,
    [report, from, to],
  );
  const events = await listEvents(
    db,
    rows.map((r) => r.process_id),
  );
  return rows.map((r) => ({
    processId: r.process_id,
    date: r.date,
    events: events.filter((e) => e.processId === r.process_id),
  }));
}

export async function wasSubmitted(db: pg.Pool, report: string, date: string): Promise<boolean> {
  const { rows } = await db.query(
    `SELECT 1 FROM end_of_day_reporting p JOIN end_of_day_reporting_event e USING (process_id)
     WHERE p.report = $1 AND p.date = $2::date AND e.status = 'REPORT_SUBMITTED'`,
    [report, date],
  );
  return rows.length > 0;
}
