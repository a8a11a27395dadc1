import { Cron } from 'croner';
import { describe, expect, it } from 'vitest';
import { previousLocalDate } from '../../src/core/report-date.js';
import { dueDates, latestDueDate } from '../../src/service/due-dates.js';

const report = (
  schedule: string,
  timezone: string,
  extra: { catchUpDays?: number; startDate?: string } = {},
) => ({
  schedule,
  timezone,
  catchUpDays: extra.catchUpDays ?? 0,
  startDate: extra.startDate,
});

/** The report dates of every tick in [from, to): each date must appear once, none skipped. */
function ticksBetween(
  schedule: string,
  timezone: string,
  from: string,
  to: string,
): { tick: string; date: string }[] {
  const cron = new Cron(schedule, { timezone, paused: true });
  const out: { tick: string; date: string }[] = [];
  let at: Date | null = new Date(from);
  for (;;) {
    at = cron.nextRun(at);
    if (!at || at >= new Date(to)) return out;
    out.push({ tick: at.toISOString(), date: previousLocalDate(at, timezone) });
  }
}

function expectEachDayOnce(ticks: { date: string }[], first: string, last: string) {
  const dates = ticks.map((t) => t.date);
  expect(new Set(dates).size, `no date twice: ${dates.join(' ')}`).toBe(dates.length);
  expect(dates[0]).toBe(first);
  expect(dates.at(-1)).toBe(last);
  for (let i = 1; i < dates.length; i++) {
    const gap = (Date.parse(dates[i] as string) - Date.parse(dates[i - 1] as string)) / 86_400_000;
    expect(gap, `no date skipped between ${dates[i - 1]} and ${dates[i]}`).toBe(1);
  }
}

describe('scheduling across DST changes: no day skipped, none run twice', () => {
  it('Europe/London 01:30, a time skipped in March (runs when the clocks jump)', () => {
    const ticks = ticksBetween('30 1 * * *', 'Europe/London', '2026-03-27T12:00:00Z', '2026-04-01T12:00:00Z');
    expectEachDayOnce(ticks, '2026-03-27', '2026-03-31');
    expect(ticks.find((t) => t.date === '2026-03-28')?.tick).toBe('2026-03-29T01:00:00.000Z');
  });
  it('Europe/London 01:30, a time repeated in October (runs once, at its first occurrence)', () => {
    const ticks = ticksBetween('30 1 * * *', 'Europe/London', '2026-10-23T12:00:00Z', '2026-10-28T12:00:00Z');
    expectEachDayOnce(ticks, '2026-10-23', '2026-10-27');
    expect(ticks.find((t) => t.date === '2026-10-24')?.tick).toBe('2026-10-25T00:30:00.000Z');
  });
  it('Europe/London 02:30 in March and October', () => {
    expectEachDayOnce(
      ticksBetween('30 2 * * *', 'Europe/London', '2026-03-27T12:00:00Z', '2026-04-01T12:00:00Z'),
      '2026-03-27',
      '2026-03-31',
    );
    expectEachDayOnce(
      ticksBetween('30 2 * * *', 'Europe/London', '2026-10-23T12:00:00Z', '2026-10-28T12:00:00Z'),
      '2026-10-23',
      '2026-10-27',
    );
  });
  it('America/Santiago midnight: skipped in September, repeated in April', () => {
    const spring = ticksBetween(
      '0 0 * * *',
      'America/Santiago',
      '2026-09-03T12:00:00Z',
      '2026-09-09T12:00:00Z',
    );
    expectEachDayOnce(spring, '2026-09-03', '2026-09-08');
    // Midnight of 6 September does not exist there: the tick is at 01:00 -03, still reporting the 5th.
    expect(spring.find((t) => t.date === '2026-09-05')?.tick).toBe('2026-09-06T04:00:00.000Z');
    expectEachDayOnce(
      ticksBetween('0 0 * * *', 'America/Santiago', '2026-04-02T12:00:00Z', '2026-04-08T12:00:00Z'),
      '2026-04-02',
      '2026-04-07',
    );
  });
  it('Asia/Beirut midnight: skipped in March, repeated in October', () => {
    expectEachDayOnce(
      ticksBetween('0 0 * * *', 'Asia/Beirut', '2026-03-26T12:00:00Z', '2026-04-01T12:00:00Z'),
      '2026-03-26',
      '2026-03-31',
    );
    expectEachDayOnce(
      ticksBetween('0 0 * * *', 'Asia/Beirut', '2026-10-22T12:00:00Z', '2026-10-28T12:00:00Z'),
      '2026-10-22',
      '2026-10-27',
    );
  });
});

describe('due dates', () => {
  it('are the day that just ended at the newest tick, plus catchUpDays before it, oldest first', () => {
    const r = report('0 0 * * *', 'Europe/London', { catchUpDays: 3 });
    expect(dueDates(r, new Date('2026-11-25T00:00:05Z'))).toEqual([
      '2026-11-21',
      '2026-11-22',
      '2026-11-23',
      '2026-11-24',
    ]);
    // Just before midnight the newest due date is still the day before yesterday.
    expect(latestDueDate(r, new Date('2026-11-24T23:59:59Z'))).toBe('2026-11-23');
  });
  it('never go before startDate', () => {
    const r = report('0 0 * * *', 'Asia/Tokyo', { catchUpDays: 5, startDate: '2026-11-22' });
    expect(dueDates(r, new Date('2026-11-24T16:00:00Z'))).toEqual(['2026-11-22', '2026-11-23', '2026-11-24']);
  });
  it('a schedule with a seconds field reports the previous local day on every tick', () => {
    const r = report('*/5 * * * * *', 'America/New_York');
    expect(dueDates(r, new Date('2026-11-25T04:59:59Z'))).toEqual(['2026-11-23']);
    expect(dueDates(r, new Date('2026-11-25T05:00:01Z'))).toEqual(['2026-11-24']);
  });
});
