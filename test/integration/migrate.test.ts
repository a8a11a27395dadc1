import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrate, readMigrations } from '../../src/adapters/postgres/migrate.js';
import { isEodError } from '../../src/core/errors.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { createFixture, type Fixture, runCli } from '../helpers/fixture.js';

describe('eod-report migrate', () => {
  let fx: Fixture;
  let empty: TestDatabase;
  let configPath: string;

  beforeAll(async () => {
    fx = await createFixture('migrate');
    empty = await createTestDatabase('migrate_empty');
    configPath = await fx.writeConfig({ top: { database: { url: empty.url } } });
  });
  afterAll(async () => {
    await empty?.drop();
    await fx?.close();
  });

  it('two processes started at the same moment both exit 0 and apply each migration once; a third changes nothing', async () => {
    const [a, b] = await Promise.all([
      runCli(['migrate', '--config', configPath], fx.env),
      runCli(['migrate', '--config', configPath], fx.env),
    ]);
    expect([a.code, b.code], a.stderr + b.stderr).toEqual([0, 0]);
    const applied = (a.stdout + b.stdout).match(/^applied \d{4}_\w+$/gm) ?? [];
    const known = await readMigrations();
    expect(applied.sort()).toEqual(
      known.map((m) => `applied ${String(m.version).padStart(4, '0')}_${m.name}`).sort(),
    );

    const third = await runCli(['migrate', '--config', configPath], fx.env);
    expect(third.code).toBe(0);
    expect(third.stdout).toMatch(`schema is up to date (migration ${known.length})`);

    const pg = await import('pg');
    const client = new pg.default.Client({ connectionString: empty.url });
    await client.connect();
    try {
      const ledger = await client.query(
        'SELECT version FROM end_of_day_reporting_migrations ORDER BY version',
      );
      expect(ledger.rows.map((r) => r.version)).toEqual(known.map((m) => m.version));
      const statuses = await client.query(
        `SELECT enumlabel FROM pg_enum WHERE enumtypid = 'end_of_day_report_status'::regtype ORDER BY enumsortorder`,
      );
      expect(statuses.rows.map((r) => r.enumlabel)).toEqual([
        'STARTED',
        'ROWS_CREATED',
        'ROWS_CREATION_FAILURE',
        'REPORT_ARCHIVED',
        'REPORT_ARCHIVING_FAILURE',
        'REPORT_SUBMITTED',
        'REPORT_SUBMISSION_FAILURE',
      ]);
      const shedlock = await client.query(
        `SELECT column_name, data_type, character_maximum_length FROM information_schema.columns
         WHERE table_name = 'shedlock' ORDER BY ordinal_position`,
      );
      expect(shedlock.rows.slice(0, 4)).toEqual([
        { column_name: 'name', data_type: 'character varying', character_maximum_length: 64 },
        { column_name: 'lock_until', data_type: 'timestamp with time zone', character_maximum_length: null },
        { column_name: 'locked_at', data_type: 'timestamp with time zone', character_maximum_length: null },
        { column_name: 'locked_by', data_type: 'character varying', character_maximum_length: 255 },
      ]);
    } finally {
      await client.end();
    }
  });

  it('enforces one process per (report, date) and one success event of each kind per process', async () => {
    const { rows } = await fx.pool.query(
      `INSERT INTO end_of_day_reporting (report, date) VALUES ('r', '2026-01-01') RETURNING process_id`,
    );
    const id = rows[0].process_id;
    await expect(
      fx.pool.query(`INSERT INTO end_of_day_reporting (report, date) VALUES ('r', '2026-01-01')`),
    ).rejects.toThrow(/duplicate key/);
    for (const status of [
      'STARTED',
      'STARTED',
      'ROWS_CREATION_FAILURE',
      'ROWS_CREATION_FAILURE',
      'ROWS_CREATED',
    ]) {
      await fx.pool.query('INSERT INTO end_of_day_reporting_event (process_id, status) VALUES ($1, $2)', [
        id,
        status,
      ]);
    }
    for (const status of ['ROWS_CREATED', 'REPORT_SUBMITTED', 'REPORT_ARCHIVED']) {
      if (status !== 'ROWS_CREATED') {
        await fx.pool.query('INSERT INTO end_of_day_reporting_event (process_id, status) VALUES ($1, $2)', [
          id,
          status,
        ]);
      }
      await expect(
        fx.pool.query('INSERT INTO end_of_day_reporting_event (process_id, status) VALUES ($1, $2)', [
          id,
          status,
        ]),
      ).rejects.toThrow(/end_of_day_reporting_event_one_success/);
    }
    await expect(
      fx.pool.query(
        `INSERT INTO end_of_day_reporting_event (process_id, status, failure_details) VALUES ($1, 'STARTED', $2)`,
        [id, 'x'.repeat(256)],
      ),
    ).rejects.toThrow(/too long/);
  });

  it('refuses a database whose schema is newer than the code', async () => {
    await fx.pool.query(
      `INSERT INTO end_of_day_reporting_migrations (version, name, sha256) VALUES (999, 'from_the_future', 'x')`,
    );
    try {
      const config = await fx.writeConfig();
      const result = await runCli(['migrate', '--config', config], fx.env);
      expect(result.code).toBe(1);
      expect(result.stderr).toMatch(/schema is at migration 999 \(from_the_future\).*upgrade eod-report/);
      const run = await runCli(['run', '--config', config, '--date', '2026-01-01'], fx.env);
      expect(run.code).toBe(1);
      expect(run.stderr).toMatch(/newer than this eod-report/);
    } finally {
      await fx.pool.query('DELETE FROM end_of_day_reporting_migrations WHERE version = 999');
    }
  });

  it('a command against an unmigrated database says to run migrate', async () => {
    const bare = await createTestDatabase('migrate_bare');
    try {
      const config = await fx.writeConfig({ top: { database: { url: bare.url } } });
      const result = await runCli(['run', '--config', config, '--date', '2026-01-01'], fx.env);
      expect(result.code).toBe(2);
      expect(result.stderr).toMatch(/run `eod-report migrate`/);
    } finally {
      await bare.drop();
    }
  });

  it('a migration that needs a table another session is using gives up after its lock timeout, applies nothing, and readers queue behind it no longer than that', async () => {
    const db = await createTestDatabase('migrate_busy');
    const pg = (await import('pg')).default;
    const holder = new pg.Client({ connectionString: db.url });
    const migrator = new pg.Client({ connectionString: db.url });
    const reader = new pg.Client({ connectionString: db.url });
    await Promise.all([holder.connect(), migrator.connect(), reader.connect()]);
    try {
      const all = await readMigrations();
      const dropsKey = all.find((m) => m.name === 'content_without_row_foreign_key');
      if (!dropsKey) throw new Error('migration 0014 not found');
      await migrate(migrator, all.slice(0, dropsKey.version - 1));
      // What a capture of an instance not yet upgraded holds for as long as it renders.
      await holder.query('BEGIN');
      await holder.query('LOCK TABLE end_of_day_reporting_content IN ROW EXCLUSIVE MODE');

      const attempt = migrate(migrator, all, { lockTimeoutMs: 1_500 }).then(
        () => undefined,
        (error: unknown) => error,
      );
      // While the migration waits, readers of the table queue behind it: for the lock timeout, not
      // for as long as the other session keeps the table (this reader would time out).
      await new Promise((resolve) => setTimeout(resolve, 300));
      await reader.query("SET statement_timeout = '5s'");
      await reader.query('SELECT count(*) FROM end_of_day_reporting_content');
      const error = await attempt;
      expect(isEodError(error) && error.code, String(error)).toBe('MIGRATION_FAILED');
      expect((error as Error).message).toMatch(
        /^migration 14 \(content_without_row_foreign_key\) waited 1500 ms for a table another session is using .*nothing changed.*run migrate again$/,
      );
      const ledger = await reader.query('SELECT max(version)::int AS v FROM end_of_day_reporting_migrations');
      expect(ledger.rows[0].v, 'nothing applied').toBe(dropsKey.version - 1);

      await holder.query('COMMIT');
      const result = await migrate(migrator, all, { lockTimeoutMs: 1_500 });
      expect(result.applied.map((m) => m.version)).toContain(dropsKey.version);
    } finally {
      await Promise.all([holder.end(), migrator.end(), reader.end()]);
      await db.drop();
    }
  });
});
