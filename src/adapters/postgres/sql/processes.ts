import type pg from 'pg';
import type { ProcessRef } from '../../../ports.js';

interface ProcessRow {
  process_id: string;
  report: string;
  date: string;
}

const toRef = (row: ProcessRow): ProcessRef => ({
  processId: row.process_id,
  report: row.report,
  date: row.date,
});

/** One process per (report, date): the unique constraint decides between concurrent creators. */
export async function findOrCreateProcess(
  db: pg.ClientBase | pg.Pool,
  report: string,
  date: string,
): Promise<ProcessRef> {
  const { rows } = await db.query<ProcessRow>(
    `WITH created AS (
       INSERT INTO end_of_day_reporting (report, date) VALUES ($1, $2::date)
       ON CONFLICT (report, date) DO NOTHING
       RETURNING process_id, report, date::text AS date)
     SELECT * FROM created
     UNION ALL
     SELECT process_id, report, date::text FROM end_of_day_reporting WHERE report = $1 AND date = $2::date
     LIMIT 1`,
    [report, date],
  );
  if (rows[0]) return toRef(rows[0]);
  // The conflicting insert committed after our snapshot was taken: it is visible now.
  const again = await findProcess(db, report, date);
  if (!again) throw new Error(`process for ${report} ${date} vanished while being created`);
  return again;
}

export async function findProcess(
  db: pg.ClientBase | pg.Pool,
  report: string,
  date: string,
): Promise<ProcessRef | null> {
  const { rows } = await db.query<ProcessRow>(
    'SELECT process_id, report, date::text AS date FROM end_of_day_reporting WHERE report = $1 AND date = $2::date',
    [report, date],
  );
  return rows[0] ? toRef(rows[0]) : null;
}

export interface ProcessSummary extends ProcessRef {
  createdAt: Date;
}

/** Recent processes, newest date first, optionally for one report and/or date. */
export async function listProcesses(
  db: pg.ClientBase | pg.Pool,
  filter: { report?: string; date?: string; limit: number },
): Promise<ProcessSummary[]> {
  const { rows } = await db.query<ProcessRow & { created_at: Date }>(
    `SELECT process_id, report, date::text AS date, created_at FROM end_of_day_reporting
     WHERE ($1::text IS NULL OR report = $1) AND ($2::date IS NULL OR date = $2::date)
     ORDER BY date DESC, report LIMIT $3`,
    [filter.report ?? null, filter.date ?? null, filter.limit],
  );
  return rows.map((r) => ({ ...toRef(r), createdAt: r.created_at }));
}
