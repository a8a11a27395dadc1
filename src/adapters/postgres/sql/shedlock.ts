import type pg from 'pg';

/**
 * ShedLock's protocol on its own table, with database time only, never the client's clock:
 * insert, or take over a lapsed lock. Each acquisition takes a fresh fencing token from the
 * sequence end_of_day_reporting_fencing_token, so tokens grow strictly even when a row is
 * deleted by hand (migrations/0008).
 * Lock times are read and written through eod_report_lock_now() (migration 0007), which is in
 * the columns' own type: TIMESTAMPTZ in the table we create, UTC wall-clock TIMESTAMP in a table
 * ShedLock created, so no statement depends on the session's TimeZone.
 */
export async function acquireLease(
  db: pg.ClientBase | pg.Pool,
  lease: { name: string; holder: string; atMostForMs: number },
): Promise<{ token: string; lockUntil: Date } | null> {
  const { rows } = await db.query<{ fencing_token: string; lock_until: Date }>(
    `INSERT INTO shedlock AS s (name, lock_until, locked_at, locked_by, fencing_token, released_at)
     VALUES ($1, eod_report_lock_now() + $2 * interval '1 millisecond', eod_report_lock_now(), $3,
             nextval('end_of_day_reporting_fencing_token'), NULL)
     ON CONFLICT (name) DO UPDATE
       SET lock_until = EXCLUDED.lock_until, locked_at = EXCLUDED.locked_at,
           locked_by = EXCLUDED.locked_by, fencing_token = nextval('end_of_day_reporting_fencing_token'),
           released_at = NULL
       WHERE s.lock_until <= eod_report_lock_now()
     RETURNING fencing_token, eod_report_lock_instant(lock_until) AS lock_until`,
    [lease.name, lease.atMostForMs, lease.holder],
  );
  const row = rows[0];
  return row ? { token: row.fencing_token, lockUntil: row.lock_until } : null;
}

/**
 * Extends a lease we still hold. Returns the milliseconds left on it by database time at the
 * moment of the update, or null when it lapsed or was taken over.
 */
export async function renewLease(
  db: pg.ClientBase | pg.Pool,
  lease: { name: string; token: string; atMostForMs: number },
): Promise<number | null> {
  const { rows } = await db.query<{ remaining_ms: number }>(
    `UPDATE shedlock SET lock_until = eod_report_lock_now() + $3 * interval '1 millisecond'
     WHERE name = $1 AND fencing_token = $2::bigint AND lock_until > eod_report_lock_now()
     RETURNING (extract(epoch FROM lock_until - eod_report_lock_now()) * 1000)::float8 AS remaining_ms`,
    [lease.name, lease.token, lease.atMostForMs],
  );
  return rows[0] ? rows[0].remaining_ms : null;
}

/** A fresh acquisition token for locks that have no row of their own (the table strategy). */
export async function nextFencingToken(db: pg.ClientBase | pg.Pool): Promise<string> {
  const { rows } = await db.query<{ token: string }>(
    `SELECT nextval('end_of_day_reporting_fencing_token')::text AS token`,
  );
  return rows[0]?.token as string;
}

/** ShedLock's unlock: the lock stays taken until lockAtLeastFor after acquisition. */
export async function releaseLease(
  db: pg.ClientBase | pg.Pool,
  lease: { name: string; token: string; atLeastForMs: number },
): Promise<void> {
  await db.query(
    `UPDATE shedlock
     SET lock_until = GREATEST(eod_report_lock_now(), locked_at + $3 * interval '1 millisecond'),
         released_at = now()
     WHERE name = $1 AND fencing_token = $2::bigint AND lock_until > eod_report_lock_now()`,
    [lease.name, lease.token, lease.atLeastForMs],
  );
}

/** Who holds a lease and for how long yet, by database time (for the operator's "lock held"). */
export interface LeaseHolder {
  lockedBy: string;
  lockedAt: Date;
  lockUntil: Date;
  /** Milliseconds until the lease lapses unless renewed; ≤ 0 when it already has. */
  remainingMs: number;
  fencingToken: string | null;
  /** When its holder released it (migration 0012); null while held. A released lease stays
   * taken until locked_at + lock.atLeastFor only because of that setting. */
  releasedAt: Date | null;
}

/** Reads the lease row of `name`; null when there is none. */
export async function readLease(db: pg.ClientBase | pg.Pool, name: string): Promise<LeaseHolder | null> {
  const { rows } = await db.query<{
    locked_by: string;
    locked_at: Date;
    lock_until: Date;
    remaining_ms: number;
    fencing_token: string | null;
    released_at: Date | null;
  }>(
    `SELECT locked_by, eod_report_lock_instant(locked_at) AS locked_at,
            eod_report_lock_instant(lock_until) AS lock_until, fencing_token::text AS fencing_token, released_at,
            (extract(epoch FROM lock_until - eod_report_lock_now()) * 1000)::float8 AS remaining_ms
     FROM shedlock WHERE name = $1`,
    [name],
  );
  const row = rows[0];
  return row
    ? {
        lockedBy: row.locked_by,
        lockedAt: row.locked_at,
        lockUntil: row.lock_until,
        remainingMs: row.remaining_ms,
        fencingToken: row.fencing_token,
        releasedAt: row.released_at,
      }
    : null;
}
