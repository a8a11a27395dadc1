/**
 * Retention (`prune`, and `serve` once a day): drops the captures of days that are fully archived
 * and older than `retention.capturedDays`, keeping every event and proof. The archived object is
 * then the only copy of the bytes we hold; `verify` reads it.
 */
import type pg from 'pg';
import type { Logger } from 'pino';
import { type PruneCandidate, pruneCandidates } from '../adapters/postgres/sql/retention.js';
import { coerceError } from '../core/errors.js';
import type { Clock, RowSource } from '../ports.js';

const BATCH = 100;
const DAY_MS = 24 * 60 * 60 * 1000;
// Long waits are taken in short steps, so a suspended host or a clock jump is noticed soon.
const MAX_SLEEP_MS = 30_000;

export interface PruneOptions {
  pool: pg.Pool;
  rows: RowSource;
  capturedDays: number;
  /** List what would be dropped, drop nothing. */
  dryRun?: boolean;
  signal?: AbortSignal;
}

/** Drops the captures due (oldest first); returns the days whose capture this call dropped. */
export async function pruneCaptures(options: PruneOptions): Promise<PruneCandidate[]> {
  const { pool, rows, capturedDays, signal } = options;
  if (options.dryRun) return pruneCandidates(pool, capturedDays, 1_000_000);
  const dropped: PruneCandidate[] = [];
  for (;;) {
    signal?.throwIfAborted();
    const batch = await pruneCandidates(pool, capturedDays, BATCH);
    for (const candidate of batch) {
      signal?.throwIfAborted();
      // False: another instance pruned it meanwhile.
      if (await rows.dropCapture(candidate.processId)) dropped.push(candidate);
    }
    if (batch.length < BATCH) return dropped;
  }
}

/** `serve`'s daily prune: at start, then every 24 h, until `stop`. Failures are logged, never fatal. */
export async function pruneDaily(
  options: Omit<PruneOptions, 'dryRun' | 'signal'> & { clock: Clock; logger: Logger; stop: AbortSignal },
): Promise<void> {
  const { clock, logger, stop } = options;
  while (!stop.aborted) {
    try {
      const dropped = await pruneCaptures({ ...options, signal: stop });
      logger.info(
        { event: 'prune.done', dropped: dropped.length, capturedDays: options.capturedDays },
        `prune: dropped the captures of ${dropped.length} archived day(s) older than ${options.capturedDays} days`,
      );
    } catch (error) {
      if (stop.aborted) return;
      logger.warn({ event: 'prune.failed', err: coerceError(error) }, 'prune failed; trying again in a day');
    }
    const next = clock.now().getTime() + DAY_MS;
    for (let left = DAY_MS; left > 0 && !stop.aborted; left = next - clock.now().getTime()) {
      await clock.sleep(Math.min(left, MAX_SLEEP_MS), stop).catch(() => undefined);
    }
  }
}
