/**
 * Applies the numbered, append-only files of `migrations/` in one transaction per run. An advisory
 * transaction lock serialises instances migrating at the same moment, and the ledger row of each
 * migration is written before its SQL in the same transaction, so a migration is applied at most
 * once even if the advisory lock were bypassed (the ledger's primary key would then fail).
 */
import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import type pg from 'pg';
import { EodError } from '../../core/errors.js';
import { SQLSTATE, sqlState } from './sqlstate.js';

export interface Migration {
  version: number;
  name: string;
  sql: string;
  sha256: string;
}

export interface MigrationResult {
  applied: Migration[];
  current: number;
}

const MIGRATIONS_DIR = new URL('../../../migrations/', import.meta.url);
const FILE_NAME = /^(\d{4})_([a-z0-9_]+)\.sql$/;
/**
 * Migrations are append-only: a file applied somewhere must keep its bytes, and the ledger's
 * sha256 proves it. The only exceptions are edits that were safe for every database that applied
 * the old text, listed here with the sha256 they replaced (so those databases still pass the
 * check), and why. An edit is safe when the old and new text leave a database that already
 * applied the old one in the same state. Never remove an entry.
 */
export const SUPERSEDED_CHECKSUMS: Readonly<Record<number, readonly { sha256: string; why: string }[]>> = {
  4: [
    {
      sha256: '50ab384635e643356f53ce1d6c4800f2c407b06abd305bc8307bdc6d150fbb68',
      why: 'a comment made ASCII (LATIN1 databases refused the U+2026 ellipsis); CREATE TABLE shedlock made IF NOT EXISTS so that 0007 adopts a table ShedLock created first',
    },
  ],
  5: [
    {
      sha256: '1b12e41c8c6571db3c601346eb04f7defa7933e26e3c92931d76ff5584017cb2',
      why: 'the rows schema is created only by a role allowed to create schemas (a role owning only its own schema could not migrate)',
    },
  ],
};

function appliedTextMatches(migration: Migration, ledgerSha256: string): boolean {
  if (migration.sha256 === ledgerSha256) return true;
  return (SUPERSEDED_CHECKSUMS[migration.version] ?? []).some((old) => old.sha256 === ledgerSha256);
}

// Arbitrary constant: the advisory lock key of `eod-report migrate`.
const MIGRATION_LOCK_KEY = 4_202_611_250;

export async function readMigrations(dir: URL = MIGRATIONS_DIR): Promise<Migration[]> {
  const names = (await readdir(dir)).filter((n) => n.endsWith('.sql')).sort();
  const migrations: Migration[] = [];
  for (const file of names) {
    const match = FILE_NAME.exec(file);
    if (!match) throw new EodError('MIGRATION_FAILED', `migration file name "${file}" is not NNNN_name.sql`);
    const sql = await readFile(new URL(file, dir), 'utf8');
    // A migration runs on databases of any encoding (LATIN1 refuses many UTF-8 characters).
    const nonAscii = /[\u0080-\uffff]/.exec(sql);
    if (nonAscii) {
      throw new EodError(
        'MIGRATION_FAILED',
        `migration ${file} holds the non-ASCII character "${nonAscii[0]}" at offset ${nonAscii.index}; migrations must be ASCII`,
      );
    }
    const version = Number(match[1]);
    if (version !== migrations.length + 1) {
      throw new EodError(
        'MIGRATION_FAILED',
        `migration ${file} breaks the sequence: expected number ${migrations.length + 1}`,
      );
    }
    migrations.push({
      version,
      name: match[2] as string,
      sql,
      sha256: createHash('sha256').update(sql).digest('hex'),
    });
  }
  return migrations;
}

/**
 * How long a migration waits for a table lock, in ms. A migration that alters a table needs it
 * alone (ACCESS EXCLUSIVE), and while its request waits in the queue PostgreSQL makes every later
 * reader and writer of that table wait behind it: behind a capture of an instance not yet
 * upgraded, that was every run and status page for as long as the capture took (found by a new
 * user's try of migration 0014).
 */
export const MIGRATION_LOCK_TIMEOUT_MS = 5_000;

/**
 * Applies the migrations the database lacks, in one transaction. Throws EodError SCHEMA_TOO_NEW,
 * or MIGRATION_FAILED (nothing applied) when a migration fails, including when it waited
 * `lockTimeoutMs` for a table that another session is using (SQLSTATE 55P03).
 */
export async function migrate(
  client: pg.ClientBase,
  migrations?: Migration[],
  options: { lockTimeoutMs?: number } = {},
): Promise<MigrationResult> {
  const known = migrations ?? (await readMigrations());
  const lockTimeoutMs = options.lockTimeoutMs ?? MIGRATION_LOCK_TIMEOUT_MS;
  await client.query('BEGIN');
  try {
    // Another `migrate` holds this only while it applies; its own table locks are bounded below.
    await client.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK_KEY]);
    await client.query("SELECT set_config('lock_timeout', $1, true)", [`${lockTimeoutMs}ms`]);
    await client.query(`
      CREATE TABLE IF NOT EXISTS end_of_day_reporting_migrations (
        version INTEGER PRIMARY KEY,
        name TEXT NOT NULL,
        sha256 TEXT NOT NULL,
        applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
      )`);
    const { rows } = await client.query<{ version: number; name: string; sha256: string }>(
      'SELECT version, name, sha256 FROM end_of_day_reporting_migrations ORDER BY version',
    );
    const newest = known.at(-1)?.version ?? 0;
    const tooNew = rows.filter((r) => r.version > newest);
    if (tooNew.length > 0) {
      throw new EodError(
        'SCHEMA_TOO_NEW',
        `database schema is at migration ${tooNew.at(-1)?.version} (${tooNew.at(-1)?.name}) but this eod-report knows only up to ${newest}; upgrade eod-report`,
        { databaseVersion: tooNew.at(-1)?.version, codeVersion: newest },
      );
    }
    for (const row of rows) {
      const mine = known[row.version - 1];
      if (mine && !appliedTextMatches(mine, row.sha256)) {
        throw new EodError(
          'MIGRATION_FAILED',
          `migration ${row.version} (${row.name}) was changed after it was applied; migrations are append-only: add a new file instead`,
        );
      }
    }
    const done = new Set(rows.map((r) => r.version));
    const applied: Migration[] = [];
    for (const migration of known) {
      if (done.has(migration.version)) continue;
      await client.query(
        'INSERT INTO end_of_day_reporting_migrations (version, name, sha256) VALUES ($1, $2, $3)',
        [migration.version, migration.name, migration.sha256],
      );
      try {
        await client.query(migration.sql);
      } catch (error) {
        const which = `migration ${migration.version} (${migration.name})`;
        if (sqlState(error) === SQLSTATE.LOCK_NOT_AVAILABLE) {
          throw new EodError(
            'MIGRATION_FAILED',
            `${which} waited ${lockTimeoutMs} ms for a table another session is using (an eod-report still running, perhaps of the earlier version) and was not applied; nothing changed. Stop the other instances or wait for their runs to end, then run migrate again`,
            { lockTimeoutMs },
            { cause: error },
          );
        }
        throw new EodError(
          'MIGRATION_FAILED',
          `${which} failed: ${(error as Error).message}`,
          {},
          { cause: error },
        );
      }
      applied.push(migration);
    }
    await client.query('COMMIT');
    return { applied, current: newest };
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  }
}

/** The migration the database is at, or 0; used by commands that need the schema to be current. */
export async function schemaVersion(client: pg.ClientBase): Promise<number> {
  const ledger = await client.query<{ exists: boolean }>(
    "SELECT to_regclass('end_of_day_reporting_migrations') IS NOT NULL AS exists",
  );
  if (!ledger.rows[0]?.exists) return 0;
  const { rows } = await client.query<{ version: number | null }>(
    'SELECT max(version) AS version FROM end_of_day_reporting_migrations',
  );
  return rows[0]?.version ?? 0;
}

/**
 * Refuses to work on a schema this code does not match: older (run `migrate`) or newer (upgrade).
 * Returns the migration the database is at.
 */
export async function assertSchemaCurrent(client: pg.ClientBase, migrations?: Migration[]): Promise<number> {
  const expected = (migrations ?? (await readMigrations())).length;
  const actual = await schemaVersion(client);
  if (actual < expected) {
    throw new EodError(
      'USAGE',
      `database schema is at migration ${actual}, this eod-report needs ${expected}: run \`eod-report migrate\``,
    );
  }
  if (actual > expected) {
    throw new EodError(
      'SCHEMA_TOO_NEW',
      `database schema is at migration ${actual}, newer than this eod-report (${expected}): upgrade eod-report`,
    );
  }
  return actual;
}
