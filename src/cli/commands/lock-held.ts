/**
 * What an operator reads when a report's lock is held (exit 75): who holds it, since when and
 * until when by database time, so that after a crash (`kill -9`, a lost VM) they know how long
 * the dead holder's lease still blocks a rerun, and which setting decides it.
 */
import { type LeaseHolder, readLease } from '../../adapters/postgres/sql/shedlock.js';
import { lockNameFor } from '../../app/run-report.js';
import type { App } from '../../app/wiring.js';
import type { ReportConfig } from '../../config/schema.js';

/**
 * One line, after "<report> <date>: " (no trailing period). Reads the lease row (lease strategy);
 * if that read fails the line still says that the lock is held. Never throws.
 */
export async function describeLockHeld(
  app: Pick<App, 'config' | 'pool'>,
  report: ReportConfig,
): Promise<string> {
  const { lock } = app.config;
  if (lock.strategy !== 'lease') {
    return 'lock held by another session (lock.strategy: table, LOCK TABLE … NOWAIT); it is released when that session ends';
  }
  const lease = await readLease(app.pool, lockNameFor(report)).catch(() => null);
  if (!lease) return 'lock held by another instance';
  const seconds = Math.max(0, Math.ceil(lease.remainingMs / 1000));
  return (
    `lock held by ${lease.lockedBy} (since ${lease.lockedAt.toISOString()}, fencing token ${lease.fencingToken ?? 'none'}) ` +
    `until ${lease.lockUntil.toISOString()} by database time, ${seconds} s from now. A live holder renews it; ` +
    `if that holder crashed, its lease lapses then (lock.atMostFor: ${Math.round(lock.atMostFor / 1000)} s) and a rerun takes over`
  );
}

/**
 * When the lease is held only by a run that already finished (released; ShedLock keeps it taken
 * until locked_at + lock.atLeastFor): the line saying so and how long to wait for it (the rest,
 * plus a moment). Undefined for a live holder, or if the rest exceeds atLeastFor (not ours to
 * wait for). Never throws.
 */
export async function finishedRunHolding(
  app: Pick<App, 'config' | 'pool'>,
  report: ReportConfig,
): Promise<{ line: string; waitMs: number } | undefined> {
  const { lock } = app.config;
  if (lock.strategy !== 'lease') return undefined;
  const lease: LeaseHolder | null = await readLease(app.pool, lockNameFor(report)).catch(() => null);
  if (!lease?.releasedAt || lease.remainingMs > lock.atLeastFor + 1000) return undefined;
  const waitMs = Math.max(0, lease.remainingMs) + 250;
  return {
    waitMs,
    line:
      `lock held until ${lease.lockUntil.toISOString()} by the run of ${lease.lockedBy} that finished at ` +
      `${lease.releasedAt.toISOString()}, because of lock.atLeastFor (${Math.round(lock.atLeastFor / 1000)} s); ` +
      `waiting ${Math.ceil(waitMs / 1000)} s, then trying again`,
  };
}
