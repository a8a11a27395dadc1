-- The original design's schema (original-design.md), kept by name, with its syntax fixed:
-- a missing comma after event_id, and process_id as BIGINT NOT NULL (a BIGSERIAL foreign key
-- would default to a fresh sequence value instead of failing when the process is missing).
CREATE TYPE end_of_day_report_status AS ENUM (
  'STARTED',
  'ROWS_CREATED',
  'ROWS_CREATION_FAILURE',
  'REPORT_ARCHIVED',
  'REPORT_ARCHIVING_FAILURE',
  'REPORT_SUBMITTED',
  'REPORT_SUBMISSION_FAILURE'
);

CREATE TABLE end_of_day_reporting (
  process_id BIGSERIAL PRIMARY KEY,
  date DATE NOT NULL
);

CREATE TABLE end_of_day_reporting_event (
  event_id BIGSERIAL PRIMARY KEY,
  process_id BIGINT NOT NULL REFERENCES end_of_day_reporting (process_id),
  status end_of_day_report_status NOT NULL,
  failure_details VARCHAR(255),
  created_at TIMESTAMPTZ NOT NULL DEFAULT CURRENT_TIMESTAMP
);
