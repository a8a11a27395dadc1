/**
 * The body of `GET /api/runs`: the dashboard views as plain JSON. Field names are a contract with
 * whatever scripts poll it, so they are listed here explicitly rather than spread from the views
 * (a field added to a view for the page does not silently become API).
 */
import type { Step } from '../core/events.js';
import type { DayState, DayView, EventView, ReportView, StepAttemptView } from './dashboard-model.js';

export interface RunsJson {
  generatedAt: string;
  reports: RunsJsonReport[];
}

export interface RunsJsonReport {
  name: string;
  timezone: string;
  schedule: string;
  /** Local time (HH:MM) on the day after the report date, or null without a deadline. */
  deadline: string | null;
  days: RunsJsonDay[];
  /** Dates that left the catch-up window incomplete, oldest first; `run --date` fills them. */
  missingDates: string[];
}

export interface RunsJsonDay {
  date: string;
  state: DayState;
  late: boolean;
  /** ISO instant. */
  deadline: string | null;
  processId: string | null;
  submittedAt: string | null;
  proof: DayView['proof'];
  steps: RunsJsonStep[];
  events: EventView[];
}

export interface RunsJsonStep {
  step: Step;
  state: 'done' | 'failed' | 'pending';
  durationMs: number | null;
  slow: boolean;
  attempts: StepAttemptView[];
}

export function runsJson(reports: readonly ReportView[], now: Date): RunsJson {
  return {
    generatedAt: now.toISOString(),
    reports: reports.map((report) => ({
      name: report.name,
      timezone: report.timezone,
      schedule: report.schedule,
      deadline: report.deadline,
      days: report.days.map(day),
      missingDates: [...report.missing],
    })),
  };
}

function day(view: DayView): RunsJsonDay {
  return {
    date: view.date,
    state: view.state,
    late: view.late,
    deadline: view.deadline,
    processId: view.processId,
    submittedAt: view.submittedAt,
    proof: { ...view.proof },
    steps: view.steps.map((step) => ({
      step: step.step,
      state: step.state,
      durationMs: step.durationMs,
      slow: step.slow,
      attempts: step.attempts.map((attempt) => ({ ...attempt })),
    })),
    events: view.events.map((event) => ({ ...event, facts: { ...event.facts } })),
  };
}
