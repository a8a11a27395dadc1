/**
 * The report query as one `COPY (…) TO STDOUT (FORMAT csv, HEADER)`. COPY takes no bound
 * parameters, so the report date travels as a transaction-local setting (bound with
 * `set_config`, never interpolated) and each `$1` of the query is replaced by a read of that
 * setting cast to the very type PostgreSQL infers for `$1` in the query (asked of the server with
 * PREPARE). The value goes through the same input function as a bound parameter would, and the
 * query means what it meant.
 */
import type pg from 'pg';
import { scanSql, singleStatement } from '../../../core/sql-scan.js';
import { explainQueryError, parameterTypes, wrappedQuery } from './captured-rows.js';

export const REPORT_DATE_SETTING = 'eod_report.report_date';

/** Replaces the given spans of `sql` (positional parameters) with `replacement`; pure. */
export function replacePlaceholders(
  sql: string,
  placeholders: readonly { start: number; end: number }[],
  replacement: string,
): string {
  let out = '';
  let at = 0;
  for (const p of placeholders) {
    out += sql.slice(at, p.start) + replacement;
    at = p.end;
  }
  return out + sql.slice(at);
}

/**
 * Prepares the COPY of the report query for `date` inside the client's open transaction: binds
 * the date to the transaction-local setting and returns the COPY statement to run.
 * Throws EodError QUERY_REFUSED for a query the server refuses (see `explainQueryError`) or with
 * a parameter other than `$1`.
 */
export async function reportCopySql(client: pg.ClientBase, query: string, date: string): Promise<string> {
  let types: string[];
  try {
    types = await parameterTypes(client, query);
  } catch (error) {
    throw explainQueryError(error);
  }
  let text = singleStatement(query);
  const typeName = types[0];
  if (typeName !== undefined) {
    await client.query('SELECT set_config($1, $2, true)', [REPORT_DATE_SETTING, date]);
    const { placeholders } = scanSql(text);
    // A scalar subquery is an InitPlan, evaluated once per statement; the bare STABLE call would
    // be evaluated for every row a filter looks at: +35 % of the render's CPU on a 3M-row scan
    // (issue 11). PostgreSQL takes a scalar subquery wherever it takes a parameter in a query.
    text = replacePlaceholders(
      text,
      placeholders,
      `(SELECT CAST(current_setting('${REPORT_DATE_SETTING}') AS ${typeName}))`,
    );
  }
  return `COPY (${wrappedQuery(text)}) TO STDOUT (FORMAT csv, HEADER)`;
}
