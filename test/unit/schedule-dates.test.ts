/**
 * Issue 8 items 7, 8, 9, 10 (the pure part): due dates are the report dates of the schedule's own
 * ticks, catch-up counts the schedule's dates, a first start runs only the newest date,
 * reportDate previous-day | same-day, when a date counts as finished, and which dates are missing.
 */
import { describe, expect, it } from 'vitest';
import {
  dueDates,
  isScheduledDate,
  latestDueDate,
  missingDates,
  reportDateEnd,
  reportDateOfTick,
  type ScheduleSpec,
} from '../../src/core/schedule-dates.js';

const spec = (schedule: string, extra: Partial<ScheduleSpec> = {}): ScheduleSpec => ({
  schedule,
  timezone: 'Europe/London',
  catchUpDays: 3,
  ...extra,
});
const weekday = (date: string) => new Date(`${date}T12:00:00Z`).getUTCDay();

describe('business-day schedule "0 0 * * 2-6" (reports Monday to Friday)', () => {
  const s = spec('0 0 * * 2-6');
  it('at Tue 00:00 the due dates are Mon and the three business days before it, no Sat or Sun', () => {
    // 2026-11-24 is a Tuesday.
    expect(dueDates(s, new Date('2026-11-24T00:00:05Z'))).toEqual([
      '2026-11-18',
      '2026-11-19',
      '2026-11-20',
      '2026-11-23',
    ]);
  });
  it('every half hour of a weekend and the days around it yields only Mon-Fri dates', () => {
    const seen = new Set<string>();
    for (let t = Date.parse('2026-11-19T00:00:00Z'); t < Date.parse('2026-11-26T00:00:00Z'); t += 1_800_000) {
      for (const d of dueDates(s, new Date(t))) seen.add(d);
    }
    expect([...seen].filter((d) => [0, 6].includes(weekday(d)))).toEqual([]);
    expect([...seen].sort()).toContain('2026-11-20');
    expect(latestDueDate(s, new Date('2026-11-22T12:00:00Z'))).toBe('2026-11-20'); // Sunday: Friday
  });
  it('a weekend date is not a scheduled date', () => {
    expect(isScheduledDate(s, '2026-11-21')).toBe(false);
    expect(isScheduledDate(s, '2026-11-22')).toBe(false);
    expect(isScheduledDate(s, '2026-11-20')).toBe(true);
  });
});

describe('reportDate', () => {
  it('previous-day (default): a midnight tick reports the day that just ended', () => {
    expect(reportDateOfTick(new Date('2026-11-25T00:00:00Z'), { timezone: 'Europe/London' })).toBe(
      '2026-11-24',
    );
  });
  it('same-day: "30 18 * * 1-5" reports the local day of the tick, Friday on Friday evening', () => {
    const s = spec('30 18 * * 1-5', { timezone: 'America/New_York', reportDate: 'same-day' });
    // Friday 2026-11-27 18:30 New York = 23:30 UTC.
    expect(latestDueDate(s, new Date('2026-11-27T23:29:59Z'))).toBe('2026-11-26');
    expect(latestDueDate(s, new Date('2026-11-27T23:30:01Z'))).toBe('2026-11-27');
    expect(dueDates(s, new Date('2026-11-30T12:00:00Z'))).toEqual([
      '2026-11-24',
      '2026-11-25',
      '2026-11-26',
      '2026-11-27',
    ]);
  });
  it('a date is finished at the next local midnight; a same-day date at its tick', () => {
    expect(reportDateEnd(spec('0 0 * * *'), '2026-11-24').toISOString()).toBe('2026-11-25T00:00:00.000Z');
    expect(reportDateEnd(spec('0 0 * * *', { timezone: 'Asia/Tokyo' }), '2026-11-24').toISOString()).toBe(
      '2026-11-24T15:00:00.000Z',
    );
    const sameDay = spec('30 18 * * 1-5', { timezone: 'America/New_York', reportDate: 'same-day' });
    expect(reportDateEnd(sameDay, '2026-11-27').toISOString()).toBe('2026-11-27T23:30:00.000Z');
    // Saturday has no tick: it ends at midnight.
    expect(reportDateEnd(sameDay, '2026-11-28').toISOString()).toBe('2026-11-29T05:00:00.000Z');
  });
});

describe('first start', () => {
  const s = spec('0 0 * * *');
  const now = new Date('2026-11-25T00:00:05Z');
  it('a report with no process runs only its newest due date', () => {
    expect(dueDates(s, now, { firstProcess: null })).toEqual(['2026-11-24']);
  });
  it('nor does it later go back before its first process', () => {
    expect(dueDates(s, new Date('2026-11-26T00:00:05Z'), { firstProcess: '2026-11-24' })).toEqual([
      '2026-11-24',
      '2026-11-25',
    ]);
  });
  it('with startDate it runs the catch-up window from startDate', () => {
    expect(dueDates({ ...s, startDate: '2026-11-22' }, now, { firstProcess: null })).toEqual([
      '2026-11-22',
      '2026-11-23',
      '2026-11-24',
    ]);
  });
});

describe('missing dates', () => {
  const s = spec('0 0 * * 2-6');
  // Tue 2026-11-24 00:00: window Wed 18, Thu 19, Fri 20, Mon 23.
  const now = new Date('2026-11-24T00:00:05Z');
  it('are the scheduled dates from the first process to before the window that are not complete', () => {
    expect(
      missingDates(s, now, { from: '2026-11-12', complete: new Set(['2026-11-12', '2026-11-16']) }),
    ).toEqual(['2026-11-13', '2026-11-17']);
  });
  it('start at startDate when it is set, and are none without any process or startDate', () => {
    expect(
      missingDates({ ...s, startDate: '2026-11-16' }, now, { from: '2026-11-16', complete: new Set() }),
    ).toEqual(['2026-11-16', '2026-11-17']);
    expect(missingDates(s, now, { from: null, complete: new Set() })).toEqual([]);
  });
  it('a first start is not missing anything', () => {
    expect(missingDates(s, now, { from: '2026-11-23', complete: new Set() })).toEqual([]);
  });
});
