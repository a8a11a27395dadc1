import type pg from 'pg';

/**
 * A `transactions` table with the values that break naive CSV writers: commas, quotes, CR/LF
 * inside fields, empty strings next to NULLs, non-ASCII text, large and negative numerics,
 * booleans, floats, and timestamps on both sides of midnight in the report's time zone.
 */
export const CREATE_TRANSACTIONS = `
CREATE TABLE IF NOT EXISTS transactions (
  id BIGSERIAL PRIMARY KEY,
  booked_on DATE NOT NULL,
  booked_at TIMESTAMPTZ NOT NULL,
  account TEXT NOT NULL,
  counterparty TEXT,
  description TEXT,
  amount NUMERIC(20, 4) NOT NULL,
  currency CHAR(3) NOT NULL,
  settled BOOLEAN,
  fx_rate DOUBLE PRECISION
)`;

export const REPORT_QUERY = `SELECT id, booked_at, account, counterparty, description, amount, currency, settled, fx_rate
FROM transactions WHERE booked_on = $1::date ORDER BY id`;

const DESCRIPTIONS = [
  'Card payment',
  'Invoice 2026-114, net 30',
  'He said "pay me", twice',
  'line one\nline two',
  'windows\r\nline break',
  'Zürich café – déjà vu – 東京 – مرحبا – 🚀',
  '',
  null,
  '  leading and trailing spaces  ',
  'semi;colon|pipe\ttab',
  '\\N is not null',
  ',',
  '"',
];

/** Inserts `perDay` rows for each date, booked around the clock in `timezone`, deterministic. */
export async function seedTransactions(
  db: pg.ClientBase,
  options: { dates: string[]; perDay: number; timezone: string },
) {
  await db.query(CREATE_TRANSACTIONS);
  for (const date of options.dates) {
    await db.query(
      `INSERT INTO transactions (booked_on, booked_at, account, counterparty, description, amount, currency, settled, fx_rate)
       SELECT $1::date,
              -- spread over the local day, with the first and last rows a millisecond from midnight
              CASE WHEN g = 1 THEN ($1::date::timestamp) AT TIME ZONE $3
                   WHEN g = $2 THEN ($1::date::timestamp + interval '1 day' - interval '1 millisecond') AT TIME ZONE $3
                   ELSE ($1::date::timestamp + (g * interval '86399 seconds') / $2) AT TIME ZONE $3 END,
              'GB' || lpad((g * 7919 % 100000000)::text, 8, '0'),
              CASE WHEN g % 17 = 0 THEN NULL WHEN g % 13 = 0 THEN '' ELSE 'Counterparty ' || (g % 97) END,
              ($4::text[])[(1 + g % array_length($4::text[], 1))::int],
              CASE WHEN g % 11 = 0 THEN -((g * 104729) % 1000000000)::numeric / 100
                   WHEN g % 29 = 0 THEN 9999999999999999.9999
                   ELSE ((g * 7919) % 100000000)::numeric / 10000 END,
              (ARRAY['GBP', 'EUR', 'USD', 'CHF', 'JPY'])[(1 + g % 5)::int],
              CASE WHEN g % 19 = 0 THEN NULL ELSE g % 3 <> 0 END,
              CASE WHEN g % 23 = 0 THEN NULL ELSE 1 + (g % 1000) / 3.0 END
       FROM generate_series(1::bigint, $2::bigint) AS g`,
      [date, options.perDay, options.timezone, DESCRIPTIONS],
    );
  }
}
