import { EodError } from '../../core/errors.js';

/**
 * Refuses an irreversible act when less than `safetyMarginMs` of the lock is left after a
 * renewal: a holder that is then paused (GC, VM freeze) could otherwise act after its lease ran
 * out and another holder took over. Throws EodError LEASE_LOST (facts: name, token, remainingMs,
 * safetyMarginMs).
 */
export function requireMargin(
  name: string,
  token: string,
  remainingMs: number,
  safetyMarginMs: number,
): void {
  if (remainingMs >= safetyMarginMs) return;
  throw new EodError(
    'LEASE_LOST',
    `lock "${name}" (fencing token ${token}) has ${Math.max(0, Math.round(remainingMs))} ms left after renewal, less than lock.safetyMargin ${safetyMarginMs} ms; not doing the irreversible act`,
    { name, token, remainingMs: Math.round(remainingMs), safetyMarginMs },
  );
}
