import type pg from 'pg';

/** The database's clock: `now()`, the time leases and event timestamps are written with. */
export async function databaseNow(db: pg.Pool | pg.ClientBase): Promise<Date> {
  const { rows } = await db.query<{ now: Date }>('SELECT now() AS now');
  const now = rows[0]?.now;
  if (!(now instanceof Date)) throw new Error('SELECT now() returned no timestamp');
  return now;
}
