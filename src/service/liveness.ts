/**
 * Liveness of one `serve` instance (issue 9 fault 4), for /healthz and the metrics. A long step is
 * not a dead instance: a running step is alive while it makes progress (bytes moved by the capture
 * or an upload, the lease renewed before an irreversible act), however long it runs. With no step
 * running, the scheduler's own timer (deadline checks, alerts) must beat. A stalled scheduler timer
 * next to a step that still makes progress is reported, not fatal: a restart would kill the step.
 */
import type { RunObserver } from '../app/observer.js';
import type { Step } from '../core/events.js';

export interface StepLife {
  report: string;
  step: Step;
  /** Seconds since the step started or last made progress. */
  idleSeconds: number;
  stalled: boolean;
}

export interface LivenessVerdict {
  /** False: /healthz answers 503 (the instance should be restarted). */
  alive: boolean;
  /** Why it is not alive; empty when alive. */
  problems: string[];
  /** Seen but not fatal, e.g. a stalled scheduler timer while a step makes progress. */
  warnings: string[];
  scheduler: { secondsSinceBeat: number; stalled: boolean };
  steps: StepLife[];
}

export interface Liveness {
  /** Feeds step starts, ends and progress (RunObserver.progressed) into the verdict. */
  observer: RunObserver;
  /** The scheduler timer beat at `at` (ms since the epoch; default now). */
  beat(at?: number): void;
  /** Unix time (s) of the last scheduler beat. */
  lastBeatSeconds(): number;
  verdict(): LivenessVerdict;
  readonly staleAfterMs: number;
}

/**
 * @param staleAfterMs  monitoring.livenessStaleAfter: the longest silence that still counts as alive
 * @param now           ms since the epoch (default Date.now; injectable for tests)
 */
export function createLiveness(options: { staleAfterMs: number; now?: () => number }): Liveness {
  const now = options.now ?? Date.now;
  const { staleAfterMs } = options;
  const running = new Map<string, { report: string; step: Step; lastProgress: number }>();
  let lastBeat = now();
  const key = (report: string, step: Step) => `${report}\u0000${step}`;
  const seconds = (ms: number) => Math.round(ms / 100) / 10;
  const threshold = `monitoring.livenessStaleAfter = ${seconds(staleAfterMs)} s`;

  const observer: RunObserver = {
    stepStarted: (c) =>
      running.set(key(c.report, c.step), { report: c.report, step: c.step, lastProgress: now() }),
    stepSucceeded: (c) => running.delete(key(c.report, c.step)),
    stepFailed: (c) => running.delete(key(c.report, c.step)),
    progressed: (report) => {
      const at = now();
      for (const r of running.values()) if (r.report === report) r.lastProgress = at;
    },
  };

  return {
    observer,
    staleAfterMs,
    beat: (at = now()) => {
      lastBeat = at;
    },
    lastBeatSeconds: () => lastBeat / 1000,
    verdict: () => {
      const at = now();
      const sinceBeat = at - lastBeat;
      const scheduler = { secondsSinceBeat: seconds(sinceBeat), stalled: sinceBeat > staleAfterMs };
      const steps = [...running.values()].map((r) => ({
        report: r.report,
        step: r.step,
        idleSeconds: seconds(at - r.lastProgress),
        stalled: at - r.lastProgress > staleAfterMs,
      }));
      const stalledSteps = steps
        .filter((s) => s.stalled)
        .map(
          (s) =>
            `${s.report}: step ${s.step} made no progress (no bytes moved, no lease renewed) for ${s.idleSeconds} s (${threshold})`,
        );
      const schedulerProblem = scheduler.stalled
        ? [`scheduler timer has not beaten for ${scheduler.secondsSinceBeat} s (${threshold})`]
        : [];
      // Steps decide while there are any: a hung step is restarted even though the timer beats,
      // and a step that makes progress is never killed for a stalled timer.
      const alive = steps.length > 0 ? steps.some((s) => !s.stalled) : !scheduler.stalled;
      const all = [...stalledSteps, ...schedulerProblem];
      return { alive, problems: alive ? [] : all, warnings: alive ? all : [], scheduler, steps };
    },
  };
}
