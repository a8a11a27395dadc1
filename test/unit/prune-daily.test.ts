import type pg from 'pg';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { pruneDaily } from '../../src/app/prune.js';
import type { Clock, RowSource } from '../../src/ports.js';

describe('pruneDaily (serve)', () => {
  it('prunes at start and again every 24 h of the clock, waking at least every 30 s, until stopped', async () => {
    const start = Date.parse('2026-01-01T00:00:00Z');
    let now = start;
    const sleeps: number[] = [];
    const stop = new AbortController();
    const prunedAt: number[] = [];
    const clock: Clock = {
      now: () => new Date(now),
      sleep: async (ms) => {
        sleeps.push(ms);
        now += ms;
      },
    };
    // The candidates query is the only statement made when nothing is due.
    const pool = {
      query: async () => {
        prunedAt.push(now);
        if (prunedAt.length === 3) stop.abort();
        return { rows: [] };
      },
    } as unknown as pg.Pool;
    const rows = { dropCapture: async () => true } as unknown as RowSource;

    await pruneDaily({
      pool,
      rows,
      capturedDays: 35,
      clock,
      logger: pino({ level: 'silent' }),
      stop: stop.signal,
    });

    expect(prunedAt.map((t) => (t - start) / 3_600_000)).toEqual([0, 24, 48]);
    expect(Math.max(...sleeps)).toBeLessThanOrEqual(30_000);
  });
});
