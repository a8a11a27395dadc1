/**
 * The status page (PRODUCT.md §6): what operators look at when a regulator deadline is near, so
 * what is late or failed comes first and each day's steps are drawn on one time axis. One
 * self-contained HTML document: no scripts, no external assets, it must work offline and behind a
 * strict Content-Security-Policy.
 */
import { formatDuration } from '../core/duration.js';
import type { Step } from '../core/events.js';
import type { DayView, ReportView, StepAttemptView, StepView } from './dashboard-model.js';

export interface StatusPageOptions {
  now: Date;
  instanceId: string;
  title?: string;
}

const MAX_DAYS = 30;
/** Unsubmitted this close to the deadline, a day is highlighted: time to look, not yet late. */
const DUE_SOON_MS = 2 * 3_600_000;

export function renderStatusPage(reports: readonly ReportView[], options: StatusPageOptions): string {
  const title = options.title ?? 'eod-report status';
  const body = html`
    <header class="page">
      <h1>${title}</h1>
      <p class="muted">
        Generated ${utcStamp(options.now)} by instance <code>${options.instanceId}</code> · refreshes every 60 s
      </p>
    </header>
    <main>
      ${summary(reports, options.now)}
      ${reports.map((report) => reportSection(report, options.now))}
    </main>`;
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="refresh" content="60">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">
<link rel="icon" href="data:,">
<title>${escapeHtml(title)}</title>
<style>${STYLE}</style>
</head>
<body>${body.text}
</body>
</html>
`;
}

// --- Escaping -------------------------------------------------------------------------------------

/** Markup that is already safe. Everything else interpolated into `html` is escaped. */
class Html {
  constructor(readonly text: string) {}
}

/**
 * Escapes every interpolated value unless it is itself `Html`: data (report names, failure
 * details, paths, instance ids) can only reach the page escaped, whoever edits this file next.
 */
function html(strings: TemplateStringsArray, ...values: unknown[]): Html {
  let text = strings[0] ?? '';
  values.forEach((value, i) => {
    text += fragment(value) + (strings[i + 1] ?? '');
  });
  return new Html(text);
}

function fragment(value: unknown): string {
  if (value instanceof Html) return value.text;
  if (Array.isArray(value)) return value.map(fragment).join('');
  if (value === null || value === undefined || value === false) return '';
  return escapeHtml(String(value));
}

const ESCAPES: Readonly<Record<string, string>> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
};

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ESCAPES[c] ?? c);
}

// --- Summary --------------------------------------------------------------------------------------

function summary(reports: readonly ReportView[], now: Date): Html {
  if (reports.length === 0) return html`<section class="card"><p>No reports configured.</p></section>`;
  const problems = reports.flatMap((report) => [
    ...(report.missing.length > 0 ? [missingLine(report)] : []),
    ...report.days.slice(0, MAX_DAYS).flatMap((day) => {
      const item = problem(report, day, now);
      return item ? [item] : [];
    }),
  ]);
  return html`
    <section class="card summary" aria-labelledby="summary-title">
      <h2 id="summary-title">Right now</h2>
      ${
        problems.length > 0
          ? html`<div class="attention" data-attention="true">
              <h3>Needs attention (${problems.length})</h3>
              <ul>${problems}</ul>
            </div>`
          : html`<p class="all-clear" data-attention="false">Nothing is late or failed.</p>`
      }
      <table class="overview">
        <thead><tr><th>Report</th><th>Newest day</th><th>State</th><th>Submission</th></tr></thead>
        <tbody>${reports.map((report) => overviewRow(report, now))}</tbody>
      </table>
    </section>`;
}

/** Dates that left the catch-up window incomplete: serve will not run them, an operator must. */
function missingLine(report: ReportView): Html {
  const shown = report.missing.slice(0, 10);
  const more = report.missing.length - shown.length;
  return html`<li class="missing" data-missing="${report.name}">
    <strong>${report.name}</strong>
    <span class="badge state-failed">${report.missing.length} missing</span>
    <span>not complete and out of the catch-up window: ${shown.join(', ')}${more > 0 ? ` and ${more} more` : ''}.
    Fill with <code>eod-report run --report ${report.name} --date ${shown[0] ?? ''}</code></span>
  </li>`;
}

/** A day needs an operator when it failed, or when its deadline passed and nothing was submitted. */
function problem(report: ReportView, day: DayView, now: Date): Html | null {
  const failed = day.state === 'failed';
  const overdue = day.late && day.submittedAt === null;
  if (!failed && !overdue) return null;
  const failure = lastFailure(day);
  return html`<li>
    <a href="#${dayAnchor(report.name, day.date)}"><strong>${report.name}</strong> ${day.date}</a>
    ${overdue ? html`<span class="badge late">LATE</span>` : ''}
    ${failed ? html`<span class="badge state-failed">failed</span>` : ''}
    ${overdue && day.deadline ? html`<span>deadline passed ${humanSpan(now.getTime() - Date.parse(day.deadline))} ago, not submitted</span>` : ''}
    ${failure ? html`<span class="failure-inline">${failure.step}: ${failure.attempt.failureDetails ?? 'failed'}</span>` : ''}
  </li>`;
}

function overviewRow(report: ReportView, now: Date): Html {
  const day = report.days[0];
  if (!day)
    return html`<tr><td><a href="#${reportAnchor(report.name)}">${report.name}</a></td><td colspan="3">no days</td></tr>`;
  return html`<tr>
    <td><a href="#${reportAnchor(report.name)}">${report.name}</a></td>
    <td>${day.date}</td>
    <td>${stateBadge(day)} ${day.late ? html`<span class="badge late">LATE</span>` : ''}</td>
    <td>${submission(report, day, now)}</td>
  </tr>`;
}

// --- Reports and days -----------------------------------------------------------------------------

function reportSection(report: ReportView, now: Date): Html {
  const days = report.days.slice(0, MAX_DAYS);
  return html`
    <section class="card report" id="${reportAnchor(report.name)}" data-report="${report.name}">
      <header class="report-head">
        <h2>${report.name}</h2>
        <dl class="facts">
          <div><dt>Time zone</dt><dd>${report.timezone}</dd></div>
          <div><dt>Schedule</dt><dd><code>${report.schedule}</code></dd></div>
          <div><dt>Deadline</dt><dd>${report.deadline ? html`${report.deadline} next day` : 'none'}</dd></div>
          <div><dt>Slow after</dt><dd>${formatDuration(report.slowStepAfterMs)}</dd></div>
        </dl>
        ${legend()}
      </header>
      ${
        days.length === 0
          ? html`<p class="muted">No days to show.</p>`
          : html`<table class="days">
              <thead><tr><th class="col-date">Date</th><th class="col-state">State</th><th class="col-timeline">Timeline</th><th class="col-steps">Steps</th><th>Details</th></tr></thead>
              <tbody>${days.map((day) => dayRow(report, day, now))}</tbody>
            </table>`
      }
    </section>`;
}

function dayRow(report: ReportView, day: DayView, now: Date): Html {
  const classes = ['day', `state-${day.state}`, day.late ? 'is-late' : ''].filter(Boolean).join(' ');
  return html`<tr class="${classes}" id="${dayAnchor(report.name, day.date)}" data-date="${day.date}" data-state="${day.state}" data-late="${day.late ? 'true' : 'false'}">
    <th scope="row" class="date">${day.date}</th>
    <td class="state">${stateBadge(day)}${day.late ? html` <span class="badge late" title="not submitted by the deadline">LATE</span>` : ''}</td>
    <td class="timeline">${timeline(report, day)}</td>
    <td class="steps">${stepList(report, day)}</td>
    <td class="details">${details(report, day, now)}</td>
  </tr>`;
}

const STATE_LABEL: Readonly<Record<DayView['state'], string>> = {
  complete: 'complete',
  failed: 'failed',
  'in-progress': 'in progress',
  missing: 'missing',
};

function stateBadge(day: DayView): Html {
  return html`<span class="badge state-${day.state}">${STATE_LABEL[day.state]}</span>`;
}

function legend(): Html {
  return html`<p class="legend" aria-hidden="true">
    <span><i class="swatch step-rows"></i>rows</span>
    <span><i class="swatch step-submit"></i>submit</span>
    <span><i class="swatch step-archive"></i>archive</span>
    <span><i class="swatch failed"></i>failed attempt</span>
  </p>`;
}

function stepList(report: ReportView, day: DayView): Html {
  if (day.state === 'missing') return html`<span class="muted">—</span>`;
  return html`<ul class="step-list">${day.steps.map((step) => stepItem(report, step))}</ul>`;
}

function stepItem(report: ReportView, step: StepView): Html {
  const failures = step.attempts.filter((a) => a.status === 'failed').length;
  const outcome =
    step.state === 'done'
      ? html`<b>${step.durationMs === null ? 'done' : formatDuration(step.durationMs)}</b>`
      : step.state === 'failed'
        ? html`<b class="bad">failed</b>`
        : html`<span class="muted">pending</span>`;
  return html`<li class="step-${step.state}">
    <i class="swatch step-${step.step}"></i><span class="step-name">${step.step}</span> ${outcome}
    ${failures > 0 ? html`<span class="muted retries">${failures} failed ${failures === 1 ? 'attempt' : 'attempts'}</span>` : ''}
    ${step.slow ? html`<span class="badge slow" title="an attempt took longer than ${formatDuration(report.slowStepAfterMs)}">SLOW</span>` : ''}
  </li>`;
}

function details(report: ReportView, day: DayView, now: Date): Html {
  const failure = day.state === 'failed' ? lastFailure(day) : null;
  const next = day.steps.find((s) => s.state !== 'done');
  return html`
    ${failure ? html`<p class="failure"><strong>${failure.step} failed</strong>${attemptNote(failure.attempt)}: ${failure.attempt.failureDetails ?? 'no details recorded'}</p>` : ''}
    ${day.state === 'in-progress' && next ? html`<p>Waiting for <b>${next.step}</b>.</p>` : ''}
    ${day.state === 'missing' ? html`<p class="muted">No run recorded.</p>` : ''}
    ${day.state !== 'missing' || day.late ? html`<p class="deadline">${submission(report, day, now)}</p>` : ''}
    ${proof(day)}`;
}

function attemptNote(attempt: StepAttemptView): Html {
  const parts = [
    attempt.attempt !== null ? `attempt ${attempt.attempt}` : null,
    attempt.instanceId !== null ? `on ${attempt.instanceId}` : null,
  ].filter((p): p is string => p !== null);
  return parts.length > 0 ? html` <span class="muted">(${parts.join(', ')})</span>` : html``;
}

/** When it was submitted, or how long until / since its deadline. */
function submission(report: ReportView, day: DayView, now: Date): Html {
  if (day.submittedAt) {
    const at = localDateTime(day.submittedAt, report.timezone);
    if (day.late && day.deadline) {
      const by = humanSpan(Date.parse(day.submittedAt) - Date.parse(day.deadline));
      return html`<span class="bad">submitted ${at}, ${by} after the deadline</span>`;
    }
    return html`submitted ${at}`;
  }
  if (!day.deadline) return html`<span class="muted">not submitted</span>`;
  const left = Date.parse(day.deadline) - now.getTime();
  const deadline = localDateTime(day.deadline, report.timezone);
  if (left > DUE_SOON_MS) return html`due ${deadline} <span class="muted">(in ${humanSpan(left)})</span>`;
  if (left > 0) return html`<span class="soon">due ${deadline} (in ${humanSpan(left)})</span>`;
  return html`<span class="bad">not submitted; deadline ${deadline} passed ${humanSpan(-left)} ago</span>`;
}

function proof(day: DayView): Html {
  const p = day.proof;
  const items: Html[] = [];
  if (p.rows !== undefined) items.push(html`<div><dt>rows</dt><dd>${formatCount(p.rows)}</dd></div>`);
  if (p.bytes !== undefined) items.push(html`<div><dt>bytes</dt><dd>${formatBytes(p.bytes)}</dd></div>`);
  if (p.sha256 !== undefined)
    items.push(
      html`<div><dt>sha256</dt><dd><code title="${p.sha256}">${p.sha256.slice(0, 12)}…</code></dd></div>`,
    );
  if (p.remotePath !== undefined)
    items.push(html`<div><dt>sftp</dt><dd><code>${p.remotePath}</code></dd></div>`);
  if (p.bucket !== undefined && p.key !== undefined)
    items.push(html`<div><dt>s3</dt><dd><code>s3://${p.bucket}/${p.key}</code></dd></div>`);
  if (p.versionId !== undefined)
    items.push(html`<div><dt>version</dt><dd><code>${p.versionId}</code></dd></div>`);
  return items.length > 0 ? html`<dl class="proof">${items}</dl>` : html``;
}

// --- Timeline -------------------------------------------------------------------------------------

const LANE_HEIGHT = 10;
const LANE_GAP = 5;
const LABEL_WIDTH = 50;
const PLOT_WIDTH = 320;
/** A zero-length attempt (or one too short for the scale) must still be seen and hovered. */
const MIN_BAR_WIDTH = 3;
const SVG_WIDTH = LABEL_WIDTH + PLOT_WIDTH;
const LANES: readonly Step[] = ['rows', 'submit', 'archive'];
const SVG_HEIGHT = LANES.length * LANE_HEIGHT + (LANES.length - 1) * LANE_GAP;

interface Span {
  step: Step;
  attempt: StepAttemptView;
  start: number;
  end: number;
}

function spansOf(day: DayView): Span[] {
  return day.steps.flatMap((step) =>
    step.attempts.flatMap((attempt): Span[] => {
      const end = Date.parse(attempt.endedAt);
      if (!Number.isFinite(end)) return [];
      const recorded = attempt.startedAt !== null ? Date.parse(attempt.startedAt) : Number.NaN;
      const start = Number.isFinite(recorded)
        ? recorded
        : attempt.durationMs !== null
          ? end - attempt.durationMs
          : end;
      return [{ step: step.step, attempt, start: Math.min(start, end), end }];
    }),
  );
}

function timeline(report: ReportView, day: DayView): Html {
  const spans = spansOf(day);
  if (spans.length === 0) {
    return html`<span class="muted">${day.state === 'missing' ? 'no run' : 'no step finished yet'}</span>`;
  }
  const t0 = Math.min(...spans.map((s) => s.start));
  const t1 = Math.max(...spans.map((s) => s.end));
  // A single instantaneous attempt has no extent; any positive scale draws it at the left edge.
  const scale = PLOT_WIDTH / Math.max(t1 - t0, 1);
  const lanes = LANES.map((step, i) => {
    const y = i * (LANE_HEIGHT + LANE_GAP);
    return html`<text class="lane-label" x="0" y="${y + LANE_HEIGHT - 1}">${step}</text><rect class="lane" x="${LABEL_WIDTH}" y="${y}" width="${PLOT_WIDTH}" height="${LANE_HEIGHT}"></rect>`;
  });
  const bars = spans.map((span) => {
    const width = Math.max((span.end - span.start) * scale, MIN_BAR_WIDTH);
    const x = Math.min(LABEL_WIDTH + (span.start - t0) * scale, SVG_WIDTH - width);
    const y = LANES.indexOf(span.step) * (LANE_HEIGHT + LANE_GAP);
    const failed = span.attempt.status === 'failed';
    return html`<rect class="bar step-${span.step}${failed ? ' failed' : ''}" x="${round(x)}" y="${y}" width="${round(width)}" height="${LANE_HEIGHT}" rx="2"><title>${barTitle(span, report.slowStepAfterMs)}</title></rect>`;
  });
  return html`<svg class="chart" role="img" aria-label="Step timeline of ${day.date}" width="${SVG_WIDTH}" height="${SVG_HEIGHT}" viewBox="0 0 ${SVG_WIDTH} ${SVG_HEIGHT}" xmlns="http://www.w3.org/2000/svg">${lanes}${bars}</svg>
    <div class="axis"><span>${localTime(t0, report.timezone)}</span><span>${formatDuration(t1 - t0)}</span><span>${localTime(t1, report.timezone)}</span></div>`;
}

function barTitle(span: Span, slowAfterMs: number): string {
  const { attempt } = span;
  const duration = attempt.durationMs ?? span.end - span.start;
  return [
    `${span.step} attempt ${attempt.attempt ?? '?'}: ${attempt.status}`,
    `duration ${formatDuration(duration)}${duration > slowAfterMs ? ' (slow)' : ''}`,
    `instance ${attempt.instanceId ?? 'unknown'}`,
    attempt.failureDetails !== null ? `failure: ${attempt.failureDetails}` : null,
  ]
    .filter((line) => line !== null)
    .join('\n');
}

// --- Small helpers --------------------------------------------------------------------------------

/** The failed attempt that ended last: what the operator has to fix next. */
function lastFailure(day: DayView): { step: Step; attempt: StepAttemptView } | null {
  let last: { step: Step; attempt: StepAttemptView } | null = null;
  for (const step of day.steps) {
    for (const attempt of step.attempts) {
      if (attempt.status !== 'failed') continue;
      if (!last || attempt.endedAt >= last.attempt.endedAt) last = { step: step.step, attempt };
    }
  }
  return last;
}

function reportAnchor(name: string): string {
  return `report-${name}`;
}

function dayAnchor(name: string, date: string): string {
  return `report-${name}-${date}`;
}

function round(n: number): number {
  return Math.round(n * 10) / 10;
}

function formatCount(n: number): string {
  return new Intl.NumberFormat('en-US').format(n);
}

function formatBytes(bytes: number): string {
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = '';
  for (const next of units) {
    if (value < 1024) break;
    value /= 1024;
    unit = next;
  }
  return unit ? `${formatCount(bytes)} (${value.toFixed(1)} ${unit})` : formatCount(bytes);
}

/** Coarse spans for "due in" / "ago": hours and days read better than formatDuration's minutes. */
function humanSpan(ms: number): string {
  const minutes = Math.max(0, Math.round(ms / 60_000));
  if (minutes < 1) return `${Math.max(0, Math.round(ms / 1000))}s`;
  if (minutes < 60) return `${minutes}m`;
  const hours = Math.floor(minutes / 60);
  if (hours < 48) return `${hours}h${String(minutes % 60).padStart(2, '0')}m`;
  return `${Math.floor(hours / 24)}d${hours % 24}h`;
}

function utcStamp(instant: Date): string {
  return `${instant.toISOString().slice(0, 19).replace('T', ' ')} UTC`;
}

/** Times are shown in the report's zone: the deadline is a local time there. */
function localDateTime(iso: string, timeZone: string): string {
  const parts = zonedParts(Date.parse(iso), timeZone, true);
  return parts ? `${parts.date} ${parts.time} ${parts.zone}` : iso;
}

function localTime(instant: number, timeZone: string): string {
  return zonedParts(instant, timeZone, false)?.time ?? new Date(instant).toISOString().slice(11, 19);
}

function zonedParts(
  instant: number,
  timeZone: string,
  minutesOnly: boolean,
): { date: string; time: string; zone: string } | null {
  if (!Number.isFinite(instant)) return null;
  try {
    const parts = new Intl.DateTimeFormat('en-GB', {
      timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      ...(minutesOnly ? {} : { second: '2-digit' }),
      timeZoneName: 'short',
    }).formatToParts(new Date(instant));
    const get = (type: Intl.DateTimeFormatPartTypes) => parts.find((p) => p.type === type)?.value ?? '';
    const time = minutesOnly
      ? `${get('hour')}:${get('minute')}`
      : `${get('hour')}:${get('minute')}:${get('second')}`;
    return { date: `${get('year')}-${get('month')}-${get('day')}`, time, zone: get('timeZoneName') };
  } catch {
    // An unknown zone is a config problem reported elsewhere; the page still renders, in UTC.
    return null;
  }
}

// --- Style ----------------------------------------------------------------------------------------

const STYLE = `
:root {
  --ink: #1f2933; --muted: #616e7c; --line: #e4e7eb; --bg: #f5f7fa; --card: #fff;
  --rows: #3f6fb5; --submit: #1a8a7d; --archive: #8a5cb8;
  --red: #c62828; --red-bg: #fdecea; --green: #1e6b34; --green-bg: #e3f4e8;
  --blue: #1c4f9c; --blue-bg: #e3edfb; --grey-bg: #eceff3; --amber: #8a5300; --amber-bg: #fff1d6;
}
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); color: var(--ink);
  font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
header.page { padding: 20px 32px 8px; }
h1 { font-size: 22px; margin: 0 0 2px; }
h2 { font-size: 17px; margin: 0; }
h3 { font-size: 14px; margin: 0 0 6px; }
main { padding: 8px 32px 32px; display: grid; gap: 20px; }
code { font: 12px/1.4 ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; }
a { color: var(--blue); }
.muted { color: var(--muted); }
.bad { color: var(--red); }
.card { background: var(--card); border: 1px solid var(--line); border-radius: 8px; padding: 16px 20px; }
.summary h2 { margin-bottom: 12px; }
.attention { border-left: 4px solid var(--red); background: var(--red-bg); padding: 10px 14px; border-radius: 4px; margin-bottom: 14px; }
.attention h3 { color: var(--red); }
.attention ul { margin: 0; padding-left: 18px; }
.attention li { margin: 3px 0; }
.attention li > * { margin-right: 6px; }
.attention .badge.state-failed { background: #fff; }
.failure-inline { color: var(--red); font-weight: 500; }
.all-clear { border-left: 4px solid var(--green); background: var(--green-bg); color: var(--green); padding: 8px 14px; border-radius: 4px; font-weight: 600; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; vertical-align: top; padding: 8px 10px; border-bottom: 1px solid var(--line); }
thead th { font-size: 12px; text-transform: uppercase; letter-spacing: .04em; color: var(--muted); font-weight: 600; }
tbody tr:last-child > * { border-bottom: 0; }
.overview { max-width: 900px; }
.report-head { display: flex; flex-wrap: wrap; align-items: baseline; gap: 8px 28px; margin-bottom: 10px; }
.facts { display: flex; flex-wrap: wrap; gap: 4px 20px; margin: 0; }
.facts div { display: flex; gap: 6px; }
.facts dt { color: var(--muted); }
.facts dd { margin: 0; font-weight: 500; }
.legend { margin: 0 0 0 auto; display: flex; gap: 14px; color: var(--muted); font-size: 12px; }
.swatch { display: inline-block; width: 10px; height: 10px; border-radius: 2px; margin-right: 5px; vertical-align: -1px; }
.swatch.step-rows { background: var(--rows); }
.swatch.step-submit { background: var(--submit); }
.swatch.step-archive { background: var(--archive); }
.swatch.failed { background: #f3c7c3; outline: 2px solid var(--red); outline-offset: -2px; }
.days .date { white-space: nowrap; font-weight: 600; font-variant-numeric: tabular-nums; }
.days .state { white-space: nowrap; }
.days tr.state-failed > *, .days tr.is-late > * { background: #fff8f7; }
.days tr.state-failed > th, .days tr.is-late > th { box-shadow: inset 4px 0 0 var(--red); }
.badge { display: inline-block; padding: 1px 8px; border-radius: 10px; font-size: 12px; font-weight: 600; white-space: nowrap; }
.badge.state-complete { background: var(--green-bg); color: var(--green); }
.badge.state-failed { background: var(--red-bg); color: var(--red); }
.badge.state-in-progress { background: var(--blue-bg); color: var(--blue); }
.badge.state-missing { background: var(--grey-bg); color: #3e4c59; }
.badge.late { background: var(--red); color: #fff; letter-spacing: .05em; }
.badge.slow { background: var(--amber-bg); color: var(--amber); font-size: 11px; padding: 0 6px; }
.days { table-layout: fixed; }
.days .col-date { width: 120px; }
.days .col-state { width: 150px; }
.days .col-timeline { width: ${SVG_WIDTH + 24}px; }
.days .col-steps { width: 250px; }
.chart { display: block; overflow: visible; }
.lane { fill: #f0f2f5; }
.lane-label { font-size: 10px; fill: var(--muted); }
.bar.step-rows { fill: var(--rows); }
.bar.step-submit { fill: var(--submit); }
.bar.step-archive { fill: var(--archive); }
.bar.failed { fill-opacity: .28; stroke: var(--red); stroke-width: 1.5; }
.axis { display: flex; justify-content: space-between; margin-left: ${LABEL_WIDTH}px; width: ${PLOT_WIDTH}px; font-size: 11px; color: var(--muted); font-variant-numeric: tabular-nums; }
.step-list { list-style: none; margin: 0; padding: 0; white-space: nowrap; }
.step-list li { line-height: 1.6; }
.step-name { display: inline-block; min-width: 52px; }
.step-list b { font-variant-numeric: tabular-nums; }
.retries { font-size: 12px; margin-left: 4px; }
.details p { margin: 0 0 4px; }
.failure { color: var(--red); font-weight: 500; overflow-wrap: anywhere; }
.failure .muted { font-weight: 400; }
.proof { display: flex; flex-wrap: wrap; gap: 0 16px; margin: 2px 0 0; font-size: 13px; }
.proof div { display: flex; gap: 5px; min-width: 0; }
.proof dt { color: var(--muted); }
.proof dd { margin: 0; overflow-wrap: anywhere; min-width: 0; }
.soon { color: var(--amber); font-weight: 600; }
`;
