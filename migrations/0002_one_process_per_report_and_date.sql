-- Many reports share the tables; the database itself guarantees one process per report and day.
-- The default only back-fills rows written by the original design (single report), then goes.
ALTER TABLE end_of_day_reporting
  ADD COLUMN report TEXT NOT NULL DEFAULT 'eod-report',
  ADD COLUMN created_at TIMESTAMPTZ NOT NULL DEFAULT CURRENT_TIMESTAMP;
ALTER TABLE end_of_day_reporting ALTER COLUMN report DROP DEFAULT;
ALTER TABLE end_of_day_reporting
  ADD CONSTRAINT end_of_day_reporting_report_date_key UNIQUE (report, date);
