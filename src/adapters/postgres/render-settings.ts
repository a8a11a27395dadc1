import type pg from 'pg';

/**
 * Session settings that change how PostgreSQL renders values as text, fixed for every render so
 * the same rows always give the same bytes (PRODUCT.md §5 "CSV"):
 * - TimeZone: timestamptz values are rendered in the report's zone;
 * - DateStyle ISO, YMD: `2026-03-29 00:30:00+01`, never locale-dependent forms;
 * - IntervalStyle postgres: `1 day 02:00:00`;
 * - extra_float_digits 1: the shortest text that reads back as the same float (PostgreSQL ≥ 12);
 * - bytea_output hex; client_encoding UTF8: the file is UTF-8.
 * They are recorded with ROWS_CREATED, so a later render uses the captured settings even if the
 * report's configured time zone changed meanwhile.
 */
export interface RenderSettings {
  TimeZone: string;
  DateStyle: string;
  IntervalStyle: string;
  extra_float_digits: string;
  bytea_output: string;
  client_encoding: string;
}

export function renderSettings(timezone: string): RenderSettings {
  return {
    TimeZone: timezone,
    DateStyle: 'ISO, YMD',
    IntervalStyle: 'postgres',
    extra_float_digits: '1',
    bytea_output: 'hex',
    client_encoding: 'UTF8',
  };
}

/** Applies the settings to the current transaction only (set_config(..., true) = SET LOCAL). */
export async function applyRenderSettings(client: pg.ClientBase, settings: RenderSettings): Promise<void> {
  const names = Object.keys(settings);
  const values = Object.values(settings);
  await client.query(
    'SELECT set_config(name, value, true) FROM unnest($1::text[], $2::text[]) AS s(name, value)',
    [names, values],
  );
}

/**
 * A render is one COPY that stays open while its consumer (an SFTP or S3 transfer) takes the
 * bytes, so it lasts as long as the slowest network transfer, not as long as the database needs.
 * A `statement_timeout` or `transaction_timeout` set on the role or database (meant for
 * interactive queries) would cancel a healthy upload of a large report, so the render transaction
 * lifts both for itself (SET LOCAL: the session and other transactions keep theirs). A stalled
 * transfer is caught by the transfers' own timeouts, which end the COPY with them.
 * `transaction_timeout` exists from PostgreSQL 17 and is skipped on older servers.
 */
export async function liftStatementTimeouts(client: pg.ClientBase): Promise<void> {
  await client.query(
    `SELECT set_config(name, '0', true)
     FROM unnest(ARRAY['statement_timeout', 'transaction_timeout']) AS s(name)
     WHERE current_setting(name, true) IS NOT NULL`,
  );
}

/**
 * Lifting `statement_timeout` must not leave a lock wait without a deadline: the chunks of a
 * capture are keyed by process, so a successor's capture waits on the uncommitted chunks of a
 * holder frozen mid-capture (SIGSTOP, a hung host), for as long as that holder's connection lives.
 * Bounding the wait with the session's own `statement_timeout` (database.statementTimeout) turns
 * it into a failure of the step (SQLSTATE 55P03, retried); call before liftStatementTimeouts.
 * A session without a statement timeout keeps its own lock_timeout.
 */
export async function boundLockWaits(client: pg.ClientBase): Promise<void> {
  await client.query(
    `SELECT set_config('lock_timeout', current_setting('statement_timeout'), true)
     WHERE current_setting('statement_timeout') <> '0'`,
  );
}
