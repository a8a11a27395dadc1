/**
 * The run of one report (PRODUCT.md §3): take the report's lock once, then for each date (oldest
 * first) create or find the process and perform the steps the events say are missing, each with
 * retries. The decision of what comes next is the pure `nextStep`; this module does the I/O.
 */
import type { ReportConfig } from '../config/schema.js';
import { type BackoffPolicy, retryDelay } from '../core/backoff.js';
import { coerceError, isEodError, isRetryable } from '../core/errors.js';
import { FAILURE_STATUS, type Step } from '../core/events.js';
import { type JournalEntry, journalState } from '../core/journal.js';
import { nextStep } from '../core/next-step.js';
import type {
  Archive,
  Clock,
  DeliveryTarget,
  HeldLock,
  Lock,
  NewEvent,
  ProcessRef,
  RowSource,
  RunStore,
} from '../ports.js';
import {
  archiveStep,
  captureRequest,
  type StepRunner,
  submitStep,
  uncertainError,
} from './delivery-steps.js';
import type { Failpoint } from './failpoints.js';
import type { RunObserver, StepContext } from './observer.js';
import { captureInOnePass, type OnePass } from './one-pass.js';
import type { ProgressListener } from './progress.js';

export interface RunDependencies {
  store: RunStore;
  rows: RowSource;
  lock: Lock;
  clock: Clock;
  deliveryFor(report: ReportConfig): DeliveryTarget;
  archiveFor(report: ReportConfig): Archive;
  retry: BackoffPolicy & { attempts: number };
  observer: RunObserver;
  failpoint: Failpoint;
  random?: () => number;
  /** False: every step reads the stored capture (no overlap; env EOD_ONE_PASS=off, for diagnosis). */
  onePass?: boolean;
  /** Bytes moved so far by a long step (the TTY progress line of `run`). */
  progress?: ProgressListener;
}

export type DateOutcome =
  | { kind: 'done'; date: string; processId: string; alreadyDone: boolean }
  | { kind: 'failed'; date: string; processId: string; step: Step; error: Error };

export type RunOutcome =
  | { kind: 'lock-held'; report: string }
  | { kind: 'ran'; report: string; dates: DateOutcome[] };

export function lockNameFor(report: ReportConfig): string {
  return `eod-report:${report.name}`;
}

/**
 * Runs `dates` of `report` under one lock acquisition, oldest first, stopping at the first date
 * that fails (a later day must not be submitted before an earlier one).
 */
export async function runReport(
  deps: RunDependencies,
  report: ReportConfig,
  dates: readonly string[],
  signal?: AbortSignal,
): Promise<RunOutcome> {
  const sorted = [...dates].sort();
  const done: DateOutcome[] = [];
  for (const date of sorted) {
    const processId = await completedProcess(deps.store, report.name, date);
    if (processId) done.push({ kind: 'done', date, processId, alreadyDone: true });
  }
  // Nothing to do: no lock needed, so a finished day reads as finished even while another
  // instance holds the report's lock for a later one.
  if (done.length === sorted.length) return { kind: 'ran', report: report.name, dates: done };

  const acquired = await deps.lock.tryAcquire(lockNameFor(report));
  if (!acquired) {
    deps.observer.lockContended?.(report.name);
    return { kind: 'lock-held', report: report.name };
  }
  // A renewal right before an act is progress of the step (liveness); the keep-alive timer's
  // renewals are not: they go on while a step hangs.
  const held: HeldLock = {
    ...acquired,
    renewBeforeAct: async () => {
      await acquired.renewBeforeAct();
      deps.observer.progressed?.(report.name);
    },
  };
  deps.observer.lockAcquired?.(report.name);
  const outcomes: DateOutcome[] = [];
  try {
    const runSignal = signal ? AbortSignal.any([signal, held.lost]) : held.lost;
    for (const date of sorted) {
      const known = done.find((d) => d.date === date);
      const outcome = known ?? (await runDateWaitingForDatabase(deps, report, date, held, runSignal));
      outcomes.push(outcome);
      if (outcome.kind === 'failed') break;
    }
  } finally {
    await held.release();
    deps.observer.lockReleased?.(report.name);
  }
  return { kind: 'ran', report: report.name, dates: outcomes };
}

/** The process id of (report, date) when all its steps are done, else null. */
export async function completedProcess(
  store: RunStore,
  report: string,
  date: string,
): Promise<string | null> {
  const ref = await store.findProcess(report, date);
  if (!ref) return null;
  return nextStep(await store.listEvents(ref.processId)).kind === 'done' ? ref.processId : null;
}

/** Attempts of a date whose bookkeeping (not a step) found the database unavailable. */
const DATABASE_WAITS = 10;

/**
 * A lost database (a restart, a control statement past its timeout) outside a step ends the date's
 * attempt; we wait for the database with backoff (DATABASE_WAITS times, retry.maxDelay apart at
 * most) and carry on from the recorded events. Failures inside a step are the step's own.
 */
async function runDateWaitingForDatabase(
  deps: RunDependencies,
  report: ReportConfig,
  date: string,
  held: HeldLock,
  signal: AbortSignal,
): Promise<DateOutcome> {
  return whileDatabaseUnavailable(deps, signal, DATABASE_WAITS, () =>
    runDate(deps, report, date, held, signal),
  );
}

/**
 * `work`, run again after a backoff (retry policy) each time it fails with DATABASE_UNAVAILABLE, at
 * most `attempts` times in all and only while `signal` is not aborted; other errors are thrown.
 */
async function whileDatabaseUnavailable<T>(
  deps: RunDependencies,
  signal: AbortSignal,
  attempts: number,
  work: () => Promise<T>,
): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await work();
    } catch (error) {
      if (!isEodError(error, 'DATABASE_UNAVAILABLE') || signal.aborted || attempt >= attempts) throw error;
      await deps.clock.sleep(retryDelay(attempt, deps.retry, deps.random), signal);
    }
  }
}

async function runDate(
  deps: RunDependencies,
  report: ReportConfig,
  date: string,
  held: HeldLock,
  signal: AbortSignal,
): Promise<DateOutcome> {
  const process = await deps.store.findOrCreateProcess(report.name, date);
  let events = await deps.store.listEvents(process.processId);
  let journal = await deps.store.listJournal(process.processId);
  if (nextStep(events, journal).kind === 'done')
    return { kind: 'done', date, processId: process.processId, alreadyDone: true };

  const runAttempt = events.filter((e) => e.status === 'STARTED').length + 1;
  await deps.store.appendEvent(
    process.processId,
    { status: 'STARTED', facts: { attempt: runAttempt } },
    held.fence,
  );

  // A capture made in this run is one pass that also fed the submission and staged the archive;
  // the submit and archive steps then take their first attempt from it (one-pass.ts).
  let pass: OnePass | undefined;
  const firstAttempts: Partial<Record<Step, FirstAttempt>> =
    deps.onePass === false
      ? {}
      : {
          rows: async (base) => {
            await pass?.dispose();
            pass = await captureInOnePass(deps, report, process, held, signal, base);
            return pass.rows;
          },
          submit: async (base) => {
            const outcome = await pass?.submitted;
            if (outcome?.kind === 'done') return outcome.facts;
            if (outcome?.kind === 'failed') throw outcome.error;
            return submitStep(deps, report, process, held, signal, base);
          },
          archive: async (base) =>
            (await pass?.archive(base, signal)) ?? archiveStep(deps, report, process, held, signal, base),
        };
  try {
    return await runSteps();
  } finally {
    await pass?.dispose();
  }

  async function runSteps(): Promise<DateOutcome> {
    for (;;) {
      const next = nextStep(events, journal);
      if (next.kind === 'done')
        return { kind: 'done', date, processId: process.processId, alreadyDone: false };
      if (next.kind === 'uncertain') {
        // Settled only by an operator (eod-report resolve); nothing is attempted, nothing sent.
        const error = uncertainError(report.name, date, next.why, remotePathOf(journal) ?? 'the file');
        deps.observer.stepFailed(
          { report: report.name, date, processId: process.processId, step: 'submit', attempt: 1 },
          0,
          error,
          false,
        );
        await deps.store.appendEvent(
          process.processId,
          {
            status: FAILURE_STATUS.submit,
            failureDetails: error.message,
            facts: { attempt: 1, durationMs: 0, error: { code: error.code, message: error.message } },
          },
          held.fence,
        );
        return { kind: 'failed', date, processId: process.processId, step: 'submit', error };
      }
      try {
        await runStepWithRetries(deps, report, process, next.step, held, signal, firstAttempts[next.step]);
      } catch (error) {
        const failure = coerceError(error);
        if (isEodError(failure, 'LEASE_LOST') || signal.aborted) throw failure;
        return { kind: 'failed', date, processId: process.processId, step: next.step, error: failure };
      }
      events = await deps.store.listEvents(process.processId);
      journal = await deps.store.listJournal(process.processId);
    }
  }
}

/** How the first attempt of a step runs, when it differs from the later ones. */
type FirstAttempt = (base: { attempt: number; startedAt: string }) => Promise<Record<string, unknown>>;

/** The remote path the journal's names record, for messages. */
function remotePathOf(journal: readonly JournalEntry[]): string | undefined {
  return journalState(journal).names?.sftp.remotePath;
}

async function runStepWithRetries(
  deps: RunDependencies,
  report: ReportConfig,
  process: ProcessRef,
  step: Step,
  held: HeldLock,
  signal: AbortSignal,
  first?: FirstAttempt,
): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    signal.throwIfAborted();
    const context: StepContext = {
      report: report.name,
      date: process.date,
      processId: process.processId,
      step,
      attempt,
    };
    const startedAt = deps.clock.now();
    const started = performance.now();
    deps.observer.stepStarted(context);
    try {
      const base = { attempt, startedAt: startedAt.toISOString() };
      const facts = await (attempt === 1 && first
        ? first(base)
        : STEP_RUNNERS[step](deps, report, process, held, signal, base));
      deps.observer.stepSucceeded(context, performance.now() - started, facts);
      return;
    } catch (thrown) {
      const error = coerceError(signal.aborted && !isEodError(thrown) ? (signal.reason ?? thrown) : thrown);
      const durationMs = Math.round(performance.now() - started);
      const failure: NewEvent = {
        status: FAILURE_STATUS[step],
        failureDetails: error.message,
        facts: {
          attempt,
          startedAt: startedAt.toISOString(),
          durationMs,
          error: {
            code: isEodError(error) ? error.code : undefined,
            message: error.message,
            stack: error.stack,
          },
        },
      };
      if (isEodError(error, 'LEASE_LOST')) {
        deps.observer.stepFailed(context, durationMs, error, false);
        // Recorded while the fence still lets us (an act refused for a thin safety margin);
        // a holder that was replaced cannot write, and that is the point.
        await deps.store.appendEvent(process.processId, failure, held.fence).catch(() => undefined);
        throw error;
      }
      const retry = attempt < deps.retry.attempts && !signal.aborted && isRetryable(error);
      deps.observer.stepFailed(context, durationMs, error, retry);
      await recordFailure(deps, process, held, signal, failure);
      if (!retry) throw error;
      await deps.clock.sleep(retryDelay(attempt, deps.retry, deps.random), signal);
    }
  }
}

/**
 * Writes the step's failure event. When the database itself is what failed, the write waits for it
 * (backoff, for as long as the lease is ours), so the failure is on record as soon as it is back.
 */
async function recordFailure(
  deps: RunDependencies,
  process: ProcessRef,
  held: HeldLock,
  signal: AbortSignal,
  event: NewEvent,
): Promise<void> {
  await whileDatabaseUnavailable(deps, signal, Number.POSITIVE_INFINITY, () =>
    deps.store.appendEvent(process.processId, event, held.fence),
  );
}

const STEP_RUNNERS: Record<Step, StepRunner> = {
  async rows(deps, report, process, held, signal, base) {
    const captured = await deps.rows.capture(captureRequest(deps, report, process, held, signal, base));
    await deps.failpoint('rows.after-commit');
    return { rows: captured.rows, bytes: captured.bytes, sha256: captured.sha256 };
  },

  submit: submitStep,
  archive: archiveStep,
};
