-- Captured rows live in this schema, one table per process (rows_<process_id>), created in the
-- same transaction as the ROWS_CREATED event. Any instance renders the same bytes from it later.
CREATE SCHEMA end_of_day_reporting_rows;
