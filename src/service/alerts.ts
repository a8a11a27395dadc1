/**
 * Outgoing alerts (PRODUCT.md §6): a Slack-compatible webhook on a failed day, on a missed
 * deadline and on a date that left the catch-up window incomplete (missing), sent once per
 * (report, date, kind) across all instances (the database decides who sends), and an optional healthchecks-style dead-man's switch pinged at start, success and failure.
 * URLs carry tokens: they are never logged.
 */

import type pg from 'pg';
import type { Logger } from 'pino';
import { claimAlert, recordAlertDelivery } from '../adapters/postgres/sql/alerts.js';
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

export interface AlertSender {
  /** Sends the alert unless any instance already did; resolves whether this call sent it. */
  notifyOnce(alert: { kind: AlertKind; report: string; date: string; text: string }): Promise<boolean>;
  ping(kind: 'start' | 'success' | 'fail'): Promise<void>;
}

export interface AlertOptions {
  pool: pg.Pool;
  instanceId: string;
  logger: Logger;
  webhookUrl?: string;
  deadManSwitchUrl?: string;
  attempts?: number;
  fetch?: typeof fetch;
  sleep?: (ms: number) => Promise<void>;
}

export function createAlertSender(options: AlertOptions): AlertSender {
  const send = options.fetch ?? fetch;
  const attempts = options.attempts ?? 4;
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));

  async function post(url: string, body: unknown): Promise<void> {
    const response = await send(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(10_000),
    });
    if (!response.ok) throw new Error(`webhook answered HTTP ${response.status}`);
  }

  return {
    async notifyOnce(alert) {
      const { webhookUrl } = options;
      if (!webhookUrl) return false;
      const claimed = await claimAlert(options.pool, { ...alert, instanceId: options.instanceId });
      if (!claimed) return false;
      let error: string | null = null;
      let attempt = 0;
      for (attempt = 1; attempt <= attempts; attempt++) {
        try {
          await post(webhookUrl, { text: alert.text });
          error = null;
          break;
        } catch (thrown) {
          error = coerceError(thrown).message;
          if (attempt < attempts)
            await sleep(retryDelay(attempt, { initialDelayMs: 1000, maxDelayMs: 30_000 }));
        }
      }
      await recordAlertDelivery(options.pool, { ...alert, attempts: Math.min(attempt, attempts), error });
      const facts = { event: 'alert', kind: alert.kind, report: alert.report, date: alert.date };
      if (error)
        options.logger.error(
          { ...facts, error },
          `alert ${alert.kind} for ${alert.report} ${alert.date} could not be sent`,
        );
      else options.logger.info(facts, `alert ${alert.kind} for ${alert.report} ${alert.date} sent`);
      return error === null;
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
