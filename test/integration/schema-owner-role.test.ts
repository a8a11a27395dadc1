/**
 * A role that owns only its own schema, without CREATE on the database (issue 9, item 12): it can
 * migrate and run, captured rows go to its schema, and `check` names a privilege it lacks.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { createFixture, type Fixture, runCli, TRANSACTIONS_DDL } from '../helpers/fixture.js';

describe('a role that owns only its schema', () => {
  let fx: Fixture;
  let db: TestDatabase;
  let admin: pg.Pool;
  let owner: pg.Pool;
  let roleUrl: string;
  const role = `eod_owner_${randomBytes(4).toString('hex')}`;
  const password = randomBytes(12).toString('hex');

  beforeAll(async () => {
    fx = await createFixture('schema_owner');
    db = await createTestDatabase('schema_owner_db');
    admin = new pg.Pool({ connectionString: db.url, max: 2 });
    const dbName = new URL(db.url).pathname.slice(1);
    await admin.query(`CREATE ROLE ${role} LOGIN PASSWORD '${password}'`);
    // What a DBA typically grants: a schema of its own, nothing on the database but CONNECT.
    await admin.query(`REVOKE ALL ON DATABASE ${pg.escapeIdentifier(dbName)} FROM PUBLIC`);
    await admin.query(`GRANT CONNECT ON DATABASE ${pg.escapeIdentifier(dbName)} TO ${role}`);
    await admin.query(`CREATE SCHEMA ${role} AUTHORIZATION ${role}`);
    // A schema someone else owns, for the missing-privilege case.
    await admin.query('CREATE SCHEMA shared_rows');
    const url = new URL(db.url);
    url.username = role;
    url.password = password;
    roleUrl = url.toString();
    owner = new pg.Pool({ connectionString: roleUrl, max: 2 });
    await owner.query(TRANSACTIONS_DDL);
    await owner.query(
      `INSERT INTO transactions VALUES (1, '2026-03-29', '2026-03-29 10:00:00+00', 'one', '1.0000')`,
    );
  });
  afterAll(async () => {
    await owner?.end();
    await admin?.end();
    await db?.drop();
    const cluster = new pg.Client({ connectionString: fx.db.url });
    await cluster.connect();
    await cluster.query(`DROP ROLE IF EXISTS ${role}`).catch(() => undefined);
    await cluster.end();
    await fx?.close();
  });

  it('has no CREATE on the database (the premise)', async () => {
    const { rows } = await owner.query(
      `SELECT has_database_privilege(current_database(), 'CREATE') AS create, current_schema() AS schema`,
    );
    expect(rows).toEqual([{ create: false, schema: role }]);
  });

  it('migrates, checks and runs a report, its captured rows in its own schema', async () => {
    const config = await fx.writeConfig({ top: { database: { url: roleUrl } } });
    const migrate = await runCli(['migrate', '--config', config], fx.env);
    expect(migrate.code, migrate.stdout + migrate.stderr).toBe(0);

    const check = await runCli(['check', '--config', config], fx.env);
    expect(check.code, check.stdout + check.stderr).toBe(0);
    expect(check.stdout).toMatch(new RegExp(`^ok +database: .*captured rows in schema ${role}\\)$`, 'm'));
    expect(check.stdout).not.toContain(password);

    const run = await runCli(['run', '--config', config, '--date', '2026-03-29'], fx.env);
    expect(run.code, run.stdout + run.stderr).toBe(0);
    // The capture is the rendered CSV in our own content table (in the role's schema); no
    // table is created per day, so no CREATE is needed at run time.
    const { rows } = await owner.query(
      `SELECT schemaname, tablename FROM pg_tables WHERE tablename LIKE 'end_of_day_reporting_rows%'`,
    );
    expect(rows).toEqual([]);
    const stored = await owner.query(
      `SELECT c.relnamespace::regnamespace::text AS schema, count(*)::int AS chunks
       FROM end_of_day_reporting_content, pg_class c
       WHERE c.oid = 'end_of_day_reporting_content'::regclass GROUP BY 1`,
    );
    expect(stored.rows).toEqual([{ schema: role, chunks: expect.any(Number) }]);
    expect(stored.rows[0].chunks).toBeGreaterThan(0);
  });

  it('check names the privilege missing on a configured rows schema, exit 1', async () => {
    const config = await fx.writeConfig({
      top: { database: { url: roleUrl, rowsSchema: 'shared_rows' } },
    });
    const check = await runCli(['check', '--config', config], fx.env);
    expect(check.code, check.stdout + check.stderr).toBe(1);
    const line = check.stdout.split('\n').find((l) => l.startsWith('FAILED database:'));
    expect(line).toContain(`role "${role}" lacks`);
    // Captures create no tables since migration 0010: CREATE is not asked for.
    expect(line).not.toContain('CREATE on schema shared_rows');
    expect(line).toContain('USAGE on schema shared_rows');
    expect(line).toContain('database.rowsSchema');
  });
});
