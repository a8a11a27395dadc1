-- Captures of fully archived days are dropped after retention.capturedDays (`prune`, and `serve`
-- daily). The day keeps its process row, every event and the proof; this column says when its
-- capture went, so nothing looks for a capture that is gone and prune never revisits the day.
ALTER TABLE end_of_day_reporting ADD COLUMN capture_dropped_at TIMESTAMPTZ;

-- Prune candidates: only days whose capture is still there, oldest first. Days pruned leave the
-- index, so it stays as small as the retention window.
CREATE INDEX end_of_day_reporting_capture_kept
  ON end_of_day_reporting (date) WHERE capture_dropped_at IS NULL;

-- Newest success of each step per report, kept by a trigger on the event table, so that a
-- /metrics scrape reads one row per (report, step) instead of aggregating every event ever
-- written. Events are append-only, so the newest time only ever moves forward.
CREATE TABLE end_of_day_reporting_last_success (
  report TEXT NOT NULL,
  status end_of_day_report_status NOT NULL,
  at TIMESTAMPTZ NOT NULL,
  PRIMARY KEY (report, status)
);

INSERT INTO end_of_day_reporting_last_success (report, status, at)
SELECT p.report, e.status, max(e.created_at)
FROM end_of_day_reporting_event e JOIN end_of_day_reporting p USING (process_id)
WHERE e.status IN ('ROWS_CREATED', 'REPORT_SUBMITTED', 'REPORT_ARCHIVED')
GROUP BY p.report, e.status;

-- SECURITY DEFINER: the role writing events needs no privilege on this table; the search path
-- is the one migrate ran with, so the function finds our tables and nothing planted elsewhere.
CREATE FUNCTION end_of_day_reporting_note_success() RETURNS trigger LANGUAGE plpgsql
  SECURITY DEFINER SET search_path FROM CURRENT AS $$
BEGIN
  INSERT INTO end_of_day_reporting_last_success (report, status, at)
  SELECT p.report, NEW.status, NEW.created_at FROM end_of_day_reporting p
  WHERE p.process_id = NEW.process_id
  ON CONFLICT (report, status)
    DO UPDATE SET at = GREATEST(end_of_day_reporting_last_success.at, EXCLUDED.at);
  RETURN NULL;
END
$$;

CREATE TRIGGER end_of_day_reporting_event_note_success
  AFTER INSERT ON end_of_day_reporting_event
  FOR EACH ROW WHEN (NEW.status IN ('ROWS_CREATED', 'REPORT_SUBMITTED', 'REPORT_ARCHIVED'))
  EXECUTE FUNCTION end_of_day_reporting_note_success();
