/**
 * The one owner of time: PostgreSQL's clock (PRODUCT.md §3.1, §4). Leases and event timestamps
 * are written with `now()` on the server; which dates are due, and whether a date has ended, must
 * be judged by the same clock, or a host whose clock runs fast captures a day before it ends.
 *
 * The clock reads the database time, then advances it with the monotonic clock of this process
 * (so a host clock that jumps between reads changes nothing), and re-reads it every
 * `refreshEveryMs`. The host–database skew (host minus database, seconds) is measured at each
 * read, from the sample with the shortest round trip.
 */
import { setTimeout as delay } from 'node:timers/promises';
import type { Clock } from '../../ports.js';

export interface ClockSkew {
  /** Host clock minus database clock, seconds; positive when the host runs fast. */
  seconds: number;
  /** Round trip of the sample the skew was taken from, ms: the measurement's uncertainty. */
  roundTripMs: number;
  /** Database time of the measurement. */
  at: Date;
}

export interface DatabaseClockOptions {
  /** Reads the database's `now()`. */
  readDatabaseNow: () => Promise<Date>;
  /** The host's wall clock (ms since the epoch); injectable so tests can make a host run fast. */
  hostNow?: () => number;
  /** Monotonic milliseconds; default performance.now. */
  monotonic?: () => number;
  refreshEveryMs?: number;
  /** Samples per measurement; the one with the shortest round trip is kept. */
  samples?: number;
  onMeasured?: (skew: ClockSkew) => void;
  onError?: (error: unknown) => void;
}

export class DatabaseClock implements Clock {
  readonly #options: DatabaseClockOptions;
  readonly #hostNow: () => number;
  readonly #monotonic: () => number;
  #base: { databaseMs: number; monotonicMs: number } | null = null;
  #skew: ClockSkew | null = null;
  #timer: AbortController | null = null;

  constructor(options: DatabaseClockOptions) {
    this.#options = options;
    this.#hostNow = options.hostNow ?? Date.now;
    this.#monotonic = options.monotonic ?? (() => performance.now());
  }

  /** Reads the database clock now. Throws what the read throws (database unreachable). */
  async sync(): Promise<ClockSkew> {
    let best: { databaseMs: number; monotonicMs: number; hostMs: number; roundTripMs: number } | null = null;
    for (let i = 0; i < (this.#options.samples ?? 3); i++) {
      const m0 = this.#monotonic();
      const h0 = this.#hostNow();
      const databaseMs = (await this.#options.readDatabaseNow()).getTime();
      const m1 = this.#monotonic();
      const h1 = this.#hostNow();
      const sample = { databaseMs, monotonicMs: (m0 + m1) / 2, hostMs: (h0 + h1) / 2, roundTripMs: m1 - m0 };
      if (!best || sample.roundTripMs < best.roundTripMs) best = sample;
    }
    if (!best) throw new Error('clock: no sample taken');
    this.#base = { databaseMs: best.databaseMs, monotonicMs: best.monotonicMs };
    this.#skew = {
      seconds: (best.hostMs - best.databaseMs) / 1000,
      roundTripMs: best.roundTripMs,
      at: new Date(best.databaseMs),
    };
    this.#options.onMeasured?.(this.#skew);
    return this.#skew;
  }

  /** Re-reads the database clock every refreshEveryMs until stop(); a failed read keeps the last. */
  start(): void {
    if (this.#timer) return;
    const timer = new AbortController();
    this.#timer = timer;
    const every = this.#options.refreshEveryMs ?? 30_000;
    void (async () => {
      while (!timer.signal.aborted) {
        try {
          await delay(every, undefined, { signal: timer.signal, ref: false });
          await this.sync();
        } catch (error) {
          if (!timer.signal.aborted) this.#options.onError?.(error);
        }
      }
    })();
  }

  stop(): void {
    this.#timer?.abort();
    this.#timer = null;
  }

  /** Database time. Throws before the first sync(): guessing from the host clock is what this
   * class exists to avoid. */
  now(): Date {
    if (!this.#base) throw new Error('database clock used before its first sync()');
    return new Date(Math.round(this.#base.databaseMs + (this.#monotonic() - this.#base.monotonicMs)));
  }

  /** The last measured skew, or null before the first sync(). */
  skew(): ClockSkew | null {
    return this.#skew;
  }

  async sleep(ms: number, signal?: AbortSignal): Promise<void> {
    await delay(ms, undefined, { signal });
  }
}
