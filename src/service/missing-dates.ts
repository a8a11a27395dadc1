/**
 * Dates that fell out of the catch-up window incomplete (PRODUCT.md §3.1): `serve` no longer runs
 * them on its own, so they are reported (metric, webhook, status page) until `run --date` fills
 * them. The rule is the pure core's; this reads what it needs from the history.
 */
import type { ReportConfig } from '../config/schema.js';
import { addDays } from '../core/report-date.js';
import { dueDates, missingDates } from '../core/schedule-dates.js';
import type { ReportHistory } from '../ports.js';

/**
 * Per history (one per instance) and report: the newest date through which every scheduled date
 * is known complete. A complete day never becomes incomplete again (events are append-only and
 * pruning keeps them), so later reads start after it: a scrape reads the last few weeks, not the
 * report's whole history, however old the report is.
 */
const completeThrough = new WeakMap<ReportHistory, Map<string, string>>();

/** Missing dates of `report` at database time `now`, oldest first. */
export async function missingDatesOf(
  history: ReportHistory,
  report: ReportConfig,
  now: Date,
): Promise<string[]> {
  const from = report.startDate ?? (await history.firstProcessDate(report.name));
  if (from === null) return [];
  const known = completeThrough.get(history) ?? new Map<string, string>();
  completeThrough.set(history, known);
  const through = known.get(report.name);
  const readFrom = through !== undefined && through >= from ? addDays(through, 1) : from;
  const fetched = await history.completeDatesSince(report.name, readFrom);
  const complete = { has: (date: string) => date < readFrom || fetched.has(date) };
  const missing = missingDates(report, now, { from, complete });
  const oldestDue = dueDates(report, now, { firstProcess: from })[0];
  const watermark = missing[0] ?? oldestDue;
  if (watermark !== undefined && watermark > from) known.set(report.name, addDays(watermark, -1));
  return missing;
}
