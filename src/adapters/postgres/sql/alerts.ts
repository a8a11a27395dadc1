/**
 * The alert outbox (table end_of_day_reporting_alert, migrations 0006 and 0013): one row per
 * (report, date, kind). Inserting the row claims the alert; `sent_at` says it went out. An unsent
 * claim older than the re-claim age may be claimed again by any instance.
 */
import type pg from 'pg';

export interface AlertKey {
  report: string;
  /** YYYY-MM-DD */
  date: string;
  kind: string;
}

/** Claims the right to send an alert; true for exactly one caller per (report, date, kind). */
export async function claimAlert(
  db: pg.Pool,
  alert: AlertKey & { instanceId: string; text: string },
): Promise<boolean> {
  const { rowCount } = await db.query(
    `INSERT INTO end_of_day_reporting_alert (report, date, kind, claimed_by, text) VALUES ($1, $2::date, $3, $4, $5)
     ON CONFLICT (report, date, kind) DO NOTHING`,
    [alert.report, alert.date, alert.kind, alert.instanceId, alert.text],
  );
  return rowCount === 1;
}

/**
 * Claims, for `instanceId`, up to `limit` unsent alerts whose claim is older than `olderThanMs`
 * (database time), oldest first. Rows another transaction is claiming are skipped, so two
 * instances never take the same row.
 */
export async function reclaimAlerts(
  db: pg.Pool,
  options: { instanceId: string; olderThanMs: number; limit: number },
): Promise<(AlertKey & { text: string; previousClaimer: string })[]> {
  const { rows } = await db.query<AlertKey & { text: string; previousClaimer: string }>(
    `WITH stale AS (
       SELECT report, date, kind, claimed_by FROM end_of_day_reporting_alert
       WHERE sent_at IS NULL AND text IS NOT NULL
         AND claimed_at < now() - $2::bigint * interval '1 millisecond'
       ORDER BY claimed_at LIMIT $3
       FOR UPDATE SKIP LOCKED)
     UPDATE end_of_day_reporting_alert a SET claimed_by = $1, claimed_at = now()
     FROM stale
     WHERE a.report = stale.report AND a.date = stale.date AND a.kind = stale.kind AND a.sent_at IS NULL
     RETURNING a.report, a.date::text AS date, a.kind, a.text, stale.claimed_by AS "previousClaimer"`,
    [options.instanceId, Math.round(options.olderThanMs), options.limit],
  );
  return rows;
}

/**
 * Records the outcome of `attempts` sends. A success marks the alert sent whoever holds the claim
 * now (it went out: nobody may send it again); a failure is recorded only while the claim is still
 * `instanceId`'s, so it does not overwrite a newer claimer's outcome.
 */
export async function recordAlertDelivery(
  db: pg.Pool,
  alert: AlertKey & { instanceId: string; attempts: number; error: string | null },
): Promise<void> {
  await db.query(
    `UPDATE end_of_day_reporting_alert
     SET attempts = attempts + $5, last_error = $6, sent_at = CASE WHEN $6::text IS NULL THEN now() END
     WHERE report = $1 AND date = $2::date AND kind = $3 AND sent_at IS NULL
       AND ($6::text IS NULL OR claimed_by = $4)`,
    [alert.report, alert.date, alert.kind, alert.instanceId, alert.attempts, alert.error],
  );
}
