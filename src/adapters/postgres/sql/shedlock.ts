import type pg from 'pg';

/**
 * ShedLock's protocol on its own table, with database time only, never the client's clock:
 * insert, or take over a lapsed lock; each acquisition increments the fencing token.
 * Lock times are read and written through eod_report_lock_now() (migration 0007), which is in
 * the columns' own type: TIMESTAMPTZ in the table we create, UTC wall-clock TIMESTAMP in a table
 * ShedLock created, so no statement depends on the session's TimeZone.
 */
export async function acquireLease(
  db: pg.ClientBase | pg.Pool,
  lease: { name: string; holder: string; atMostForMs: number },
): Promise<{ token: string; lockUntil: Date } | null> {
  const { rows } = await db.query<{ fencing_token: string; lock_until: Date }>(
    `INSERT INTO shedlock AS s (name, lock_until, locked_at, locked_by, fencing_token)
     VALUES ($1, eod_report_lock_now() + $2 * interval '1 millisecond', eod_report_lock_now(), $3, 1)
     ON CONFLICT (name) DO UPDATE
       SET lock_until = EXCLUDED.lock_until, locked_at = EXCLUDED.locked_at,
           locked_by = EXCLUDED.locked_by, fencing_token = s.fencing_token + 1
       WHERE s.lock_until <= eod_report_lock_now()
     RETURNING fencing_token, eod_report_lock_instant(lock_until) AS lock_until`,
    [lease.name, lease.atMostForMs, lease.holder],
  );
  const row = rows[0];
  return row ? { token: row.fencing_token, lockUntil: row.lock_until } : null;
}

/** Extends a lease we still hold; false when it lapsed or was taken over. */
export async function renewLease(
  db: pg.ClientBase | pg.Pool,
  lease: { name: string; token: string; atMostForMs: number },
): Promise<boolean> {
  const { rowCount } = await db.query(
    `UPDATE shedlock SET lock_until = eod_report_lock_now() + $3 * interval '1 millisecond'
     WHERE name = $1 AND fencing_token = $2::bigint AND lock_until > eod_report_lock_now()`,
    [lease.name, lease.token, lease.atMostForMs],
  );
  return rowCount === 1;
}

/** ShedLock's unlock: the lock stays taken until lockAtLeastFor after acquisition. */
export async function releaseLease(
  db: pg.ClientBase | pg.Pool,
  lease: { name: string; token: string; atLeastForMs: number },
): Promise<void> {
  await db.query(
    `UPDATE shedlock
     SET lock_until = GREATEST(eod_report_lock_now(), locked_at + $3 * interval '1 millisecond')
     WHERE name = $1 AND fencing_token = $2::bigint AND lock_until > eod_report_lock_now()`,
    [lease.name, lease.token, lease.atLeastForMs],
  );
}
