/**
 * The schedule arithmetic `serve` uses, on the report config. The rules live in the pure core
 * (core/schedule-dates.ts); this module adds the deadline of the newest date.
 */
import type { ReportConfig } from '../config/schema.js';
import { latestDueDate, type ScheduleSpec } from '../core/schedule-dates.js';
import { deadlineOf } from '../core/zoned-time.js';

export {
  dueDates,
  latestDueDate,
  missingDates,
  msUntilNextTick,
  reportDateEnd,
} from '../core/schedule-dates.js';

/** The newest due date and its submission deadline, for a report that has a deadline. */
export function newestDeadline(
  report: ScheduleSpec & Pick<ReportConfig, 'deadline'>,
  now: Date,
): { date: string; deadline: Date } | null {
  const date = latestDueDate(report, now);
  if (!report.deadline || !date) return null;
  return { date, deadline: deadlineOf(date, report.deadline, report.timezone) };
}
