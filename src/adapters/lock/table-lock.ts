import pg from 'pg';
import { EodError } from '../../core/errors.js';
import type { HeldLock, Lock } from '../../ports.js';
import { fenceHolds } from '../postgres/sql/events.js';
import { nextFencingToken } from '../postgres/sql/shedlock.js';
import { SQLSTATE, sqlState } from '../postgres/sqlstate.js';
import { requireMargin } from './margin.js';

export interface TableLockOptions {
  url: string;
  applicationName: string;
  atMostForMs: number;
  keepAliveEveryMs: number;
  /** Least time that must be left before the idle timeout could end the lock, before an act. */
  safetyMarginMs: number;
}

/**
 * The original design's lock: `LOCK TABLE … IN ACCESS EXCLUSIVE MODE NOWAIT` in a transaction kept
 * open on a dedicated connection for the whole run. One lock for all reports (the table is the
 * lock), on a dedicated table rather than end_of_day_reporting (see migrations/0004_locks.sql).
 *
 * A holder that stops (SIGSTOP, a hung event loop) stops its keep-alive queries, and the server
 * ends its idle transaction after atMostFor, releasing the lock; its event writes then fail the
 * fence, which checks that its backend still holds the lock.
 */
export class TableLock implements Lock {
  constructor(private readonly options: TableLockOptions) {}

  async tryAcquire(_name: string): Promise<HeldLock | null> {
    const client = new pg.Client({
      connectionString: this.options.url,
      application_name: this.options.applicationName,
    });
    const lost = new AbortController();
    client.on('error', (error) => {
      lost.abort(new EodError('LEASE_LOST', `table lock connection failed: ${error.message}`));
    });
    await client.connect();
    try {
      await client.query('BEGIN');
      await client.query(`SELECT set_config('idle_in_transaction_session_timeout', $1, true)`, [
        String(this.options.atMostForMs),
      ]);
      await client.query('LOCK TABLE end_of_day_reporting_run_lock IN ACCESS EXCLUSIVE MODE NOWAIT');
    } catch (error) {
      await client.end().catch(() => undefined);
      if (sqlState(error) === SQLSTATE.LOCK_NOT_AVAILABLE) return null;
      throw error;
    }
    const { rows } = await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
    const holderPid = rows[0]?.pid as number;
    const token = await nextFencingToken(client);
    let pending: Promise<unknown> = Promise.resolve();
    const timer = setInterval(() => {
      if (lost.signal.aborted) return;
      pending = client.query('SELECT 1').catch((error: Error) => {
        lost.abort(new EodError('LEASE_LOST', `table lock lost: ${error.message}`));
      });
    }, this.options.keepAliveEveryMs);
    let released = false;
    client.on('end', () => {
      if (!released && !lost.signal.aborted)
        lost.abort(new EodError('LEASE_LOST', 'table lock connection closed'));
    });
    const fence = { kind: 'table', holderPid } as const;

    const lockName = 'end_of_day_reporting_run_lock';
    return {
      fence,
      token,
      lost: lost.signal,
      assertHeld: async () => {
        if (lost.signal.aborted) throw lost.signal.reason;
        const holds = await fenceHolds(client, fence).catch(() => false);
        if (holds) return;
        lost.abort(new EodError('LEASE_LOST', 'table lock is no longer held'));
        throw lost.signal.reason;
      },
      renewBeforeAct: async () => {
        if (lost.signal.aborted) throw lost.signal.reason;
        // Any statement restarts the server's idle-in-transaction clock: that is the renewal.
        const sent = performance.now();
        const holds = await fenceHolds(client, fence).catch(() => false);
        if (!holds) {
          lost.abort(new EodError('LEASE_LOST', 'table lock is no longer held'));
          throw lost.signal.reason;
        }
        const left = this.options.atMostForMs - (performance.now() - sent);
        requireMargin(lockName, token, left, this.options.safetyMarginMs);
      },
      release: async () => {
        released = true;
        clearInterval(timer);
        await pending;
        await client.query('ROLLBACK').catch(() => undefined);
        await client.end().catch(() => undefined);
      },
    };
  }
}
