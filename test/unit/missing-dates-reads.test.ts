/**
 * The missing-dates reads behind every scrape and status page are bounded (issue 12 §3): after
 * the first read, only dates after the newest fully complete prefix are read again, and a date
 * filled later by `run --date` is still seen.
 */
import { describe, expect, it } from 'vitest';
import type { ReportConfig } from '../../src/config/schema.js';
import type { ReportHistory } from '../../src/ports.js';
import { missingDatesOf } from '../../src/service/missing-dates.js';

function history(complete: Set<string>, first: string) {
  const reads: string[] = [];
  const h: ReportHistory = {
    firstProcessDate: async () => first,
    completeDatesSince: async (_report, from) => {
      reads.push(from);
      return new Set([...complete].filter((d) => d >= from));
    },
  };
  return { h, reads };
}

// Only the schedule's fields matter here; the rest of a report is irrelevant to which dates are due.
const report = () =>
  ({
    name: 'r',
    timezone: 'UTC',
    schedule: '0 0 * * *',
    catchUpDays: 3,
    reportDate: 'previous-day',
  }) as unknown as ReportConfig;

describe('missing dates reads', () => {
  it('reads the whole history once, then only after the complete prefix; a filled date disappears', async () => {
    const all = new Set<string>();
    for (
      let d = new Date('2026-01-01T00:00:00Z');
      d < new Date('2026-11-20T00:00:00Z');
      d.setUTCDate(d.getUTCDate() + 1)
    )
      all.add(d.toISOString().slice(0, 10));
    all.delete('2026-11-10');
    const { h, reads } = history(all, '2026-01-01');
    const now = new Date('2026-11-30T12:00:00Z');
    const r = report();
    expect(await missingDatesOf(h, r, now)).toEqual(['2026-11-10', ...range('2026-11-20', '2026-11-25')]);
    expect(await missingDatesOf(h, r, now)).toEqual(['2026-11-10', ...range('2026-11-20', '2026-11-25')]);
    // First read from the first process; the second only from the oldest missing date.
    expect(reads).toEqual(['2026-01-01', '2026-11-10']);
    all.add('2026-11-10'); // run --date fills it
    expect(await missingDatesOf(h, r, now)).toEqual(range('2026-11-20', '2026-11-25'));
    expect(reads.at(-1)).toBe('2026-11-10');
    await missingDatesOf(h, r, now);
    expect(reads.at(-1)).toBe('2026-11-20');
  });
});

function range(from: string, to: string): string[] {
  const out: string[] = [];
  for (
    let d = new Date(`${from}T00:00:00Z`);
    d <= new Date(`${to}T00:00:00Z`);
    d.setUTCDate(d.getUTCDate() + 1)
  )
    out.push(d.toISOString().slice(0, 10));
  return out;
}
