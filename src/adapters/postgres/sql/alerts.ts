import type pg from 'pg';

/** Claims the right to send an alert; true for exactly one caller per (report, date, kind). */
export async function claimAlert(
  db: pg.Pool,
  alert: { report: string; date: string; kind: string; instanceId: string },
): Promise<boolean> {
  const { rowCount } = await db.query(
    `INSERT INTO end_of_day_reporting_alert (report, date, kind, claimed_by) VALUES ($1, $2::date, $3, $4)
     ON CONFLICT (report, date, kind) DO NOTHING`,
    [alert.report, alert.date, alert.kind, alert.instanceId],
  );
  return rowCount === 1;
}

export async function recordAlertDelivery(
  db: pg.Pool,
  alert: { report: string; date: string; kind: string; attempts: number; error: string | null },
): Promise<void> {
  await db.query(
    `UPDATE end_of_day_reporting_alert
     SET attempts = $4, last_error = $5, sent_at = CASE WHEN $5::text IS NULL THEN now() END
     WHERE report = $1 AND date = $2::date AND kind = $3`,
    [alert.report, alert.date, alert.kind, alert.attempts, alert.error],
  );
}
