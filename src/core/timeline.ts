import { FAILURE_STATUS, type RunEvent, STEPS, type Step, SUCCESS_STATUS } from './events.js';
import type { JournalEntry } from './journal.js';
import { nextStep } from './next-step.js';

export type ProcessState = 'complete' | 'failed' | 'in-progress';

export interface StepSummary {
  step: Step;
  state: 'done' | 'failed' | 'pending';
  attempts: number;
  durationMs?: number;
  completedAt?: Date;
  lastError?: string;
}

export interface ProcessSummary {
  state: ProcessState;
  next: Step | null;
  steps: StepSummary[];
  /** Why the submission is uncertain (state 'failed' until `eod-report resolve`), else null. */
  uncertain: string | null;
}

/** A process's state derived from its events and journal (pure; used by `status`, the API and the page). */
export function summarizeProcess(
  events: readonly RunEvent[],
  journal: readonly Pick<JournalEntry, 'journalId' | 'kind' | 'facts'>[] = [],
): ProcessSummary {
  const next = nextStep(events, journal);
  const steps = STEPS.map((step): StepSummary => {
    const success = events.find((e) => e.status === SUCCESS_STATUS[step]);
    const failures = events.filter((e) => e.status === FAILURE_STATUS[step]);
    const last = failures.at(-1);
    const state = success ? 'done' : failures.length > 0 ? 'failed' : 'pending';
    const durationMs = typeof success?.facts.durationMs === 'number' ? success.facts.durationMs : undefined;
    return {
      step,
      state,
      attempts: failures.length + (success ? 1 : 0),
      ...(durationMs !== undefined ? { durationMs } : {}),
      ...(success ? { completedAt: success.createdAt } : {}),
      ...(last && !success ? { lastError: last.failureDetails ?? undefined } : {}),
    };
  });
  const lastEvent = events.at(-1);
  const state: ProcessState =
    next.kind === 'done'
      ? 'complete'
      : next.kind === 'uncertain' || (lastEvent && Object.values(FAILURE_STATUS).includes(lastEvent.status))
        ? 'failed'
        : 'in-progress';
  return {
    state,
    next: next.kind === 'done' ? null : next.kind === 'uncertain' ? 'submit' : next.step,
    steps,
    uncertain: next.kind === 'uncertain' ? next.why : null,
  };
}
