-- Who wrote each event and the facts that prove what happened (rows, bytes, sha256, remote path,
-- bucket/key/version, attempt, duration, full error).
ALTER TABLE end_of_day_reporting_event
  ADD COLUMN instance_id TEXT,
  ADD COLUMN facts JSONB NOT NULL DEFAULT '{}'::jsonb;

-- Each success can be recorded once per process, whatever the locks do. STARTED and failures
-- repeat, one per attempt.
CREATE UNIQUE INDEX end_of_day_reporting_event_one_success
  ON end_of_day_reporting_event (process_id, status)
  WHERE status IN ('ROWS_CREATED', 'REPORT_SUBMITTED', 'REPORT_ARCHIVED');

CREATE INDEX end_of_day_reporting_event_process
  ON end_of_day_reporting_event (process_id, event_id);
