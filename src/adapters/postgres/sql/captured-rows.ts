import pg from 'pg';

/** Captured rows of a process live in their own table; its name derives from the process id only. */
export function capturedRowsTable(processId: string): string {
  if (!/^\d+$/.test(processId)) throw new Error(`invalid process id ${processId}`);
  return `end_of_day_reporting_rows.${pg.escapeIdentifier(`rows_${processId}`)}`;
}

export const LINE_NUMBER_COLUMN = 'eod_report_line_no';

/**
 * Snapshots the report query's result, numbering rows in the query's own order. The report date
 * is a bound parameter: CREATE TABLE AS accepts parameters over the extended protocol, where
 * COPY does not.
 */
export async function createCapturedRows(
  client: pg.ClientBase,
  processId: string,
  query: string,
  date: string,
): Promise<void> {
  const usesDate = /\$1(?!\d)/.test(query);
  await client.query(
    `CREATE TABLE ${capturedRowsTable(processId)} AS
     SELECT row_number() OVER () AS ${LINE_NUMBER_COLUMN}, report_query.*
     FROM (${stripTrailingSemicolons(query)}) AS report_query`,
    usesDate ? [date] : [],
  );
}

export async function capturedColumns(client: pg.ClientBase, processId: string): Promise<string[]> {
  const { rows } = await client.query<{ attname: string }>(
    `SELECT attname FROM pg_attribute
     WHERE attrelid = $1::regclass AND attnum > 0 AND NOT attisdropped ORDER BY attnum`,
    [capturedRowsTable(processId)],
  );
  return rows.map((r) => r.attname).filter((name) => name !== LINE_NUMBER_COLUMN);
}

/** The COPY statement rendering the captured rows as PostgreSQL CSV with a header. */
export function renderCopySql(processId: string, columns: readonly string[]): string {
  const list = columns.map((c) => pg.escapeIdentifier(c)).join(', ');
  return `COPY (SELECT ${list} FROM ${capturedRowsTable(processId)} ORDER BY ${LINE_NUMBER_COLUMN}) TO STDOUT (FORMAT csv, HEADER)`;
}

function stripTrailingSemicolons(query: string): string {
  return query.replace(/[\s;]+$/, '');
}
