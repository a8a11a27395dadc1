-- The captured report itself: the CSV bytes PostgreSQL rendered at capture, in numbered chunks,
-- written in the same transaction as the ROWS_CREATED event. Every later submission and archive
-- streams these bytes back (no second render), so any instance sends byte-identical content.
-- STORAGE PLAIN with chunks of a little under a page (8,000 bytes, see captured-content.ts): one
-- heap tuple per chunk, no TOAST table, no compression. Measured on 21 MB of CSV (2 busy cores):
-- render only 1.1-1.4 s, plain inline 1.25-1.4 s, TOASTed 1 MiB chunks 1.4-1.9 s, pglz-compressed
-- 2.3-2.8 s (a third of the space, at twice the time).
CREATE TABLE end_of_day_reporting_content (
  process_id BIGINT NOT NULL REFERENCES end_of_day_reporting (process_id),
  chunk_no INTEGER NOT NULL CHECK (chunk_no >= 0),
  data BYTEA NOT NULL,
  PRIMARY KEY (process_id, chunk_no)
);
ALTER TABLE end_of_day_reporting_content ALTER COLUMN data SET STORAGE PLAIN;
