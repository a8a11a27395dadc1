import { describe, expect, it } from 'vitest';
import type { StepContext } from '../../src/app/observer.js';
import { createLiveness } from '../../src/service/liveness.js';

const step = (report: string, s: StepContext['step'] = 'rows'): StepContext => ({
  report,
  date: '2026-07-01',
  processId: '1',
  step: s,
  attempt: 1,
});

describe('liveness verdict', () => {
  const setup = () => {
    let now = 1_000_000;
    const liveness = createLiveness({ staleAfterMs: 3000, now: () => now });
    return { liveness, advance: (ms: number) => (now += ms) };
  };

  it('with no step running, follows the scheduler timer', () => {
    const { liveness, advance } = setup();
    advance(2000);
    expect(liveness.verdict()).toMatchObject({ alive: true, problems: [], scheduler: { stalled: false } });
    advance(1500);
    const verdict = liveness.verdict();
    expect(verdict.alive).toBe(false);
    expect(verdict.problems).toEqual([
      'scheduler timer has not beaten for 3.5 s (monitoring.livenessStaleAfter = 3 s)',
    ]);
  });

  it('a step that makes progress is alive however long it runs, even with a stalled timer (a warning)', () => {
    const { liveness, advance } = setup();
    liveness.observer.stepStarted(step('a'));
    for (let i = 0; i < 10; i++) {
      advance(2000);
      liveness.observer.progressed?.('a');
    }
    const verdict = liveness.verdict();
    expect(verdict.alive).toBe(true);
    expect(verdict.scheduler.stalled).toBe(true);
    expect(verdict.warnings.join('\n')).toMatch(/scheduler timer has not beaten for 20 s/);
    expect(verdict.steps).toEqual([{ report: 'a', step: 'rows', idleSeconds: 0, stalled: false }]);
  });

  it('a step without progress past the threshold is dead though the timer beats; another step moving keeps it alive', () => {
    const { liveness, advance } = setup();
    liveness.observer.stepStarted(step('hung'));
    advance(3500);
    liveness.beat();
    const dead = liveness.verdict();
    expect(dead.alive).toBe(false);
    expect(dead.problems).toEqual([
      'hung: step rows made no progress (no bytes moved, no lease renewed) for 3.5 s (monitoring.livenessStaleAfter = 3 s)',
    ]);
    liveness.observer.stepStarted(step('moving', 'submit'));
    expect(liveness.verdict()).toMatchObject({ alive: true, problems: [] });
    expect(liveness.verdict().warnings).toHaveLength(1);
    // Progress of another report does not revive the hung one.
    liveness.observer.progressed?.('moving');
    expect(liveness.verdict().steps.find((s) => s.report === 'hung')?.stalled).toBe(true);
    liveness.observer.stepFailed(step('hung'), 0, new Error('x'), false);
    liveness.observer.stepSucceeded(step('moving', 'submit'), 0, {});
    expect(liveness.verdict()).toMatchObject({ alive: true, steps: [] });
  });
});
