/**
 * The scheduler's own timer (issue 9 fault 4): every `everyMs` it beats (liveness), checks each
 * report's deadline and missing dates, and has unsent alerts of any instance sent again. It never
 * waits for a report slot or a running step, so a missed deadline is alerted while every slot is
 * busy, and alerts are sent off this loop (AlertDispatch), so a webhook that is down does not
 * hold up the checks or the beat.
 */
import { setTimeout as delay } from 'node:timers/promises';
import type { Logger } from 'pino';
import type { ReportConfig } from '../config/schema.js';
import { coerceError } from '../core/errors.js';
import type { Clock, ReportHistory, RunStore } from '../ports.js';
import type { Alert, AlertSender } from './alerts.js';
import { newestDeadline } from './due-dates.js';
import { missingDatesOf } from './missing-dates.js';

/**
 * Alert sends running beside the loops that decide them, one after another in the order they
 * were noticed (the oldest missing date first); errors are logged, never thrown. `settled()`
 * waits for those in flight (shutdown).
 */
export class AlertDispatch {
  private readonly inFlight = new Set<Promise<void>>();
  private readonly noticed = new Set<string>();
  private queue: Promise<void> = Promise.resolve();
  private resending = false;

  constructor(
    private readonly alerts: AlertSender,
    private readonly logger: Logger,
  ) {}

  /** Claims and sends `alert` in the background, once per (kind, report, date) in this process. */
  notify(alert: Alert): void {
    const key = `${alert.kind}\u0000${alert.report}\u0000${alert.date}`;
    if (this.noticed.has(key)) return;
    this.noticed.add(key);
    const sending = this.queue.then(() =>
      this.alerts.notifyOnce(alert).then(
        () => undefined,
        (error: unknown) => {
          // Not claimed (the database failed): the next check may claim it again.
          this.noticed.delete(key);
          throw error;
        },
      ),
    );
    this.queue = this.track(sending, `alert ${alert.kind} for ${alert.report} ${alert.date}`);
  }

  /** Sends, in the background, the alerts other claimers left unsent; one round at a time. */
  resendUnsent(): void {
    if (this.resending) return;
    this.resending = true;
    this.track(
      this.alerts
        .resendUnsent()
        .then(() => undefined)
        .finally(() => {
          this.resending = false;
        }),
      'unsent alerts',
    );
  }

  async settled(): Promise<void> {
    await Promise.all(this.inFlight);
  }

  /** The send with its error logged; resolves when it is over, whatever its outcome. */
  private track(sending: Promise<void>, what: string): Promise<void> {
    const tracked = sending.catch((error: unknown) => {
      this.logger.error(
        { err: coerceError(error), event: 'alert.error' },
        `${what}: ${coerceError(error).message}`,
      );
    });
    this.inFlight.add(tracked);
    void tracked.finally(() => this.inFlight.delete(tracked));
    return tracked;
  }
}

export interface MonitorOptions {
  reports: readonly ReportConfig[];
  history: ReportHistory;
  store: RunStore;
  /** Database time: decides deadlines and missing dates. */
  clock: Clock;
  logger: Logger;
  alerts: AlertDispatch;
  heartbeat: () => void;
  /** Period of the timer, ms of host time. */
  everyMs: number;
  stop: AbortSignal;
}

/** Runs until `stop`; each round's failure is logged and the next round tries again. */
export async function runMonitor(options: MonitorOptions): Promise<void> {
  const { logger } = options;
  const reportedMissing = new Set<string>();

  async function checkDeadline(report: ReportConfig, now: Date): Promise<void> {
    const due = newestDeadline(report, now);
    if (!due || now <= due.deadline) return;
    const { date, deadline } = due;
    const process = await options.store.findProcess(report.name, date);
    const events = process ? await options.store.listEvents(process.processId) : [];
    if (events.some((e) => e.status === 'REPORT_SUBMITTED')) return;
    options.alerts.notify({
      kind: 'deadline',
      report: report.name,
      date,
      text: `:alarm_clock: eod-report: *${report.name}* for ${date} was not submitted by its deadline ${report.deadline} ${report.timezone} (${deadline.toISOString()}).`,
    });
  }

  async function reportMissing(report: ReportConfig, now: Date): Promise<void> {
    for (const date of await missingDatesOf(options.history, report, now)) {
      const key = `${report.name}\u0000${date}`;
      if (reportedMissing.has(key)) continue;
      reportedMissing.add(key);
      logger.warn(
        { event: 'scheduler.missing-date', report: report.name, date },
        `${report.name} ${date} is missing: it left the catch-up window incomplete and serve will not run it; fill it with: eod-report run --report ${report.name} --date ${date}`,
      );
      options.alerts.notify({
        kind: 'missing',
        report: report.name,
        date,
        text: `:warning: eod-report: *${report.name}* for ${date} is missing: it left the catch-up window (catchUpDays ${report.catchUpDays}) without completing, and serve will not run it on its own. Fill it with \`eod-report run --report ${report.name} --date ${date}\`.`,
      });
    }
  }

  while (!options.stop.aborted) {
    options.heartbeat();
    for (const report of options.reports) {
      if (options.stop.aborted) break;
      try {
        await checkDeadline(report, options.clock.now());
        await reportMissing(report, options.clock.now());
      } catch (error) {
        if (options.stop.aborted) break;
        logger.error(
          { err: coerceError(error), report: report.name, event: 'scheduler.error' },
          `${report.name}: ${coerceError(error).message}`,
        );
      }
    }
    options.alerts.resendUnsent();
    await delay(options.everyMs, undefined, { signal: options.stop }).catch(() => undefined);
  }
}
