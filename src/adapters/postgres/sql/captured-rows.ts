import pg from 'pg';
import { EodError } from '../../../core/errors.js';
import { singleStatement } from '../../../core/sql-text.js';

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
 * protocol, which also refuses a second statement) and returns how many parameters it uses:
 * 0 (no `$1`, or `$1` only inside a comment or string) or 1. Server errors are thrown as they
 * come (syntax, missing relation, data-modifying WITH: see `explainQueryError`); more than one
 * parameter is EodError QUERY_REFUSED.
 */
export async function queryParameters(client: pg.ClientBase, query: string): Promise<number> {
  await client.query({
    text: `PREPARE ${PROBE} AS ${wrappedQuery(query)}`,
    queryMode: 'extended',
  } as pg.QueryConfig);
  try {
    const { rows } = await client.query<{ parameters: number }>(
      'SELECT coalesce(cardinality(parameter_types), 0) AS parameters FROM pg_prepared_statements WHERE name = $1',
      [PROBE],
    );
    const parameters = rows[0]?.parameters ?? 0;
    if (parameters > 1) {
      throw new EodError(
        'QUERY_REFUSED',
        `the query uses $${parameters}; only $1 (the report date) is bound`,
      );
    }
    return parameters;
  } finally {
    await client.query(`DEALLOCATE ${PROBE}`);
  }
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

interface Described {
  /** The query's own column names, in order; duplicates allowed, as in `COPY (query)`. */
  names: string[];
  /** Positional names we store them under: c1, c2, ... */
  stored: string[];
  /** Per column: stored as text because its type cannot be a table column (record, unknown). */
  asText: boolean[];
}

async function describe(client: pg.ClientBase, query: string, params: unknown[]): Promise<Described> {
  // LIMIT 0 returns the row description without producing a row.
  const { fields } = await client.query(`${wrappedQuery(query)} LIMIT 0`, params);
  const { rows } = await client.query<{ oid: number }>(
    "SELECT oid::int AS oid FROM pg_type WHERE oid = ANY($1::oid[]) AND typtype = 'p'",
    [fields.map((f) => f.dataTypeID)],
  );
  const pseudo = new Set(rows.map((r) => r.oid));
  return {
    names: fields.map((f) => f.name),
    stored: fields.map((_, i) => `c${i + 1}`),
    asText: fields.map((f) => pseudo.has(f.dataTypeID)),
  };
}

/**
 * Snapshots the report query's result, numbering rows in the query's own order. Columns are
 * stored under positional names, so any column names work (duplicates, `?column?`, our own
 * line-number column's name); columns of pseudo-types (an anonymous ROW(...) is `record`) are
 * stored as their text, which is exactly what COPY would print for them. The report date is bound
 * only when the server says the query uses `$1`.
 *
 * Returns the header names and the stored names, to be recorded with ROWS_CREATED.
 */
export async function createCapturedRows(
  client: pg.ClientBase,
  table: CapturedTable,
  query: string,
  date: string,
): Promise<{ columns: string[]; storedColumns: string[] }> {
  let parameters: number;
  try {
    parameters = await queryParameters(client, query);
  } catch (error) {
    throw explainQueryError(error);
  }
  const params = parameters === 1 ? [date] : [];
  const shape = await describe(client, query, params);
  const select = shape.stored.map((c, i) =>
    shape.asText[i] ? `, report_query.${c}::text AS ${c}` : `, report_query.${c}`,
  );
  // A query of no columns (SELECT FROM t) is valid SQL; an empty alias list is not.
  const aliases = shape.stored.length > 0 ? ` (${shape.stored.join(', ')})` : '';
  try {
    await client.query(
      `CREATE TABLE ${qualifiedName(table)} (${[LINE_NUMBER_COLUMN, ...shape.stored].join(', ')}) AS
SELECT row_number() OVER ()${select.join('')}
FROM (
${singleStatement(query)}
) AS report_query${aliases}`,
      params,
    );
  } catch (error) {
    if ((error as { code?: unknown }).code === '42501' && /schema/.test((error as Error).message)) {
      throw new EodError(
        'QUERY_REFUSED',
        `cannot create the captured rows table in schema "${table.schema}": ${(error as Error).message}; grant CREATE on it or set database.rowsSchema (README, "Database privileges")`,
        { schema: table.schema },
        { cause: error },
      );
    }
    throw error;
  }
  return { columns: shape.names, storedColumns: shape.stored };
}

/**
 * The COPY statement rendering captured rows as PostgreSQL CSV with a header. `storedColumns`
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
