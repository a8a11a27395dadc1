import type pg from 'pg';
import { EodError } from '../../../core/errors.js';
import { DEFAULT_ROWS_SCHEMA } from './captured-rows.js';

/**
 * The schema where versions before migration 0010 put row snapshots (new captures store the
 * rendered CSV in end_of_day_reporting_content instead): `database.rowsSchema` when set; otherwise the dedicated schema
 * of migration 0005 when it exists; otherwise (migrate ran as a role without CREATE on the
 * database, which skips that schema) the schema our own tables live in, which the role can
 * create tables in since it created them. Every instance sees the same database, so all agree.
 *
 * Throws EodError USAGE when neither is found (schema not migrated).
 */
export async function rowsSchemaFor(
  db: pg.ClientBase | pg.Pool,
  configured: string | undefined,
): Promise<string> {
  if (configured !== undefined) return configured;
  const { rows } = await db.query<{ dedicated: string | null; own: string | null }>(
    `SELECT (SELECT nspname FROM pg_namespace WHERE nspname = $1) AS dedicated,
            (SELECT relnamespace::regnamespace::text FROM pg_class
             WHERE oid = to_regclass('end_of_day_reporting')) AS own`,
    [DEFAULT_ROWS_SCHEMA],
  );
  const schema = rows[0]?.dedicated ?? rows[0]?.own;
  if (!schema) {
    throw new EodError('USAGE', 'the end_of_day_reporting tables are missing: run `eod-report migrate`');
  }
  return schema;
}

/**
 * The privileges the current role lacks for running reports (PRODUCT.md §2 tables, the lock
 * table, the journal, the captured content, USAGE on the schema of row snapshots taken before
 * migration 0010), each as "PRIVILEGE on object"; empty when nothing is missing. Captures no longer
 * create tables, so CREATE is not needed. Objects not created yet are skipped.
 */
export async function missingRunPrivileges(
  db: pg.ClientBase | pg.Pool,
  rowsSchema: string,
): Promise<string[]> {
  const { rows } = await db.query<{ missing: string }>(
    `WITH wanted(kind, object, privilege) AS (VALUES
       ('schema', $1::text, 'USAGE'),
       ('table', 'end_of_day_reporting_content', 'SELECT'), ('table', 'end_of_day_reporting_content', 'INSERT'),
       ('table', 'end_of_day_reporting_content', 'DELETE'),
       ('table', 'end_of_day_reporting', 'SELECT'), ('table', 'end_of_day_reporting', 'INSERT'),
       ('table', 'end_of_day_reporting', 'UPDATE'),
       ('sequence', 'end_of_day_reporting_process_id_seq', 'USAGE'),
       ('sequence', 'end_of_day_reporting_fencing_token', 'USAGE'),
       ('table', 'end_of_day_reporting_journal', 'SELECT'), ('table', 'end_of_day_reporting_journal', 'INSERT'),
       ('sequence', 'end_of_day_reporting_journal_journal_id_seq', 'USAGE'),
       ('table', 'end_of_day_reporting_last_success', 'SELECT'),
       ('table', 'end_of_day_reporting_event', 'SELECT'), ('table', 'end_of_day_reporting_event', 'INSERT'),
       ('sequence', 'end_of_day_reporting_event_event_id_seq', 'USAGE'),
       ('table', 'shedlock', 'SELECT'), ('table', 'shedlock', 'INSERT'), ('table', 'shedlock', 'UPDATE'),
       ('table', 'end_of_day_reporting_alert', 'SELECT'), ('table', 'end_of_day_reporting_alert', 'INSERT'),
       ('table', 'end_of_day_reporting_alert', 'UPDATE'))
     SELECT DISTINCT CASE
         WHEN kind = 'schema' AND to_regnamespace(object) IS NULL THEN 'schema ' || object || ' (it does not exist)'
         ELSE privilege || ' on ' || kind || ' ' || object
       END AS missing
     FROM wanted
     WHERE CASE kind
       WHEN 'schema' THEN to_regnamespace(object) IS NULL OR NOT has_schema_privilege(object, privilege)
       WHEN 'sequence' THEN to_regclass(object) IS NOT NULL AND NOT has_sequence_privilege(object, privilege)
       ELSE to_regclass(object) IS NOT NULL AND NOT has_table_privilege(object, privilege)
     END
     ORDER BY 1`,
    [rowsSchema],
  );
  return rows.map((r) => r.missing);
}
