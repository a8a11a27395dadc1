import { type RunEvent, STEPS, type Step, SUCCESS_STATUS } from './events.js';
import { type JournalEntry, journalState } from './journal.js';

export type NextStep =
  | { kind: 'step'; step: Step }
  /** The submission's outcome could not be proved; only `eod-report resolve` moves it on. */
  | { kind: 'uncertain'; journalId: string; why: string }
  | { kind: 'done' };

/**
 * What comes next, given the events of a process and its journal: the first step whose success
 * event is absent, unless that step is the submission and its outcome was found uncertain (then
 * nothing is attempted until an operator resolves it). Steps are strictly ordered (rows → submit →
 * archive), so a later success without an earlier one means the event table was edited by hand;
 * that is refused rather than guessed around.
 */
export function nextStep(
  events: readonly Pick<RunEvent, 'status'>[],
  journal: readonly Pick<JournalEntry, 'journalId' | 'kind' | 'facts'>[] = [],
): NextStep {
  const done = new Set(events.map((e) => e.status));
  let pending: Step | undefined;
  for (const step of STEPS) {
    const succeeded = done.has(SUCCESS_STATUS[step]);
    if (!succeeded && pending === undefined) pending = step;
    if (succeeded && pending !== undefined) {
      throw new Error(
        `event log is inconsistent: ${SUCCESS_STATUS[step]} recorded before ${SUCCESS_STATUS[pending]}`,
      );
    }
  }
  if (pending === undefined) return { kind: 'done' };
  if (pending === 'submit') {
    const { uncertain } = journalState(journal);
    if (uncertain) return { kind: 'uncertain', journalId: uncertain.journalId, why: uncertain.why };
  }
  return { kind: 'step', step: pending };
}
