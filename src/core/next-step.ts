import { type RunEvent, STEPS, type Step, SUCCESS_STATUS } from './events.js';

export type NextStep = { kind: 'step'; step: Step } | { kind: 'done' };

/**
 * What comes next, given the events of a process: the first step whose success event is absent.
 * Steps are strictly ordered (rows → submit → archive), so a later success without an earlier one
 * means the event table was edited by hand; that is refused rather than guessed around.
 */
export function nextStep(events: readonly Pick<RunEvent, 'status'>[]): NextStep {
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
  return pending === undefined ? { kind: 'done' } : { kind: 'step', step: pending };
}
