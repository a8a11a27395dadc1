import pg from 'pg';
import { EodError } from '../../../core/errors.js';
import { singleStatement } from '../../../core/sql-scan.js';

/** The schema migration 0005 creates for captured rows (when the role may create schemas). */
export const DEFAULT_ROWS_SCHEMA = 'end_of_day_reporting_rows';

/** Where the captured rows of one process live. */
export interface CapturedTable {
  schema: string;
  name: string;
}

/**
 * The table of a process's captured rows: `rows_<id>` in the dedicated schema, or
 * `end_of_day_reporting_rows_<id>` in any other (e.g. the role's own), where a bare `rows_<id>`
 * could meet the user's tables. The name is recorded with ROWS_CREATED; renders use the record.
 */
export function capturedTableFor(schema: string, processId: string): CapturedTable {
  if (!/^\d+$/.test(processId)) throw new Error(`invalid process id ${processId}`);
  return {
    schema,
    name: schema === DEFAULT_ROWS_SCHEMA ? `rows_${processId}` : `end_of_day_reporting_rows_${processId}`,
  };
}

export function qualifiedName(table: CapturedTable): string {
  return `${pg.escapeIdentifier(table.schema)}.${pg.escapeIdentifier(table.name)}`;
}

export const LINE_NUMBER_COLUMN = 'eod_report_line_no';

/**
 * The report query as the subquery of our own statements: on lines of its own (a trailing
 * `-- comment` must not swallow our closing parenthesis) and without trailing semicolons.
 * Throws EodError QUERY_REFUSED for text holding more than one statement.
 */
export function wrappedQuery(query: string): string {
  return `SELECT * FROM (\n${singleStatement(query)}\n) AS report_query`;
}

const PROBE = 'eod_report_query_probe';

/**
 * Asks the server to parse and analyse the query without running it (PREPARE over the extended
 * protocol, which also refuses a second statement) and returns the types it infers for its
 * parameters, as `format_type` spells them: [] (no `$1`, or `$1` only inside a comment or string)
 * or one type. Server errors are thrown as they come (syntax, missing relation, data-modifying
 * WITH: see `explainQueryError`); more than one parameter is EodError QUERY_REFUSED.
 */
export async function parameterTypes(client: pg.ClientBase, query: string): Promise<string[]> {
  await client.query({
    text: `PREPARE ${PROBE} AS ${wrappedQuery(query)}`,
    queryMode: 'extended',
  } as pg.QueryConfig);
  try {
    const { rows } = await client.query<{ types: string[] }>(
      `SELECT ARRAY(SELECT format_type(t, NULL) FROM unnest(parameter_types::oid[]) AS t) AS types
       FROM pg_prepared_statements WHERE name = $1`,
      [PROBE],
    );
    const types = rows[0]?.types ?? [];
    if (types.length > 1) {
      throw new EodError(
        'QUERY_REFUSED',
        `the query uses $${types.length}; only $1 (the report date) is bound`,
      );
    }
    return types;
  } finally {
    await client.query(`DEALLOCATE ${PROBE}`);
  }
}

/** How many parameters the query uses: 0 or 1 (see `parameterTypes`). */
export async function queryParameters(client: pg.ClientBase, query: string): Promise<number> {
  return (await parameterTypes(client, query)).length;
}

/** Turns the server's refusals of a report query into what the operator should do. */
export function explainQueryError(error: unknown): unknown {
  const err = error as { code?: unknown; message?: unknown };
  if (typeof err.message !== 'string') return error;
  if (err.code === '0A000' && /data-modifying statement/.test(err.message)) {
    return new EodError(
      'QUERY_REFUSED',
      'the query modifies data (INSERT/UPDATE/DELETE in WITH); a report query must only read: a retried capture would modify the data again. Move the change into a separate job',
      {},
      { cause: error },
    );
  }
  // Class 42: syntax error or access rule violation (missing relation or column, no privilege).
  // The same text fails the same way on every attempt until someone changes it.
  if (typeof err.code === 'string' && err.code.startsWith('42')) {
    return new EodError(
      'QUERY_REFUSED',
      `the report query was refused: ${err.message}`,
      { sqlState: err.code },
      { cause: error },
    );
  }
  return error;
}

/**
 * The COPY statement rendering the row snapshot of a process captured before migration 0010
 * (newer captures store the rendered bytes, see captured-content.ts) as PostgreSQL CSV. `storedColumns`
 * absent: a capture made before positional storage, whose columns carry the header names.
 */
export function renderCopySql(
  table: CapturedTable,
  columns: readonly string[],
  storedColumns?: readonly string[],
): string {
  const list = columns
    .map((c, i) => {
      const stored = storedColumns?.[i];
      return stored === undefined
        ? pg.escapeIdentifier(c)
        : `${pg.escapeIdentifier(stored)} AS ${pg.escapeIdentifier(c)}`;
    })
    .join(', ');
  return `COPY (SELECT ${list} FROM ${qualifiedName(table)} ORDER BY ${LINE_NUMBER_COLUMN}) TO STDOUT (FORMAT csv, HEADER)`;
}

/** Drops the snapshot of a process (retention); nothing when it is already gone. */
export async function dropCapturedRows(client: pg.ClientBase, table: CapturedTable): Promise<void> {
  await client.query(`DROP TABLE IF EXISTS ${qualifiedName(table)}`);
}

/** Rows in a captured table, or null when the table does not exist. */
export async function capturedRowCount(
  db: pg.ClientBase | pg.Pool,
  table: CapturedTable,
): Promise<number | null> {
  const name = qualifiedName(table);
  const { rows } = await db.query<{ present: boolean }>('SELECT to_regclass($1) IS NOT NULL AS present', [
    name,
  ]);
  if (!rows[0]?.present) return null;
  // Between the two statements a DBA may drop it: that is the same answer, "gone".
  try {
    const counted = await db.query<{ n: string }>(`SELECT count(*) AS n FROM ${name}`);
    return Number(counted.rows[0]?.n ?? 0);
  } catch (error) {
    if ((error as { code?: string }).code === '42P01') return null;
    throw error;
  }
}

/** Back to the session's statement timeout (database.statementTimeout) for this transaction. */
export async function restoreStatementTimeout(client: pg.ClientBase): Promise<void> {
  await client.query('RESET statement_timeout');
}
