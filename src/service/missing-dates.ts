/**
 * Dates that fell out of the catch-up window incomplete (PRODUCT.md §3.1): `serve` no longer runs
 * them on its own, so they are reported (metric, webhook, status page) until `run --date` fills
 * them. The rule is the pure core's; this reads what it needs from the history.
 */
import type { ReportConfig } from '../config/schema.js';
import { missingDates } from '../core/schedule-dates.js';
import type { ReportHistory } from '../ports.js';

/** Missing dates of `report` at database time `now`, oldest first. */
export async function missingDatesOf(
  history: ReportHistory,
  report: ReportConfig,
  now: Date,
): Promise<string[]> {
  const from = report.startDate ?? (await history.firstProcessDate(report.name));
  if (from === null) return [];
  const complete = await history.completeDatesSince(report.name, from);
  return missingDates(report, now, { from, complete });
}
