import type pg from 'pg';
import { EodError } from '../../core/errors.js';
import type { HeldLock, Lock } from '../../ports.js';
import { isDatabaseUnavailable, withDatabase } from '../postgres/db-errors.js';
import { fenceHolds } from '../postgres/sql/events.js';
import { acquireLease, releaseLease, renewLease } from '../postgres/sql/shedlock.js';
import { requireMargin } from './margin.js';

export interface LeaseLockOptions {
  instanceId: string;
  atMostForMs: number;
  atLeastForMs: number;
  renewEveryMs: number;
  /** Least lease time that must be left after the renewal before an irreversible act. */
  safetyMarginMs: number;
  onRenewError?: (error: unknown) => void;
  /** How long `release` keeps trying while the database is unreachable (default 60 000 ms). */
  releaseTryForMs?: number;
}

/**
 * Per-name lease on the ShedLock table, renewed while held. The lease is declared lost (and the
 * `lost` signal aborted) when a renewal finds it taken over, or when renewals have failed for
 * longer than the lease itself: from then on another instance may hold it, and the fence in every
 * event write refuses ours.
 */
export class LeaseLock implements Lock {
  constructor(
    private readonly pool: pg.Pool,
    private readonly options: LeaseLockOptions,
  ) {}

  async tryAcquire(name: string): Promise<HeldLock | null> {
    const { instanceId, atMostForMs, atLeastForMs, renewEveryMs } = this.options;
    const acquired = await withDatabase(`taking lock "${name}"`, () =>
      acquireLease(this.pool, { name, holder: instanceId, atMostForMs }),
    );
    if (!acquired) return null;
    const { token } = acquired;
    const lost = new AbortController();
    let lastRenewed = performance.now();
    let renewing: Promise<void> = Promise.resolve();

    const renew = async () => {
      try {
        if ((await renewLease(this.pool, { name, token, atMostForMs })) !== null) {
          lastRenewed = performance.now();
          return;
        }
        lost.abort(
          new EodError('LEASE_LOST', `lock "${name}" was taken over or lapsed (fencing token ${token})`, {
            name,
            token,
          }),
        );
      } catch (error) {
        this.options.onRenewError?.(error);
        if (performance.now() - lastRenewed >= atMostForMs) {
          lost.abort(
            new EodError('LEASE_LOST', `lock "${name}" could not be renewed for ${atMostForMs} ms`, {
              name,
              token,
            }),
          );
        }
      }
    };
    const timer = setInterval(() => {
      if (!lost.signal.aborted) renewing = renew();
    }, renewEveryMs);

    const fence = { kind: 'lease', lockName: name, token } as const;
    return {
      fence,
      token,
      lost: lost.signal,
      assertHeld: async () => {
        if (lost.signal.aborted) throw lost.signal.reason;
        if (await withDatabase(`checking lock "${name}"`, () => fenceHolds(this.pool, fence))) return;
        lost.abort(
          new EodError('LEASE_LOST', `lock "${name}" is no longer ours (fencing token ${token})`, {
            name,
            token,
          }),
        );
        throw lost.signal.reason;
      },
      renewBeforeAct: async () => {
        if (lost.signal.aborted) throw lost.signal.reason;
        const sent = performance.now();
        const remainingMs = await withDatabase(`renewing lock "${name}" before an irreversible act`, () =>
          renewLease(this.pool, { name, token, atMostForMs }),
        );
        if (remainingMs === null) {
          lost.abort(
            new EodError('LEASE_LOST', `lock "${name}" is no longer ours (fencing token ${token})`, {
              name,
              token,
            }),
          );
          throw lost.signal.reason;
        }
        lastRenewed = performance.now();
        // Time the answer took to come back is time the lease has already used up.
        requireMargin(name, token, remainingMs - (lastRenewed - sent), this.options.safetyMarginMs);
      },
      release: async () => {
        clearInterval(timer);
        await renewing;
        if (lost.signal.aborted) return;
        // A holder that lost its database gives the lease up as soon as the database is back,
        // rather than leaving it to lapse after atMostFor (every other instance would wait).
        const giveUpAt = performance.now() + Math.min(atMostForMs, this.options.releaseTryForMs ?? 60_000);
        for (let attempt = 1; ; attempt++) {
          try {
            await releaseLease(this.pool, { name, token, atLeastForMs });
            return;
          } catch (error) {
            if (!isDatabaseUnavailable(error) || performance.now() >= giveUpAt)
              throw withDatabaseMessage(error, name);
            await new Promise((resolve) => setTimeout(resolve, Math.min(5000, 100 * 2 ** attempt)));
          }
        }
      },
    };
  }
}

function withDatabaseMessage(error: unknown, name: string): unknown {
  if (!isDatabaseUnavailable(error)) return error;
  const reason = error instanceof Error ? error.message : String(error);
  return new EodError(
    'DATABASE_UNAVAILABLE',
    `lock "${name}" could not be released, PostgreSQL unavailable: ${reason}; it lapses after lock.atMostFor`,
    { name },
    { cause: error },
  );
}
