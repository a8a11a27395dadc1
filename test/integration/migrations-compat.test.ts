/**
 * Databases as they exist (issue 9, item 11): a LATIN1 database is migrated and runs a report,
 * failure details over 255 characters (and characters LATIN1 lacks) are stored there; databases
 * that applied an older text of an edited migration still pass the append-only check.
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { SUPERSEDED_CHECKSUMS } from '../../src/adapters/postgres/migrate.js';
import { createFixture, type Fixture, runCli, TRANSACTIONS_DDL } from '../helpers/fixture.js';
import '../harness/provided.js';

describe('a LATIN1 database', () => {
  let fx: Fixture;
  let latin1Url: string;
  const name = `latin1_${Date.now().toString(36)}`;

  const admin = async <T>(work: (client: pg.Client) => Promise<T>): Promise<T> => {
    const client = new pg.Client({ connectionString: inject('pgAdminUrl') });
    await client.connect();
    try {
      return await work(client);
    } finally {
      await client.end();
    }
  };

  beforeAll(async () => {
    fx = await createFixture('latin1');
    await admin((c) =>
      c.query(`CREATE DATABASE ${name} ENCODING 'LATIN1' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0`),
    );
    const url = new URL(inject('pgAdminUrl'));
    url.pathname = `/${name}`;
    latin1Url = url.toString();
  });
  afterAll(async () => {
    await admin((c) => c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)).catch(() => undefined);
    await fx?.close();
  });

  it('is migrated, runs a report, and stores a long failure with characters LATIN1 lacks', async () => {
    const db = new pg.Client({ connectionString: latin1Url });
    await db.connect();
    try {
      expect((await db.query('SHOW server_encoding')).rows[0].server_encoding).toBe('LATIN1');
      await db.query(TRANSACTIONS_DDL);
      await db.query(
        `INSERT INTO transactions VALUES (1, '2026-03-29', '2026-03-29 10:00:00+00', 'Zürich', '1.0000')`,
      );
      const ok = await fx.writeConfig({ top: { database: { url: latin1Url } } });
      const migrate = await runCli(['migrate', '--config', ok], fx.env);
      expect(migrate.code, migrate.stdout + migrate.stderr).toBe(0);

      const run = await runCli(['run', '--config', ok, '--date', '2026-03-29'], fx.env);
      expect(run.code, run.stdout + run.stderr).toBe(0);

      // A directory whose name LATIN1 cannot hold, long enough to be cut.
      const directory = `/no-such-dir-\u6771\u4eac-\u2026-${'x'.repeat(300)}`;
      const failing = await fx.writeConfig({
        top: { database: { url: latin1Url } },
        report: { name: 'eod-far', sftp: { ...(fx.baseReport().sftp as object), directory } },
      });
      const failed = await runCli(['run', '--config', failing, '--date', '2026-03-29'], fx.env);
      expect(failed.code, failed.stdout + failed.stderr).toBe(1);
      const { rows } = await db.query(
        `SELECT e.failure_details, e.facts->'error'->>'message' AS message
         FROM end_of_day_reporting_event e JOIN end_of_day_reporting p USING (process_id)
         WHERE p.report = 'eod-far' AND e.status = 'REPORT_SUBMISSION_FAILURE'`,
      );
      expect(rows.length).toBeGreaterThan(0);
      for (const row of rows) {
        expect(row.failure_details).toHaveLength(255);
        expect(row.failure_details).toMatch(/^[\x20-\x7e]+\.\.\.$/);
        // The full message is kept, the characters LATIN1 lacks written as \uXXXX.
        expect(row.message).toContain('no-such-dir-\\u6771\\u4eac-\\u2026-xxx');
      }
    } finally {
      await db.end();
    }
  });
});

describe('migrations edited after release', () => {
  let fx: Fixture;
  beforeAll(async () => {
    fx = await createFixture('migration_history');
  });
  afterAll(async () => {
    await fx?.close();
  });

  it('a database that applied an older text listed as superseded passes; any other text is refused', async () => {
    const config = await fx.writeConfig();
    for (const [version, olds] of Object.entries(SUPERSEDED_CHECKSUMS)) {
      await fx.pool.query('UPDATE end_of_day_reporting_migrations SET sha256 = $2 WHERE version = $1', [
        Number(version),
        olds[0]?.sha256,
      ]);
    }
    const accepted = await runCli(['migrate', '--config', config], fx.env);
    expect(accepted.code, accepted.stdout + accepted.stderr).toBe(0);
    expect(accepted.stdout).toMatch(/schema is up to date/);

    await fx.pool.query(
      `UPDATE end_of_day_reporting_migrations SET sha256 = repeat('0', 64) WHERE version = 4`,
    );
    const refused = await runCli(['migrate', '--config', config], fx.env);
    expect(refused.code).toBe(1);
    expect(refused.stdout + refused.stderr).toMatch(/migration 4 \(locks\) was changed after it was applied/);
  });
});
