-- Fencing tokens come from one sequence, never from the shedlock row: deleting a row by hand (a
-- common habit with stuck ShedLock locks) must not reset a token to 1, or an old and a new holder
-- would both pass the fence. The table strategy takes its acquisition token here too.
CREATE SEQUENCE end_of_day_reporting_fencing_token AS BIGINT;
SELECT setval('end_of_day_reporting_fencing_token',
              COALESCE((SELECT max(fencing_token) FROM shedlock), 0) + 1, false);

-- What a process decided and meant to do, besides its events (PRODUCT.md 3.1), fenced like them:
--   names                 remote path and S3 key, rendered once at the first submit attempt
--   submit-intent         written right before the SFTP rename
--   archive-intent        written right before the S3 put / multipart completion
--   not-renamed           a resume proved an earlier intent's rename never happened
--   submission-uncertain  a resume could not prove the outcome of an intent; no upload until resolved
--   resolved              an operator's decision (eod-report resolve): submitted or not, who, why
-- Rows are appended, never updated; the newest of a kind wins (see src/core/next-step.ts).
CREATE TABLE end_of_day_reporting_journal (
  journal_id BIGSERIAL PRIMARY KEY,
  process_id BIGINT NOT NULL REFERENCES end_of_day_reporting (process_id),
  kind TEXT NOT NULL CHECK (kind IN ('names', 'submit-intent', 'archive-intent', 'not-renamed',
                                     'submission-uncertain', 'resolved')),
  instance_id TEXT NOT NULL,
  fencing_token BIGINT,
  facts JSONB NOT NULL DEFAULT '{}'::jsonb,
  created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX end_of_day_reporting_journal_process
  ON end_of_day_reporting_journal (process_id, journal_id);
