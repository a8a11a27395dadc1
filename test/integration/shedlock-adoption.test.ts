/**
 * An existing ShedLock table is adopted by `migrate` (issue 9, item 10; PRODUCT.md §4): Java
 * services using ShedLock's JDBC provider and eod-report share it. ShedLock's table has
 * TIMESTAMP (without time zone) columns holding UTC wall-clock time; the sessions here run in
 * Asia/Tokyo (UTC+9) so that reading those values as local time would be 9 hours off.
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LeaseLock } from '../../src/adapters/lock/lease-lock.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { createFixture, type Fixture, runCli, TRANSACTIONS_DDL } from '../helpers/fixture.js';

// ShedLock's documented PostgreSQL table (README of lukas-krecan/ShedLock, JdbcTemplateLockProvider).
const SHEDLOCK_DDL = `CREATE TABLE shedlock (
  name VARCHAR(64) NOT NULL, lock_until TIMESTAMP NOT NULL, locked_at TIMESTAMP NOT NULL,
  locked_by VARCHAR(255) NOT NULL, PRIMARY KEY (name))`;

// ShedLock's own statements for PostgreSQL with usingDbTime() (PostgresSqlServerTimeStatementsSource).
const JAVA_INSERT = `INSERT INTO shedlock(name, lock_until, locked_at, locked_by)
  VALUES($1, timezone('utc', CURRENT_TIMESTAMP) + cast($2 as interval), timezone('utc', CURRENT_TIMESTAMP), $3)
  ON CONFLICT (name) DO UPDATE
  SET lock_until = timezone('utc', CURRENT_TIMESTAMP) + cast($2 as interval),
      locked_at = timezone('utc', CURRENT_TIMESTAMP), locked_by = $3
  WHERE shedlock.lock_until <= timezone('utc', CURRENT_TIMESTAMP)`;

describe('migrate adopts a ShedLock table created by ShedLock itself', () => {
  let fx: Fixture;
  let db: TestDatabase;
  let pool: pg.Pool;
  let config: string;

  beforeAll(async () => {
    fx = await createFixture('shedlock_adoption');
    db = await createTestDatabase('shedlock_java');
    const admin = new pg.Client({ connectionString: db.url });
    await admin.connect();
    try {
      const name = (await admin.query('SELECT current_database() AS d')).rows[0].d as string;
      await admin.query(`ALTER DATABASE ${pg.escapeIdentifier(name)} SET TimeZone = 'Asia/Tokyo'`);
    } finally {
      await admin.end();
    }
    pool = new pg.Pool({ connectionString: db.url, max: 4 });
    await pool.query(SHEDLOCK_DDL);
    await pool.query(TRANSACTIONS_DDL);
    await pool.query(
      `INSERT INTO transactions VALUES (1, '2026-03-29', '2026-03-29 10:00:00+00', 'one', '1.0000')`,
    );
    // A Java service's lock, taken 10 s ago for 10 minutes, written in UTC as ShedLock writes it.
    await pool.query(
      `INSERT INTO shedlock VALUES ('java-nightly-job', timezone('utc', now()) + interval '10 minutes',
        timezone('utc', now()) - interval '10 seconds', 'java-host-1')`,
    );
    config = await fx.writeConfig({ top: { database: { url: db.url } } });
  });
  afterAll(async () => {
    await pool?.end();
    await db?.drop();
    await fx?.close();
  });

  it('migrate succeeds, keeps ShedLock’s columns and rows, and adds the fencing token', async () => {
    const result = await runCli(['migrate', '--config', config], fx.env);
    expect(result.code, result.stdout + result.stderr).toBe(0);
    const columns = await pool.query(
      `SELECT column_name, data_type FROM information_schema.columns
       WHERE table_name = 'shedlock' ORDER BY ordinal_position`,
    );
    expect(columns.rows).toEqual([
      { column_name: 'name', data_type: 'character varying' },
      { column_name: 'lock_until', data_type: 'timestamp without time zone' },
      { column_name: 'locked_at', data_type: 'timestamp without time zone' },
      { column_name: 'locked_by', data_type: 'character varying' },
      { column_name: 'fencing_token', data_type: 'bigint' },
      // When our holder released the lease (0012); ShedLock ignores it and leaves it NULL.
      { column_name: 'released_at', data_type: 'timestamp with time zone' },
    ]);
    const java = await pool.query(`SELECT locked_by FROM shedlock WHERE name = 'java-nightly-job'`);
    expect(java.rows).toEqual([{ locked_by: 'java-host-1' }]);
    const again = await runCli(['migrate', '--config', config], fx.env);
    expect(again.code).toBe(0);
    expect(again.stdout).toMatch(/schema is up to date/);
  });

  it('a lock a Java service holds (UTC wall time) is respected, and a lapsed one is taken over', async () => {
    const lock = new LeaseLock(pool, {
      instanceId: 'eod-1',
      atMostForMs: 60_000,
      atLeastForMs: 0,
      renewEveryMs: 20_000,
      safetyMarginMs: 20_000,
    });
    // Held for 10 more minutes in UTC; read as Tokyo time it would have lapsed 9 hours ago.
    expect(await lock.tryAcquire('java-nightly-job')).toBeNull();

    await pool.query(
      `UPDATE shedlock SET lock_until = timezone('utc', now()) - interval '1 second' WHERE name = 'java-nightly-job'`,
    );
    const held = await lock.tryAcquire('java-nightly-job');
    expect(held).not.toBeNull();
    try {
      const { rows } = await pool.query(
        `SELECT lock_until - timezone('utc', now()) AS left, locked_by FROM shedlock WHERE name = 'java-nightly-job'`,
      );
      // Written as UTC wall time, as ShedLock writes it: about a minute from now, in UTC.
      expect(rows[0].locked_by).toBe('eod-1');
      const left = rows[0].left as { minutes?: number; seconds?: number; hours?: number };
      expect(left.hours ?? 0).toBe(0);
      expect((left.minutes ?? 0) * 60 + (left.seconds ?? 0)).toBeGreaterThan(50);
      await held?.assertHeld();
      // The renewal before an act measures what is left in the column's own clock (UTC wall time).
      await held?.renewBeforeAct();

      // ShedLock (Java) tries the same lock with its own statement: refused while we hold it.
      const java = await pool.query(JAVA_INSERT, ['java-nightly-job', '5 minutes', 'java-host-2']);
      expect(java.rowCount).toBe(0);
    } finally {
      await held?.release();
    }
    // Released (atLeastFor 0): ShedLock can take it at once.
    const java = await pool.query(JAVA_INSERT, ['java-nightly-job', '5 minutes', 'java-host-2']);
    expect(java.rowCount).toBe(1);
  });

  it('run completes a report on the adopted table, leaving the Java rows alone', async () => {
    const before = await pool.query(`SELECT * FROM shedlock WHERE name = 'java-nightly-job'`);
    const result = await runCli(['run', '--config', config, '--date', '2026-03-29'], fx.env);
    expect(result.code, result.stdout + result.stderr).toBe(0);
    expect(result.stdout).toMatch(/eod-tx 2026-03-29: complete/);
    const after = await pool.query(`SELECT * FROM shedlock WHERE name = 'java-nightly-job'`);
    expect(after.rows).toEqual(before.rows);
    const ours = await pool.query(
      `SELECT locked_at <= timezone('utc', now()) AND locked_at > timezone('utc', now()) - interval '5 minutes' AS utc
       FROM shedlock WHERE name = 'eod-report:eod-tx'`,
    );
    expect(ours.rows).toEqual([{ utc: true }]);
  });
});
