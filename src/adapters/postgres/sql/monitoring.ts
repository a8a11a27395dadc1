import type pg from 'pg';
import type { RunEvent } from '../../../core/events.js';
import { listEvents } from './events.js';

/**
 * Newest success of each step, per report (any date): one row per (report, step) from the table
 * the event trigger keeps (migration 0009), so a scrape never aggregates the event table.
 */
export async function lastSuccesses(
  db: pg.Pool | pg.ClientBase,
  reports: readonly string[],
): Promise<{ report: string; status: string; at: Date }[]> {
  const { rows } = await db.query<{ report: string; status: string; at: Date }>(
    `SELECT report, status::text AS status, at FROM end_of_day_reporting_last_success
     WHERE report = ANY($1::text[])`,
    [reports],
  );
  return rows;
}

/**
 * Rows and bytes captured for the newest captured date of each report: per report, its dates
 * newest first (the (report, date) index) until one has ROWS_CREATED (the one-success index).
 */
export async function lastCaptures(
  db: pg.Pool | pg.ClientBase,
  reports: readonly string[],
): Promise<{ report: string; rows: number; bytes: number }[]> {
  const { rows } = await db.query<{ report: string; rows: string; bytes: string }>(
    `SELECT r.report, c.facts->>'rows' AS rows, c.facts->>'bytes' AS bytes
     FROM unnest($1::text[]) AS r(report)
     CROSS JOIN LATERAL (
       SELECT e.facts FROM end_of_day_reporting p
       JOIN end_of_day_reporting_event e ON e.process_id = p.process_id AND e.status = 'ROWS_CREATED'
       WHERE p.report = r.report
       ORDER BY p.date DESC LIMIT 1) AS c`,
    [reports],
  );
  return rows.map((r) => ({ report: r.report, rows: Number(r.rows), bytes: Number(r.bytes) }));
}

/** The processes of one report between two dates (inclusive) with their events. */
export async function processesBetween(
  db: pg.Pool | pg.ClientBase,
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

export async function wasSubmitted(
  db: pg.Pool | pg.ClientBase,
  report: string,
  date: string,
): Promise<boolean> {
  const { rows } = await db.query(
    `SELECT 1 FROM end_of_day_reporting p JOIN end_of_day_reporting_event e USING (process_id)
     WHERE p.report = $1 AND p.date = $2::date AND e.status = 'REPORT_SUBMITTED'`,
    [report, date],
  );
  return rows.length > 0;
}
