-- When the holder of a lease released it (NULL while held). A released lease may still be taken
-- until locked_at + lockAtLeastFor (ShedLock's unlock); with this, `run` can say that the lock is
-- held only by a run that already finished, and wait for it instead of exiting 75.
-- ShedLock itself ignores the extra column.
ALTER TABLE shedlock ADD COLUMN IF NOT EXISTS released_at TIMESTAMPTZ;
