/**
 * Which report dates a schedule produces (PRODUCT.md §3.1 "Schedules decide dates", "Only finished
 * days"). Pure: every function takes the instant it reasons about (database time, from the caller)
 * and uses croner only as a calculator.
 *
 * A tick reports a date: with `reportDate: previous-day` the local calendar day before the tick
 * (a midnight run reports the day that just ended), with `same-day` the local day of the tick (an
 * 18:30 end-of-business run). The dates a schedule produces are exactly those of its ticks: a
 * weekday schedule never produces a weekend date, and the catch-up window counts the schedule's
 * report dates, not calendar days.
 */
import { Cron } from 'croner';
import { addDays, localDate } from './report-date.js';
import { zonedTimeToInstant } from './zoned-time.js';

export type ReportDateRule = 'previous-day' | 'same-day';

export interface ScheduleSpec {
  /** Cron expression (5 or 6 fields) evaluated in `timezone`. */
  schedule: string;
  /** IANA zone of the schedule and the report dates. */
  timezone: string;
  /** Which date a tick reports; default previous-day. */
  reportDate?: ReportDateRule;
  /** How many report dates before the newest one are still run by `serve`. */
  catchUpDays: number;
  /** No date before this one (YYYY-MM-DD) is ever due. */
  startDate?: string | undefined;
}

/** How far back a search for the schedule's dates goes: a schedule that fires less often than
 * this (a leap-day cron) is treated as producing no older dates. */
const MAX_SCAN_DAYS = 3700;

function cronOf(spec: ScheduleSpec): Cron {
  return new Cron(spec.schedule, { timezone: spec.timezone, paused: true });
}

const ruleOf = (spec: Pick<ScheduleSpec, 'reportDate'>): ReportDateRule => spec.reportDate ?? 'previous-day';

/** The report date (YYYY-MM-DD) of a tick at instant `tick`. */
export function reportDateOfTick(tick: Date, spec: Pick<ScheduleSpec, 'timezone' | 'reportDate'>): string {
  const day = localDate(tick, spec.timezone);
  return ruleOf(spec) === 'same-day' ? day : addDays(day, -1);
}

/** The first instant of local calendar day `date` in `timeZone` (midnight, or the DST jump). */
export function startOfLocalDay(date: string, timeZone: string): Date {
  return zonedTimeToInstant(date, '00:00', timeZone);
}

/** The first tick within local day `day`, or null when the schedule does not fire that day. */
function firstTickOn(cron: Cron, day: string, timeZone: string): Date | null {
  const start = startOfLocalDay(day, timeZone).getTime();
  const end = startOfLocalDay(addDays(day, 1), timeZone).getTime();
  // nextRun is strictly after its argument; croner works in whole seconds.
  const tick = cron.nextRun(new Date(start - 1000));
  return tick && tick.getTime() >= start && tick.getTime() < end ? tick : null;
}

/** The local day on which the ticks reporting `date` fall. */
const tickDayOf = (date: string, spec: ScheduleSpec) =>
  ruleOf(spec) === 'same-day' ? date : addDays(date, 1);

/** True when some tick of the schedule reports `date`. */
export function isScheduledDate(spec: ScheduleSpec, date: string, cron: Cron = cronOf(spec)): boolean {
  return firstTickOn(cron, tickDayOf(date, spec), spec.timezone) !== null;
}

/**
 * The instant after which `date` counts as finished and may be captured: local midnight at the
 * start of the next day. A `same-day` report declares with its schedule when its business day
 * closes, so its date is finished at its first tick that day (midnight if it has none).
 */
export function reportDateEnd(spec: ScheduleSpec, date: string): Date {
  const midnight = startOfLocalDay(addDays(date, 1), spec.timezone);
  if (ruleOf(spec) !== 'same-day') return midnight;
  return firstTickOn(cronOf(spec), date, spec.timezone) ?? midnight;
}

/** The report date of the newest tick at or before `now`, or null before the first tick. */
export function latestDueDate(spec: ScheduleSpec, now: Date): string | null {
  const [tick] = cronOf(spec).previousRuns(1, now);
  return tick ? reportDateOfTick(tick, spec) : null;
}

/**
 * The schedule's report dates before `newest` (exclusive), newest first, at most `count`, never
 * before `notBefore`.
 */
export function scheduledDatesBefore(
  spec: ScheduleSpec,
  newest: string,
  count: number,
  notBefore?: string,
): string[] {
  const cron = cronOf(spec);
  const out: string[] = [];
  for (let back = 1; out.length < count && back <= MAX_SCAN_DAYS; back++) {
    const date = addDays(newest, -back);
    if (notBefore !== undefined && date < notBefore) break;
    if (isScheduledDate(spec, date, cron)) out.push(date);
  }
  return out;
}

/**
 * Every date `serve` makes sure is complete at `now`, oldest first: the newest due date and the
 * `catchUpDays` report dates of the schedule before it, never before `startDate`. Without a
 * `startDate`, no date before the report's first process is due (`firstProcess`; null when it has
 * none, so a first start runs only the newest date): a first start must not resend days an earlier
 * system already delivered. `firstProcess` undefined means "not known" and applies no such bound.
 */
export function dueDates(
  spec: ScheduleSpec,
  now: Date,
  options: { firstProcess?: string | null } = {},
): string[] {
  const newest = latestDueDate(spec, now);
  if (!newest) return [];
  const notBefore =
    spec.startDate ?? (options.firstProcess === null ? newest : (options.firstProcess ?? undefined));
  if (notBefore !== undefined && newest < notBefore) return spec.startDate === undefined ? [newest] : [];
  return [newest, ...scheduledDatesBefore(spec, newest, spec.catchUpDays, notBefore)].reverse();
}

/**
 * The report dates `serve` will not run on its own any more and that are not complete, oldest
 * first: the schedule's dates from `from` (the report's startDate, else its first process) up to
 * the newest due date, older than the catch-up window. `run --date` fills them.
 */
export function missingDates(
  spec: ScheduleSpec,
  now: Date,
  known: { from: string | null; complete: { has(date: string): boolean } },
): string[] {
  if (known.from === null) return [];
  const window = dueDates(spec, now, { firstProcess: known.from });
  const oldestDue = window[0];
  if (oldestDue === undefined) return [];
  const cron = cronOf(spec);
  const out: string[] = [];
  for (let date = known.from; date < oldestDue; date = addDays(date, 1)) {
    if (spec.startDate !== undefined && date < spec.startDate) continue;
    if (!known.complete.has(date) && isScheduledDate(spec, date, cron)) out.push(date);
  }
  return out;
}

/** Milliseconds from `now` until the next tick (null if the schedule never fires again). */
export function msUntilNextTick(spec: Pick<ScheduleSpec, 'schedule' | 'timezone'>, now: Date): number | null {
  const next = new Cron(spec.schedule, { timezone: spec.timezone, paused: true }).nextRun(now);
  return next ? Math.max(0, next.getTime() - now.getTime()) : null;
}
