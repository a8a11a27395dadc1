-- Adopts a shedlock table that ShedLock itself created before eod-report was first migrated
-- (0004 then leaves it as it is). ShedLock's JDBC provider declares lock_until and locked_at as
-- TIMESTAMP without time zone holding UTC wall-clock time (its default time zone is UTC, and
-- usingDbTime() writes timezone('utc', CURRENT_TIMESTAMP)). The Java services sharing the table
-- keep its types; we only add our fencing token.
DO $$
DECLARE
  missing TEXT;
BEGIN
  SELECT string_agg(wanted, ', ') INTO missing
  FROM unnest(ARRAY['name', 'lock_until', 'locked_at', 'locked_by']) AS wanted
  WHERE NOT EXISTS (
    SELECT 1 FROM pg_attribute
    WHERE attrelid = 'shedlock'::regclass AND attname = wanted AND NOT attisdropped);
  IF missing IS NOT NULL THEN
    RAISE EXCEPTION 'table shedlock exists but is not a ShedLock table: column(s) % missing', missing;
  END IF;
END
$$;

ALTER TABLE shedlock ADD COLUMN IF NOT EXISTS fencing_token BIGINT NOT NULL DEFAULT 0;

-- The lock clock in the type of the table's own columns: now() for TIMESTAMPTZ (the table 0004
-- creates), UTC wall-clock time for TIMESTAMP (ShedLock's). Every lock statement compares and
-- writes lock_until through it, so none depends on the session's TimeZone (a capture runs with
-- TimeZone set to the report's zone, and a bare now() stored in a TIMESTAMP column would be
-- that zone's wall-clock time).
DO $$
BEGIN
  IF (SELECT atttypid FROM pg_attribute
      WHERE attrelid = 'shedlock'::regclass AND attname = 'lock_until') = 'timestamp'::regtype THEN
    CREATE FUNCTION eod_report_lock_now() RETURNS TIMESTAMP
      LANGUAGE sql STABLE AS $f$ SELECT now() AT TIME ZONE 'UTC' $f$;
  ELSE
    CREATE FUNCTION eod_report_lock_now() RETURNS TIMESTAMPTZ
      LANGUAGE sql STABLE AS $f$ SELECT now() $f$;
  END IF;
END
$$;

-- A lock time as an instant, whichever type the column has.
CREATE FUNCTION eod_report_lock_instant(TIMESTAMP) RETURNS TIMESTAMPTZ
  LANGUAGE sql IMMUTABLE AS $f$ SELECT $1 AT TIME ZONE 'UTC' $f$;
CREATE FUNCTION eod_report_lock_instant(TIMESTAMPTZ) RETURNS TIMESTAMPTZ
  LANGUAGE sql IMMUTABLE AS $f$ SELECT $1 $f$;
