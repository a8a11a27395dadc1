import { terminalProgress } from '../../app/progress.js';
import { type RunOutcome, runReport } from '../../app/run-report.js';
import type { App } from '../../app/wiring.js';
import type { ReportConfig } from '../../config/schema.js';
import { coerceError, EodError, EXIT, isEodError } from '../../core/errors.js';
import { isCalendarDate, previousLocalDate } from '../../core/report-date.js';
import { latestDueDate, reportDateEnd } from '../../core/schedule-dates.js';
import { createAlertSender, failureAlert } from '../../service/alerts.js';
import { appFor, type GlobalOptions, loadFor, loggerFor } from '../context.js';
import { type Io, println } from '../io.js';
import { describeLockHeld, finishedRunHolding } from './lock-held.js';

export interface RunOptions extends GlobalOptions {
  report?: string;
  date?: string;
}

export function selectReports(reports: readonly ReportConfig[], name: string | undefined): ReportConfig[] {
  if (name === undefined) return [...reports];
  const found = reports.find((r) => r.name === name);
  if (!found) {
    throw new EodError(
      'USAGE',
      `--report: unknown report "${name}"; configured: ${reports.map((r) => r.name).join(', ')}`,
    );
  }
  return [found];
}

export function checkDateOption(date: string | undefined, option = '--date'): string | undefined {
  if (date !== undefined && !isCalendarDate(date)) {
    throw new EodError(
      'USAGE',
      `${option}: "${date}" is not a calendar date; expected YYYY-MM-DD (e.g. 2026-02-28)`,
    );
  }
  return date;
}

/**
 * PRODUCT.md §3.1 "Only finished days": a date runs only after its end has passed by database
 * time, else its file would hold the rows booked so far and count as complete. Throws EodError
 * USAGE (exit 2) naming the date, its end and the database time.
 */
export function assertDateEnded(report: ReportConfig, date: string, now: Date): void {
  const end = reportDateEnd(report, date);
  if (now.getTime() >= end.getTime()) return;
  const closes =
    report.reportDate === 'same-day'
      ? `at its schedule's tick (reportDate: same-day) or midnight, ${end.toISOString()}`
      : `at local midnight, ${end.toISOString()}`;
  throw new EodError(
    'USAGE',
    `--date ${date}: report ${report.name}'s day ${date} has not ended yet in ${report.timezone}: it ends ${closes}; database time is ${now.toISOString()}. Only finished days are run; nothing was recorded`,
    { report: report.name, date, end: end.toISOString(), now: now.toISOString() },
  );
}

export async function runCommand(io: Io, options: RunOptions, signal: AbortSignal): Promise<number> {
  const date = checkDateOption(options.date);
  const loaded = await loadFor(io, options);
  const reports = selectReports(loaded.config.reports, options.report);
  const progress = io.stderr.isTTY ? terminalProgress(io.stderr) : undefined;
  const logger = loggerFor(io, loaded, progress?.log);
  const app = await appFor(io, loaded, logger);
  const deps = progress ? { ...app.deps, progress: progress.listener } : app.deps;
  try {
    // Dates by database time, all checked before any report runs: nothing is recorded for a
    // refused date.
    const now = app.clock.now();
    const planned = reports.map((report) => {
      const reportDate = date ?? latestDueDate(report, now) ?? previousLocalDate(now, report.timezone);
      assertDateEnded(report, reportDate, now);
      return { report, reportDate };
    });
    const outcomes: RunOutcome[] = [];
    let broken = false;
    // Each report on its own: one that throws (a database blip, an odd event log) must not keep
    // the others from running tonight.
    for (const { report, reportDate } of planned) {
      if (signal.aborted) break;
      try {
        let outcome = await runReport(deps, report, [reportDate], signal);
        // Held only by a run that already finished (lock.atLeastFor): wait for it, bounded.
        const finished = outcome.kind === 'lock-held' ? await finishedRunHolding(app, report) : undefined;
        if (finished) {
          progress?.clear();
          println(io.stdout, `${report.name} ${reportDate}: ${finished.line}`);
          await app.clock.sleep(finished.waitMs, signal);
          outcome = await runReport(deps, report, [reportDate], signal);
        }
        progress?.clear();
        outcomes.push(outcome);
        if (outcome.kind === 'lock-held') {
          println(
            io.stdout,
            `${report.name} ${reportDate}: ${await describeLockHeld(app, report)}; nothing done`,
          );
        } else printOutcome(io, outcome);
      } catch (thrown) {
        progress?.clear();
        broken = true;
        const error = coerceError(thrown);
        logger.error(
          { err: error, report: report.name, date: reportDate, event: 'run.report-failed' },
          error.message,
        );
        println(io.stdout, `${report.name} ${reportDate}: failed: ${error.message}`);
      }
    }
    await alertUncertain(app, outcomes);
    if (broken || outcomes.some((o) => o.kind === 'ran' && o.dates.some((d) => d.kind === 'failed')))
      return EXIT.FAILED;
    if (outcomes.some((o) => o.kind === 'lock-held')) return EXIT.LOCK_HELD;
    return EXIT.OK;
  } finally {
    await app.close();
  }
}

/**
 * A submission found uncertain needs a person, whoever ran it: the alert webhook (if configured)
 * gets it from `run` too, once per (report, date) across instances and `serve`.
 */
async function alertUncertain(app: App, outcomes: readonly RunOutcome[]): Promise<void> {
  const webhookUrl = app.config.monitoring.alertWebhookUrl;
  if (!webhookUrl) return;
  const alerts = createAlertSender({
    pool: app.pool,
    instanceId: app.instanceId,
    logger: app.logger,
    webhookUrl,
    reclaimAfterMs: app.config.monitoring.alertReclaimAfter,
    failpoint: app.deps.failpoint,
  });
  for (const outcome of outcomes) {
    if (outcome.kind !== 'ran') continue;
    for (const d of outcome.dates) {
      if (d.kind !== 'failed' || !isEodError(d.error, 'SUBMISSION_UNCERTAIN')) continue;
      await alerts.notifyOnce({
        report: outcome.report,
        date: d.date,
        ...failureAlert(outcome.report, d.date, d.step, d.error),
      });
    }
  }
}

function printOutcome(io: Io, outcome: Extract<RunOutcome, { kind: 'ran' }>): void {
  for (const d of outcome.dates) {
    if (d.kind === 'done') {
      println(
        io.stdout,
        `${outcome.report} ${d.date}: ${d.alreadyDone ? 'already complete' : 'complete'} (process ${d.processId})`,
      );
    } else {
      println(
        io.stdout,
        `${outcome.report} ${d.date}: ${d.step} failed (process ${d.processId}): ${d.error.message}`,
      );
    }
  }
}
