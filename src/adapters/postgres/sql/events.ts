import type pg from 'pg';
import type { EventFacts, RunEvent, Status } from '../../../core/events.js';
import type { Fence } from '../../../ports.js';

interface EventRow {
  event_id: string;
  process_id: string;
  status: Status;
  failure_details: string | null;
  instance_id: string | null;
  facts: EventFacts;
  created_at: Date;
}

const COLUMNS = 'event_id, process_id, status, failure_details, instance_id, facts, created_at';

export const toEvent = (row: EventRow): RunEvent => ({
  eventId: row.event_id,
  processId: row.process_id,
  status: row.status,
  failureDetails: row.failure_details,
  instanceId: row.instance_id,
  facts: row.facts,
  createdAt: row.created_at,
});

export async function listEvents(
  db: pg.ClientBase | pg.Pool,
  processIds: readonly string[],
): Promise<RunEvent[]> {
  const { rows } = await db.query<EventRow>(
    `SELECT ${COLUMNS} FROM end_of_day_reporting_event WHERE process_id = ANY($1::bigint[]) ORDER BY event_id`,
    [processIds],
  );
  return rows.map(toEvent);
}

/**
 * The fence condition, evaluated in the same statement as the insert.
 * - lease: our token is still the current one and the lease has not lapsed. FOR SHARE makes a
 *   concurrent takeover wait for this insert to commit (or makes this check see the takeover),
 *   so an event is never written by a holder that has already been replaced.
 * - table: the backend holding our LOCK TABLE still holds it (it dies with its connection).
 */
export const FENCE_SQL: Record<Fence['kind'], (firstParam: number) => string> = {
  lease: (n) =>
    `EXISTS (SELECT 1 FROM shedlock WHERE name = $${n} AND fencing_token = $${n + 1}::bigint AND lock_until > eod_report_lock_now() FOR SHARE)`,
  table: (n) => `EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'relation'
            AND relation = 'end_of_day_reporting_run_lock'::regclass AND mode = 'AccessExclusiveLock'
            AND granted AND pid = $${n}::int)`,
};

export const fenceParams = (fence: Fence): unknown[] =>
  fence.kind === 'lease' ? [fence.lockName, fence.token] : [fence.holderPid];

/**
 * The facts as JSON text of ASCII only, in two spellings: `exact` escapes non-ASCII characters
 * (\u2026), which jsonb decodes back to them in a UTF8 database; `portable` writes those escapes
 * as text (a backslash, u, four hex digits), since a database of another encoding (LATIN1)
 * refuses characters and escapes it cannot represent. The statement picks by server_encoding.
 */
export function factsJson(facts: EventFacts): { exact: string; portable: string } {
  const json = JSON.stringify(facts);
  const unicodeEscape = (slashes: string) => (c: string) =>
    `${slashes}u${c.charCodeAt(0).toString(16).padStart(4, '0')}`;
  return {
    exact: json.replace(/[\u0080-\uffff]/g, unicodeEscape('\\')),
    portable: json.replace(/[\u0080-\uffff]/g, unicodeEscape('\\\\')),
  };
}

/** Inserts the event when the fence holds; returns null when it does not. */
export async function insertFencedEvent(
  db: pg.ClientBase | pg.Pool,
  event: {
    processId: string;
    status: Status;
    failureDetails: string | null;
    instanceId: string;
    facts: EventFacts;
  },
  fence: Fence,
): Promise<RunEvent | null> {
  const facts = factsJson(event.facts);
  const { rows } = await db.query<EventRow>(
    `INSERT INTO end_of_day_reporting_event (process_id, status, failure_details, instance_id, facts)
     SELECT $1::bigint, $2::end_of_day_report_status, $3, $4,
       -- Text first, jsonb after the choice: a folded $5::jsonb would be parsed even when unused.
       (CASE WHEN current_setting('server_encoding') = 'UTF8' THEN $5::text ELSE $6::text END)::jsonb
     WHERE ${FENCE_SQL[fence.kind](7)}
     RETURNING ${COLUMNS}`,
    [
      event.processId,
      event.status,
      event.failureDetails,
      event.instanceId,
      facts.exact,
      facts.portable,
      ...fenceParams(fence),
    ],
  );
  return rows[0] ? toEvent(rows[0]) : null;
}

/** The fence condition alone: true while the holder still owns the lock. */
export async function fenceHolds(db: pg.ClientBase | pg.Pool, fence: Fence): Promise<boolean> {
  const { rows } = await db.query<{ holds: boolean }>(
    `SELECT ${FENCE_SQL[fence.kind](1)} AS holds`,
    fenceParams(fence),
  );
  return rows[0]?.holds === true;
}
