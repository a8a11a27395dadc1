import type pg from 'pg';

export interface PruneCandidate {
  processId: string;
  report: string;
  date: string;
}

/**
 * Days whose capture may go: archived (REPORT_ARCHIVED exists, so submitted too), report date more
 * than `days` days before the database's current date, capture still there. Oldest first.
 */
export async function pruneCandidates(
  db: pg.ClientBase | pg.Pool,
  days: number,
  limit: number,
): Promise<PruneCandidate[]> {
  const { rows } = await db.query<{ process_id: string; report: string; date: string }>(
    `SELECT p.process_id, p.report, p.date::text AS date FROM end_of_day_reporting p
     WHERE p.capture_dropped_at IS NULL AND p.date < current_date - $1::int
       AND EXISTS (SELECT 1 FROM end_of_day_reporting_event e
                   WHERE e.process_id = p.process_id AND e.status = 'REPORT_ARCHIVED')
     ORDER BY p.date LIMIT $2`,
    [days, limit],
  );
  return rows.map((r) => ({ processId: r.process_id, report: r.report, date: r.date }));
}

/** Records that the capture of a process is gone; false when it already was. */
export async function markCaptureDropped(db: pg.ClientBase, processId: string): Promise<boolean> {
  const { rowCount } = await db.query(
    `UPDATE end_of_day_reporting SET capture_dropped_at = now()
     WHERE process_id = $1::bigint AND capture_dropped_at IS NULL`,
    [processId],
  );
  return rowCount === 1;
}

/** When the capture of a process was dropped, or null while it is kept. */
export async function captureDroppedAt(db: pg.ClientBase | pg.Pool, processId: string): Promise<Date | null> {
  const { rows } = await db.query<{ capture_dropped_at: Date | null }>(
    'SELECT capture_dropped_at FROM end_of_day_reporting WHERE process_id = $1::bigint',
    [processId],
  );
  return rows[0]?.capture_dropped_at ?? null;
}
