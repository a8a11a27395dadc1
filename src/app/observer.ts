import type { Step } from '../core/events.js';

export interface StepContext {
  report: string;
  date: string;
  processId: string;
  step: Step;
  attempt: number;
}

/** What the run reports as it goes: logs now, metrics and alerts in `serve`. */
export interface RunObserver {
  stepStarted(context: StepContext): void;
  stepSucceeded(context: StepContext, durationMs: number, facts: Record<string, unknown>): void;
  stepFailed(context: StepContext, durationMs: number, error: Error, willRetry: boolean): void;
  lockContended?(report: string): void;
  lockAcquired?(report: string): void;
  lockReleased?(report: string): void;
  /** A running step of `report` moved bytes or renewed its lease: it is alive (liveness). */
  progressed?(report: string): void;
}

/** Fans each notification out to several observers. */
export function combineObservers(...observers: RunObserver[]): RunObserver {
  return {
    stepStarted: (c) => {
      for (const o of observers) o.stepStarted(c);
    },
    stepSucceeded: (c, d, f) => {
      for (const o of observers) o.stepSucceeded(c, d, f);
    },
    stepFailed: (c, d, e, r) => {
      for (const o of observers) o.stepFailed(c, d, e, r);
    },
    lockContended: (r) => {
      for (const o of observers) o.lockContended?.(r);
    },
    lockAcquired: (r) => {
      for (const o of observers) o.lockAcquired?.(r);
    },
    lockReleased: (r) => {
      for (const o of observers) o.lockReleased?.(r);
    },
    progressed: (r) => {
      for (const o of observers) o.progressed?.(r);
    },
  };
}
