import type pg from 'pg';
import { EodError } from '../../core/errors.js';
import type { RunEvent } from '../../core/events.js';
import { failureDetails } from '../../core/failure-details.js';
import type { JournalEntry } from '../../core/journal.js';
import type { Fence, NewEvent, NewJournalEntry, ProcessRef, RunStore } from '../../ports.js';
import { databaseError, withDatabase } from './db-errors.js';
import { insertFencedEvent, listEvents } from './sql/events.js';
import { insertFencedJournal, listJournal } from './sql/journal.js';
import { findOrCreateProcess, findProcess } from './sql/processes.js';
import { SQLSTATE, sqlState } from './sqlstate.js';

export class PostgresRunStore implements RunStore {
  constructor(
    private readonly pool: pg.Pool,
    private readonly instanceId: string,
  ) {}

  findOrCreateProcess(report: string, date: string): Promise<ProcessRef> {
    return withDatabase(`creating the process of ${report} ${date}`, () =>
      findOrCreateProcess(this.pool, report, date),
    );
  }

  findProcess(report: string, date: string): Promise<ProcessRef | null> {
    return withDatabase(`reading the process of ${report} ${date}`, () =>
      findProcess(this.pool, report, date),
    );
  }

  listEvents(processId: string): Promise<RunEvent[]> {
    return withDatabase(`reading the events of process ${processId}`, () =>
      listEvents(this.pool, [processId]),
    );
  }

  async appendEvent(processId: string, event: NewEvent, fence: Fence): Promise<RunEvent> {
    return withDatabase(`recording ${event.status} for process ${processId}`, () =>
      appendFencedEvent(this.pool, this.instanceId, processId, event, fence),
    );
  }

  listJournal(processId: string): Promise<JournalEntry[]> {
    return withDatabase(`reading the journal of process ${processId}`, () =>
      listJournal(this.pool, [processId]),
    );
  }

  async appendJournal(processId: string, entry: NewJournalEntry, fence: Fence): Promise<JournalEntry> {
    return withDatabase(`recording ${entry.kind} for process ${processId}`, () =>
      appendFencedJournal(this.pool, this.instanceId, processId, entry, fence),
    );
  }

  async appendAtomically(
    processId: string,
    entry: NewJournalEntry,
    event: NewEvent | null,
    fence: Fence,
  ): Promise<void> {
    const doing = `recording ${entry.kind} for process ${processId}`;
    const client = await withDatabase(doing, () => this.pool.connect());
    try {
      await client.query('BEGIN');
      await appendFencedJournal(client, this.instanceId, processId, entry, fence);
      if (event) await appendFencedEvent(client, this.instanceId, processId, event, fence);
      await client.query('COMMIT');
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw databaseError(error, doing);
    } finally {
      client.release();
    }
  }
}

async function appendFencedJournal(
  db: pg.ClientBase | pg.Pool,
  instanceId: string,
  processId: string,
  entry: NewJournalEntry,
  fence: Fence,
): Promise<JournalEntry> {
  const written = await insertFencedJournal(db, { processId, instanceId, ...entry }, fence);
  if (!written) {
    throw new EodError(
      'LEASE_LOST',
      `lock lost: journal entry ${entry.kind} for process ${processId} was not recorded (fence refused)`,
      { processId, kind: entry.kind },
    );
  }
  return written;
}

/** Shared by the run store and the row capture (which writes ROWS_CREATED inside its transaction). */
export async function appendFencedEvent(
  db: pg.ClientBase | pg.Pool,
  instanceId: string,
  processId: string,
  event: NewEvent,
  fence: Fence,
): Promise<RunEvent> {
  let written: RunEvent | null;
  try {
    written = await insertFencedEvent(
      db,
      {
        processId,
        status: event.status,
        failureDetails: event.failureDetails == null ? null : failureDetails(event.failureDetails),
        instanceId,
        facts: event.facts ?? {},
      },
      fence,
    );
  } catch (error) {
    if (sqlState(error) === SQLSTATE.UNIQUE_VIOLATION) {
      throw new EodError(
        'LEASE_LOST',
        `${event.status} is already recorded for process ${processId} by another holder`,
        {
          processId,
          status: event.status,
        },
      );
    }
    throw error;
  }
  if (!written) {
    throw new EodError(
      'LEASE_LOST',
      `lock lost: ${event.status} for process ${processId} was not recorded (fence refused)`,
      {
        processId,
        status: event.status,
      },
    );
  }
  return written;
}
