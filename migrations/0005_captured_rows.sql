-- Captured rows live in this schema, one table per process (rows_<process_id>), created in the
-- same transaction as the ROWS_CREATED event. Any instance renders the same bytes from it later.
-- Creating a schema needs CREATE on the database; a role that owns only its own schema skips it
-- and its captures go to database.rowsSchema or to the schema of our own tables (README,
-- "Database privileges").
DO $$
BEGIN
  IF to_regnamespace('end_of_day_reporting_rows') IS NULL
     AND has_database_privilege(current_database(), 'CREATE') THEN
    CREATE SCHEMA end_of_day_reporting_rows;
  END IF;
END
$$;
