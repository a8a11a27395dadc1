-- ShedLock's table, column for column, so ShedLock-based tools can read or share it.
-- fencing_token is ours: incremented on every acquisition and checked with each event write.
-- IF NOT EXISTS: a shedlock table ShedLock itself created first is adopted by 0007, not refused.
CREATE TABLE IF NOT EXISTS shedlock (
  name VARCHAR(64) PRIMARY KEY,
  lock_until TIMESTAMPTZ NOT NULL,
  locked_at TIMESTAMPTZ NOT NULL,
  locked_by VARCHAR(255) NOT NULL,
  fencing_token BIGINT NOT NULL DEFAULT 0
);

-- The target of the `table` strategy's LOCK TABLE ... IN ACCESS EXCLUSIVE MODE NOWAIT.
-- Not end_of_day_reporting itself: an ACCESS EXCLUSIVE lock on it would block the holder's own
-- event inserts (their foreign key check takes a lock on the referenced table) made on other
-- connections, and every reader of the status page or `status`.
CREATE TABLE end_of_day_reporting_run_lock (
  id BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (id)
);
