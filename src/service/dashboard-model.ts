/**
 * What the status page, /api/runs and the metrics show: per report, the recent days with their
 * steps, derived from the event table alone (pure functions; the loader is in dashboard-load.ts).
 */
import type { ReportConfig } from '../config/schema.js';
import { FAILURE_STATUS, type RunEvent, STEPS, type Step, SUCCESS_STATUS } from '../core/events.js';
import { addDays } from '../core/report-date.js';
import { summarizeProcess } from '../core/timeline.js';
import { deadlineOf } from '../core/zoned-time.js';

export type DayState = 'complete' | 'failed' | 'in-progress' | 'missing';

export interface StepAttemptView {
  status: 'succeeded' | 'failed';
  attempt: number | null;
  startedAt: string | null;
  endedAt: string;
  durationMs: number | null;
  instanceId: string | null;
  failureDetails: string | null;
}

export interface StepView {
  step: Step;
  state: 'done' | 'failed' | 'pending';
  attempts: StepAttemptView[];
  /** Of the success, when there is one. */
  durationMs: number | null;
  slow: boolean;
}

export interface EventView {
  eventId: string;
  status: string;
  createdAt: string;
  instanceId: string | null;
  failureDetails: string | null;
  facts: Record<string, unknown>;
}

export interface DayView {
  date: string;
  state: DayState;
  /** The submission deadline of this date (ISO instant), when the report has one. */
  deadline: string | null;
  /** Not submitted by the deadline (either still missing after it, or submitted after it). */
  late: boolean;
  processId: string | null;
  submittedAt: string | null;
  steps: StepView[];
  events: EventView[];
  proof: {
    rows?: number;
    bytes?: number;
    sha256?: string;
    remotePath?: string;
    bucket?: string;
    key?: string;
    versionId?: string;
  };
}

export interface ReportView {
  name: string;
  timezone: string;
  schedule: string;
  deadline: string | null;
  slowStepAfterMs: number;
  /** Newest first. */
  days: DayView[];
  /** Dates that left the catch-up window incomplete, oldest first (core/schedule-dates.ts). */
  missing: string[];
}

export interface ProcessEvents {
  processId: string;
  date: string;
  events: RunEvent[];
}

/**
 * The first date a report is responsible for (PRODUCT.md §3.1): its `startDate`, or else its newest
 * due date, since a report without processes runs only that one; a date that already has a
 * process (a run by hand, or history from before `startDate` was set) moves it back.
 */
export function responsibleFrom(
  report: ReportConfig,
  firstProcessDate: string | null,
  newest: string,
): string {
  const configured = report.startDate ?? newest;
  return firstProcessDate !== null && firstProcessDate < configured ? firstProcessDate : configured;
}

/**
 * Builds the view of one report for `dates` (newest first; default `newest` back to
 * `newest - days + 1`), at most `days` of them, none before `responsibleFrom` (default: the
 * report's `startDate`): days before a report existed are not its missing days. A date without a
 * process is 'missing' (and late when its deadline has passed). `missing` lists the dates out of
 * the catch-up window.
 */
export function reportView(
  report: ReportConfig,
  processes: readonly ProcessEvents[],
  options: {
    newest: string;
    days: number;
    now: Date;
    dates?: readonly string[];
    missing?: readonly string[];
    responsibleFrom?: string;
  },
): ReportView {
  const byDate = new Map(processes.map((p) => [p.date, p]));
  const days: DayView[] = [];
  // The schedule's own dates when the loader knows them (a weekday report shows no weekends).
  const dates = options.dates ?? Array.from({ length: options.days }, (_, i) => addDays(options.newest, -i));
  const from = options.responsibleFrom ?? report.startDate;
  for (const date of dates.slice(0, options.days)) {
    if (from !== undefined && date < from) break;
    days.push(dayView(report, date, byDate.get(date), options.now));
  }
  return {
    name: report.name,
    timezone: report.timezone,
    schedule: report.schedule,
    deadline: report.deadline ?? null,
    slowStepAfterMs: report.slowStepAfter,
    days,
    missing: [...(options.missing ?? [])],
  };
}

function dayView(report: ReportConfig, date: string, process: ProcessEvents | undefined, now: Date): DayView {
  const events = process?.events ?? [];
  const deadline = report.deadline ? deadlineOf(date, report.deadline, report.timezone) : null;
  const submitted = events.find((e) => e.status === 'REPORT_SUBMITTED');
  const late = deadline !== null && (submitted ? submitted.createdAt > deadline : now > deadline);
  const summary = process ? summarizeProcess(events) : null;
  const proof: DayView['proof'] = {};
  for (const e of events) {
    if (!Object.values(SUCCESS_STATUS).includes(e.status)) continue;
    const f = e.facts;
    for (const key of ['rows', 'bytes', 'sha256', 'remotePath', 'bucket', 'key', 'versionId'] as const) {
      if (f[key] !== undefined && f[key] !== null) (proof as Record<string, unknown>)[key] = f[key];
    }
  }
  return {
    date,
    state: summary ? summary.state : 'missing',
    deadline: deadline?.toISOString() ?? null,
    late,
    processId: process?.processId ?? null,
    submittedAt: submitted?.createdAt.toISOString() ?? null,
    steps: STEPS.map((step) => stepView(step, events, report.slowStepAfter)),
    events: events.map((e) => ({
      eventId: e.eventId,
      status: e.status,
      createdAt: e.createdAt.toISOString(),
      instanceId: e.instanceId,
      failureDetails: e.failureDetails,
      facts: e.facts,
    })),
    proof,
  };
}

function stepView(step: Step, events: readonly RunEvent[], slowAfterMs: number): StepView {
  const attempts: StepAttemptView[] = events
    .filter((e) => e.status === SUCCESS_STATUS[step] || e.status === FAILURE_STATUS[step])
    .map((e) => ({
      status: e.status === SUCCESS_STATUS[step] ? 'succeeded' : 'failed',
      attempt: typeof e.facts.attempt === 'number' ? e.facts.attempt : null,
      startedAt: typeof e.facts.startedAt === 'string' ? e.facts.startedAt : null,
      endedAt: e.createdAt.toISOString(),
      durationMs: typeof e.facts.durationMs === 'number' ? e.facts.durationMs : null,
      instanceId: e.instanceId,
      failureDetails: e.failureDetails,
    }));
  const success = attempts.find((a) => a.status === 'succeeded');
  return {
    step,
    state: success ? 'done' : attempts.length > 0 ? 'failed' : 'pending',
    attempts,
    durationMs: success?.durationMs ?? null,
    slow: attempts.some((a) => a.durationMs !== null && a.durationMs > slowAfterMs),
  };
}
