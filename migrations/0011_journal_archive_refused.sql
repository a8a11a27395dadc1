-- archive-refused: S3 answered the put or multipart completion with a client error (4xx other
-- than 412), so no object was created under the key in force; a corrected bucket or prefix may
-- then be taken for the archive (src/app/delivery-steps.ts).
ALTER TABLE end_of_day_reporting_journal DROP CONSTRAINT end_of_day_reporting_journal_kind_check;
ALTER TABLE end_of_day_reporting_journal ADD CONSTRAINT end_of_day_reporting_journal_kind_check
  CHECK (kind IN ('names', 'submit-intent', 'archive-intent', 'archive-refused', 'not-renamed',
                  'submission-uncertain', 'resolved'));
