import type { Logger } from 'pino';
import type { RunObserver } from './observer.js';

/** One JSON log line per step transition (PRODUCT.md §6). */
export function logObserver(logger: Logger): RunObserver {
  return {
    stepStarted: (c) =>
      logger.info(
        { ...c, event: 'step.started' },
        `${c.report} ${c.date}: ${c.step} started (attempt ${c.attempt})`,
      ),
    stepSucceeded: (c, durationMs, facts) =>
      logger.info(
        { ...c, event: 'step.succeeded', durationMs: Math.round(durationMs), facts },
        `${c.report} ${c.date}: ${c.step} succeeded in ${Math.round(durationMs)} ms`,
      ),
    stepFailed: (c, durationMs, error, willRetry) =>
      logger.error(
        { ...c, event: 'step.failed', durationMs: Math.round(durationMs), err: error, willRetry },
        `${c.report} ${c.date}: ${c.step} failed: ${error.message}${willRetry ? ' (will retry)' : ''}`,
      ),
    lockContended: (report) =>
      logger.info({ report, event: 'lock.contended' }, `${report}: lock held by another instance`),
    lockAcquired: (report) => logger.debug({ report, event: 'lock.acquired' }, `${report}: lock acquired`),
  };
}
