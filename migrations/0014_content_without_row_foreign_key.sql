-- The stored chunks of a capture lose their per-row foreign key to end_of_day_reporting.
-- PostgreSQL checks such a key with an AFTER ROW trigger that, at the end of the COPY, fetches
-- every new row again by its ctid: all of a report's chunks (320 MB for 3M rows), which the
-- COPY's 16 MB ring buffer has already written out, are read back from the file system and their
-- page checksums verified before the capture can commit. Measured on 3M rows (issue 11): 0.45 s
-- of CPU, and 0.3-0.5 s added to every run after the render ends.
-- The key guarded nothing the capture does not already guarantee: chunks are only ever written
-- in the transaction that appends the ROWS_CREATED event, whose own foreign key locks and checks
-- the same process row, and process rows are never deleted.
ALTER TABLE end_of_day_reporting_content
  DROP CONSTRAINT IF EXISTS end_of_day_reporting_content_process_id_fkey;
