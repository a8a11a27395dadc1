import type pg from 'pg';
import type { JournalEntry, JournalKind } from '../../../core/journal.js';
import type { Fence } from '../../../ports.js';
import { FENCE_SQL, factsJson, fenceParams } from './events.js';

interface JournalRow {
  journal_id: string;
  process_id: string;
  kind: JournalKind;
  instance_id: string;
  fencing_token: string | null;
  facts: Record<string, unknown>;
  created_at: Date;
}

const COLUMNS = 'journal_id, process_id, kind, instance_id, fencing_token, facts, created_at';

const toEntry = (row: JournalRow): JournalEntry => ({
  journalId: row.journal_id,
  processId: row.process_id,
  kind: row.kind,
  instanceId: row.instance_id,
  fencingToken: row.fencing_token,
  facts: row.facts,
  createdAt: row.created_at,
});

/** The journal of the given processes, oldest first. */
export async function listJournal(
  db: pg.ClientBase | pg.Pool,
  processIds: readonly string[],
): Promise<JournalEntry[]> {
  const { rows } = await db.query<JournalRow>(
    `SELECT ${COLUMNS} FROM end_of_day_reporting_journal WHERE process_id = ANY($1::bigint[]) ORDER BY journal_id`,
    [processIds],
  );
  return rows.map(toEntry);
}

/**
 * Appends a journal entry when the fence holds (the same condition as event inserts, in the
 * same statement); returns null when it does not.
 */
export async function insertFencedJournal(
  db: pg.ClientBase | pg.Pool,
  entry: { processId: string; kind: JournalKind; instanceId: string; facts: Record<string, unknown> },
  fence: Fence,
): Promise<JournalEntry | null> {
  // Facts as the event table stores them (factsJson): a database that is not UTF8 keeps non-ASCII
  // characters as \uXXXX text; nameChanges compares names in that spelling.
  const facts = factsJson(entry.facts);
  const { rows } = await db.query<JournalRow>(
    `INSERT INTO end_of_day_reporting_journal (process_id, kind, instance_id, fencing_token, facts)
     SELECT $1::bigint, $2, $3, $4::bigint,
       (CASE WHEN current_setting('server_encoding') = 'UTF8' THEN $5::text ELSE $6::text END)::jsonb
     WHERE ${FENCE_SQL[fence.kind](7)}
     RETURNING ${COLUMNS}`,
    [
      entry.processId,
      entry.kind,
      entry.instanceId,
      fence.kind === 'lease' ? fence.token : null,
      facts.exact,
      facts.portable,
      ...fenceParams(fence),
    ],
  );
  return rows[0] ? toEntry(rows[0]) : null;
}
