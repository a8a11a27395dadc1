/**
 * The scheduler of `serve`: one loop per report. Each loop wakes at the report's cron ticks and at
 * least every 30 s (sleep, clock jumps), works out which dates must be complete by now (the newest
 * due date and the catch-up window), and runs the incomplete ones, oldest first, under the report's
 * lock. Another instance holding the lock is normal: the loop just checks again later. A failed
 * day is retried with growing delays, never in a tight loop. Beside them, the scheduler's own
 * timer (monitor.ts) beats, checks deadlines and missing dates, and re-sends unsent alerts,
 * whatever the report loops are waiting for.
 */
import type { Logger } from 'pino';
import { completedProcess, type RunDependencies, runReport } from '../app/run-report.js';
import type { ReportConfig } from '../config/schema.js';
import { retryDelay } from '../core/backoff.js';
import { coerceError } from '../core/errors.js';
import type { ReportHistory } from '../ports.js';
import { type AlertSender, failureAlert } from './alerts.js';
import { dueDates, msUntilNextTick } from './due-dates.js';
import { AlertDispatch, runMonitor } from './monitor.js';

export interface SchedulerOptions {
  deps: RunDependencies;
  reports: readonly ReportConfig[];
  /** Past dates of each report: the first process (first start) and which dates are complete. */
  history: ReportHistory;
  logger: Logger;
  alerts: AlertSender;
  /** Called by the scheduler timer at each beat (liveness). */
  heartbeat: () => void;
  /** Period of the scheduler timer (beat, deadline checks, unsent alerts), ms; default 10 000. */
  monitorEveryMs?: number;
  retryFailed: { initialDelayMs: number; maxDelayMs: number };
  /** Aborted to stop scheduling new work (SIGTERM). */
  stop: AbortSignal;
  /** Aborted to stop a running step at its next safe point (after the shutdown grace). */
  interrupt: AbortSignal;
  maxSleepMs?: number;
  /** Reports this instance runs at the same time; while it is busy, idle instances take the
   * other reports, so the work spreads. */
  concurrency: number;
  random?: () => number;
}

export async function runScheduler(options: SchedulerOptions): Promise<void> {
  const { deps, logger } = options;
  const slots = new Slots(options.concurrency);
  const maxSleepMs = options.maxSleepMs ?? 30_000;
  const sleep = (ms: number) => deps.clock.sleep(ms, options.stop).catch(() => undefined);
  const dispatch = new AlertDispatch(options.alerts, logger);

  const firstStartLogged = new Set<string>();
  async function pendingDates(report: ReportConfig, now: Date): Promise<string[]> {
    const firstProcess = await options.history.firstProcessDate(report.name);
    const due = dueDates(report, now, { firstProcess });
    if (
      firstProcess === null &&
      report.startDate === undefined &&
      due[0] &&
      !firstStartLogged.has(report.name)
    ) {
      firstStartLogged.add(report.name);
      logger.info(
        { event: 'scheduler.first-start', report: report.name, date: due[0] },
        `${report.name}: no process recorded yet and no startDate: running only its newest due date ${due[0]}, not the ${report.catchUpDays} before it (set startDate to run earlier dates, or use run --date)`,
      );
    }
    const pending: string[] = [];
    for (const date of due) {
      if (!(await completedProcess(deps.store, report.name, date))) pending.push(date);
    }
    return pending;
  }

  async function reportLoop(report: ReportConfig): Promise<void> {
    let failures = 0;
    let retryAt = 0;
    while (!options.stop.aborted) {
      const now = deps.clock.now();
      try {
        const pending = now.getTime() >= retryAt ? await pendingDates(report, now) : [];
        if (pending.length > 0) {
          const release = await slots.take(options.stop);
          if (!release) break;
          let outcome: Awaited<ReturnType<typeof runReport>>;
          try {
            await options.alerts.ping('start');
            outcome = await runReport(deps, report, pending, options.interrupt);
          } finally {
            release();
          }
          if (outcome.kind === 'ran') {
            const failed = outcome.dates.find((d) => d.kind === 'failed');
            if (failed) {
              failures++;
              retryAt =
                deps.clock.now().getTime() + retryDelay(failures, options.retryFailed, options.random);
              await options.alerts.ping('fail');
              dispatch.notify({
                report: report.name,
                date: failed.date,
                ...failureAlert(report.name, failed.date, failed.step, failed.error),
              });
            } else {
              failures = 0;
              await options.alerts.ping('success');
            }
          }
        }
      } catch (error) {
        if (options.stop.aborted) break;
        failures++;
        retryAt = deps.clock.now().getTime() + retryDelay(failures, options.retryFailed, options.random);
        logger.error(
          { err: coerceError(error), report: report.name, event: 'scheduler.error' },
          `${report.name}: ${coerceError(error).message}`,
        );
      }
      const untilTick = msUntilNextTick(report, deps.clock.now()) ?? maxSleepMs;
      const untilRetry = retryAt > 0 ? Math.max(0, retryAt - deps.clock.now().getTime()) : maxSleepMs;
      // A small offset after the tick, and never more than maxSleepMs: a sleeping laptop, a clock
      // jump or a missed timer costs at most that long.
      await sleep(
        Math.min(maxSleepMs, Math.max(untilTick + 50, failures > 0 ? Math.min(untilRetry, maxSleepMs) : 0)),
      );
    }
  }

  const monitor = runMonitor({
    reports: options.reports,
    history: options.history,
    store: deps.store,
    clock: deps.clock,
    logger,
    alerts: dispatch,
    heartbeat: options.heartbeat,
    everyMs: options.monitorEveryMs ?? 10_000,
    stop: options.stop,
  });
  await Promise.all([...options.reports.map((report) => reportLoop(report)), monitor]);
  await dispatch.settled();
}

/** A counting semaphore: at most `size` holders; `take` resolves null when stopped while waiting. */
class Slots {
  private free: number;
  private readonly waiting: (() => void)[] = [];

  constructor(size: number) {
    this.free = size;
  }

  async take(stop: AbortSignal): Promise<(() => void) | null> {
    while (this.free === 0) {
      if (stop.aborted) return null;
      await new Promise<void>((resolve) => {
        const wake = () => {
          stop.removeEventListener('abort', wake);
          resolve();
        };
        this.waiting.push(wake);
        stop.addEventListener('abort', wake, { once: true });
      });
    }
    if (stop.aborted) return null;
    this.free--;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.free++;
      this.waiting.shift()?.();
    };
  }
}
