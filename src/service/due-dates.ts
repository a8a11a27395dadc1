import { Cron } from 'croner';
import type { ReportConfig } from '../config/schema.js';
import { addDays, previousLocalDate } from '../core/report-date.js';
import { deadlineOf } from '../core/zoned-time.js';

type Schedule = Pick<ReportConfig, 'schedule' | 'timezone' | 'catchUpDays' | 'startDate'>;

function cronOf(report: Schedule): Cron {
  return new Cron(report.schedule, { timezone: report.timezone, paused: true });
}

/**
 * The report date of the newest tick at or before `now`: the calendar day that had just ended in
 * the report's zone when the schedule fired. Croner handles DST: a fixed-time schedule whose time
 * is skipped fires when the clocks have jumped, and a repeated time fires once.
 */
export function latestDueDate(report: Schedule, now: Date): string | null {
  const [tick] = cronOf(report).previousRuns(1, now);
  return tick ? previousLocalDate(tick, report.timezone) : null;
}

/**
 * Every date `serve` must make sure is complete at `now`, oldest first: the newest due date and
 * `catchUpDays` days before it, never before `startDate`.
 */
export function dueDates(report: Schedule, now: Date): string[] {
  const newest = latestDueDate(report, now);
  if (!newest) return [];
  const dates: string[] = [];
  for (let back = report.catchUpDays; back >= 0; back--) {
    const date = addDays(newest, -back);
    if (!report.startDate || date >= report.startDate) dates.push(date);
  }
  return dates;
}

/** Milliseconds until the next tick after `now` (null if the schedule never fires again). */
export function msUntilNextTick(report: Schedule, now: Date): number | null {
  const next = cronOf(report).nextRun(now);
  return next ? Math.max(0, next.getTime() - now.getTime()) : null;
}

/** The newest due date and its submission deadline, for a report that has a deadline. */
export function newestDeadline(
  report: Schedule & Pick<ReportConfig, 'deadline'>,
  now: Date,
): { date: string; deadline: Date } | null {
  const date = latestDueDate(report, now);
  if (!report.deadline || !date) return null;
  return { date, deadline: deadlineOf(date, report.deadline, report.timezone) };
}
