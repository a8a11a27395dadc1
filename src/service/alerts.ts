/**
 * Outgoing alerts (PRODUCT.md §6): a Slack-compatible webhook on a failed day, on a missed
 * deadline and on a date that left the catch-up window incomplete (missing), sent once per
 * (report, date, kind) across all instances (the database decides who sends), and an optional healthchecks-style dead-man's switch pinged at start, success and failure.
 * An alert whose claimer could not send it (webhook down through its retries, the instance died
 * after the claim) is claimed again by any instance once the claim is `reclaimAfterMs` old
 * (issue 9 fault 5). The claimer stops retrying after half that age, so two instances do not
 * send the same alert; a send whose success could not be recorded (database lost right then) may
 * go out twice. URLs carry tokens: they are never logged.
 */

import { setTimeout as delay } from 'node:timers/promises';
import type pg from 'pg';
import type { Logger } from 'pino';
import { claimAlert, reclaimAlerts, recordAlertDelivery } from '../adapters/postgres/sql/alerts.js';
import type { Failpoint } from '../app/failpoints.js';
import { retryDelay } from '../core/backoff.js';
import { coerceError, EodError } from '../core/errors.js';

/** `uncertain`: a submission whose outcome could not be proved (SUBMISSION_UNCERTAIN); only an
 * operator can settle it, so it is its own alert, not folded into an earlier `failure`. */
export type AlertKind = 'failure' | 'deadline' | 'missing' | 'uncertain';

/** The alert for a failed day: its kind and Slack-compatible text. */
export function failureAlert(
  report: string,
  date: string,
  step: string,
  error: Error,
): { kind: AlertKind; text: string } {
  if (error instanceof EodError && error.code === 'SUBMISSION_UNCERTAIN') {
    return {
      kind: 'uncertain',
      text: `:warning: eod-report: *${report}* for ${date}: submission uncertain, nothing will be uploaded again until an operator decides. ${error.message}`,
    };
  }
  return {
    kind: 'failure',
    text: `:rotating_light: eod-report: *${report}* for ${date}: step ${step} failed: ${error.message}`,
  };
}

export interface Alert {
  kind: AlertKind;
  report: string;
  /** YYYY-MM-DD */
  date: string;
  text: string;
}

export interface AlertSender {
  /** Sends the alert unless any instance already claimed it; resolves whether this call sent it. */
  notifyOnce(alert: Alert): Promise<boolean>;
  /**
   * Claims and sends alerts left unsent by their claimer for `reclaimAfterMs` (webhook down,
   * instance died); resolves how many went out now. Errors of the database are thrown.
   */
  resendUnsent(): Promise<number>;
  ping(kind: 'start' | 'success' | 'fail'): Promise<void>;
}

export interface AlertOptions {
  pool: pg.Pool;
  instanceId: string;
  logger: Logger;
  webhookUrl?: string;
  deadManSwitchUrl?: string;
  attempts?: number;
  /** monitoring.alertReclaimAfter in ms (default 5 min). */
  reclaimAfterMs?: number;
  fetch?: typeof fetch;
  sleep?: (ms: number) => Promise<void>;
  /** `alert.after-claim`: between the claim and the first send. */
  failpoint?: Failpoint;
  /** Aborted at shutdown: no further retries (an unsent claim is re-claimed later). */
  stop?: AbortSignal;
}

export function createAlertSender(options: AlertOptions): AlertSender {
  const send = options.fetch ?? fetch;
  const attempts = options.attempts ?? 4;
  const reclaimAfterMs = options.reclaimAfterMs ?? 300_000;
  const sleep =
    options.sleep ?? ((ms: number) => delay(ms, undefined, { signal: options.stop }).catch(() => undefined));

  async function post(url: string, body: unknown): Promise<void> {
    const response = await send(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(10_000),
    });
    if (!response.ok) throw new Error(`webhook answered HTTP ${response.status}`);
  }

  /** Up to `attempts` sends, within half the re-claim age of the claim; records the outcome. */
  async function deliver(webhookUrl: string, alert: Alert, claimedAt: number): Promise<boolean> {
    let error: string | null = null;
    let made = 0;
    for (;;) {
      made++;
      try {
        await post(webhookUrl, { text: alert.text });
        error = null;
        break;
      } catch (thrown) {
        error = coerceError(thrown).message;
      }
      const wait = retryDelay(made, { initialDelayMs: 1000, maxDelayMs: 30_000 });
      // Past half the re-claim age another instance may claim it soon: leave it to that one.
      if (made >= attempts || performance.now() - claimedAt + wait > reclaimAfterMs / 2) break;
      await sleep(wait);
      if (options.stop?.aborted) break;
    }
    await recordAlertDelivery(options.pool, {
      ...alert,
      instanceId: options.instanceId,
      attempts: made,
      error,
    });
    const facts = { event: 'alert', kind: alert.kind, report: alert.report, date: alert.date };
    if (error)
      options.logger.error(
        { ...facts, error, retryAfterMs: reclaimAfterMs },
        `alert ${alert.kind} for ${alert.report} ${alert.date} could not be sent (${error}); an instance sends it again once the claim is monitoring.alertReclaimAfter old`,
      );
    else options.logger.info(facts, `alert ${alert.kind} for ${alert.report} ${alert.date} sent`);
    return error === null;
  }

  return {
    async notifyOnce(alert) {
      const { webhookUrl } = options;
      if (!webhookUrl) return false;
      const claimedAt = performance.now();
      const claimed = await claimAlert(options.pool, { ...alert, instanceId: options.instanceId });
      if (!claimed) return false;
      await options.failpoint?.('alert.after-claim');
      return deliver(webhookUrl, alert, claimedAt);
    },

    async resendUnsent() {
      const { webhookUrl } = options;
      if (!webhookUrl) return 0;
      const claimedAt = performance.now();
      const stale = await reclaimAlerts(options.pool, {
        instanceId: options.instanceId,
        olderThanMs: reclaimAfterMs,
        limit: 20,
      });
      let sent = 0;
      for (const row of stale) {
        // Shutting down: the rest stay claimed and unsent, so another instance takes them later.
        if (options.stop?.aborted) break;
        const alert = { ...row, kind: row.kind as AlertKind };
        options.logger.warn(
          {
            event: 'alert.reclaimed',
            kind: alert.kind,
            report: alert.report,
            date: alert.date,
            from: row.previousClaimer,
          },
          `alert ${alert.kind} for ${alert.report} ${alert.date} claimed by ${row.previousClaimer} was never sent: sending it now`,
        );
        if (await deliver(webhookUrl, alert, claimedAt)) sent++;
      }
      return sent;
    },

    async ping(kind) {
      const base = options.deadManSwitchUrl;
      if (!base) return;
      const url = kind === 'success' ? base : `${base.replace(/\/$/, '')}/${kind}`;
      try {
        const response = await send(url, { method: 'POST', signal: AbortSignal.timeout(10_000) });
        if (!response.ok) throw new Error(`HTTP ${response.status}`);
      } catch (thrown) {
        // A missing ping is exactly what the switch is there to notice; never fail a run over it.
        options.logger.warn(
          { event: 'dead-man-switch', kind, error: coerceError(thrown).message },
          'dead-man switch ping failed',
        );
      }
    },
  };
}
