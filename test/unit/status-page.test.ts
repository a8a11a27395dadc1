import { describe, expect, it } from 'vitest';
import { configSchema, type ReportConfig } from '../../src/config/schema.js';
import type { EventFacts, RunEvent, Status } from '../../src/core/events.js';
import {
  type ProcessEvents,
  type ReportView,
  reportView,
  responsibleFrom,
} from '../../src/service/dashboard-model.js';
import { runsJson } from '../../src/service/runs-json.js';
import { renderStatusPage } from '../../src/service/status-page.js';

const HOSTILE = `<script>alert(1)</script> & "quoted" 'single'`;
const SHA = 'a1b2c3d4e5f6'.padEnd(64, '0');
// Before the end of March, Europe/London is on GMT: local times equal UTC.
const NOW = new Date('2024-03-05T00:30:00Z');

function report(name = 'eod-transactions'): ReportConfig {
  const config = configSchema.parse({
    reports: [
      {
        name,
        timezone: 'Europe/London',
        deadline: '01:00',
        query: 'SELECT $1::date AS day',
        fileName: 'eod_{yyyy}{MM}{dd}.csv',
        sftp: {
          host: 'sftp.example',
          username: 'firm',
          privateKeyFile: 'k',
          hostKeySha256: `SHA256:${'A'.repeat(43)}`,
          directory: '/in',
        },
        s3: { bucket: 'bkt' },
      },
    ],
  });
  const first = config.reports[0];
  if (!first) throw new Error('no report parsed');
  return first;
}

/** One process's events; each entry is [status, ISO time, facts?, failureDetails?]. */
function process(
  processId: string,
  date: string,
  entries: [Status, string, EventFacts?, string?][],
): ProcessEvents {
  return {
    processId,
    date,
    events: entries.map(
      ([status, at, facts, failureDetails], i): RunEvent => ({
        eventId: `${processId}-${i}`,
        processId,
        status,
        failureDetails: failureDetails ?? null,
        instanceId: 'node-a',
        facts: facts ?? {},
        createdAt: new Date(at),
      }),
    ),
  };
}

const proofFacts = { rows: 1234, bytes: 56_789, sha256: SHA };

const PROCESSES: ProcessEvents[] = [
  // In progress, before its deadline: rows captured, submission not yet.
  process('5', '2024-03-04', [
    ['STARTED', '2024-03-05T00:00:00Z'],
    [
      'ROWS_CREATED',
      '2024-03-05T00:00:05Z',
      { attempt: 1, startedAt: '2024-03-05T00:00:01Z', durationMs: 4000 },
    ],
  ]),
  // 2024-03-03 has no process: missing, and its deadline (03-04 01:00) has passed.
  // Failed: submitted in time, then archiving failed twice.
  process('3', '2024-03-02', [
    ['STARTED', '2024-03-03T00:00:00Z'],
    [
      'ROWS_CREATED',
      '2024-03-03T00:00:04Z',
      { attempt: 1, startedAt: '2024-03-03T00:00:01Z', durationMs: 3000, ...proofFacts },
    ],
    [
      'REPORT_SUBMITTED',
      '2024-03-03T00:00:10Z',
      { attempt: 1, startedAt: '2024-03-03T00:00:05Z', durationMs: 5000, remotePath: '/in/eod_20240302.csv' },
    ],
    [
      'REPORT_ARCHIVING_FAILURE',
      '2024-03-03T00:00:12Z',
      { attempt: 1, startedAt: '2024-03-03T00:00:11Z', durationMs: 1000 },
      'Access Denied',
    ],
    [
      'REPORT_ARCHIVING_FAILURE',
      '2024-03-03T00:00:16Z',
      { attempt: 2, startedAt: '2024-03-03T00:00:14Z', durationMs: 2000 },
      HOSTILE,
    ],
  ]),
  // Complete; the submission event has no startedAt and takes no time (a zero-length bar).
  process('2', '2024-03-01', [
    ['STARTED', '2024-03-02T00:00:00Z'],
    [
      'ROWS_CREATED',
      '2024-03-02T00:00:03Z',
      { attempt: 1, startedAt: '2024-03-02T00:00:01Z', durationMs: 2000, ...proofFacts },
    ],
    [
      'REPORT_SUBMITTED',
      '2024-03-02T00:00:06Z',
      { attempt: 1, durationMs: 0, remotePath: '/in/eod_20240301.csv' },
    ],
    [
      'REPORT_ARCHIVED',
      '2024-03-02T00:00:08Z',
      {
        attempt: 1,
        startedAt: '2024-03-02T00:00:07Z',
        durationMs: 1000,
        bucket: 'bkt',
        key: 'eod_20240301.csv',
      },
    ],
  ]),
  // Complete but submitted after the deadline, with a slow rows step (over the default 15m).
  process('1', '2024-02-29', [
    ['STARTED', '2024-03-01T00:00:00Z'],
    [
      'ROWS_CREATED',
      '2024-03-01T01:10:00Z',
      { attempt: 1, startedAt: '2024-03-01T00:00:00Z', durationMs: 4_200_000, ...proofFacts },
    ],
    [
      'REPORT_SUBMITTED',
      '2024-03-01T01:10:30Z',
      {
        attempt: 1,
        startedAt: '2024-03-01T01:10:01Z',
        durationMs: 29_000,
        remotePath: '/in/eod_20240229.csv',
      },
    ],
    [
      'REPORT_ARCHIVED',
      '2024-03-01T01:10:40Z',
      {
        attempt: 1,
        startedAt: '2024-03-01T01:10:31Z',
        durationMs: 9000,
        bucket: 'bkt',
        key: 'eod_20240229.csv',
      },
    ],
  ]),
];

const views = (): ReportView[] => [
  reportView(report(), PROCESSES, { newest: '2024-03-04', days: 5, now: NOW }),
];
const render = (reports = views()) => renderStatusPage(reports, { now: NOW, instanceId: 'node-a' });

/** The markup of one day row, from its opening tag to its end. */
function row(html: string, date: string): string {
  const start = html.search(new RegExp(`<tr[^>]*data-date="${date}"`));
  expect(start, `row ${date}`).toBeGreaterThanOrEqual(0);
  return html.slice(start, html.indexOf('</tr>', start));
}

describe('renderStatusPage', () => {
  it('is a complete HTML document that refreshes itself and loads nothing', () => {
    const html = render();
    expect(html.startsWith('<!DOCTYPE html>')).toBe(true);
    expect(html).toContain('<meta http-equiv="refresh" content="60">');
    expect(html).toContain('<title>eod-report status</title>');
    expect(html).not.toMatch(/<script|<link rel="stylesheet"|src="http/i);
    expect(html.trimEnd().endsWith('</html>')).toBe(true);
  });

  it('escapes data: failure details never become markup', () => {
    const html = render();
    expect(html).not.toContain('<script>');
    expect(html).not.toContain(HOSTILE);
    expect(html).toContain('&lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;quoted&quot; &#39;single&#39;');
  });

  it('escapes report names, the instance id and the title', () => {
    const [view] = views();
    if (!view) throw new Error('no view');
    const html = renderStatusPage([{ ...view, name: `x"><img src=x onerror=alert(1)>&` }], {
      now: NOW,
      instanceId: '<b>node</b>',
      title: 'Status <i>&</i>',
    });
    expect(html).not.toMatch(/<img|<b>node|<i>&/);
    expect(html).toContain('data-report="x&quot;&gt;&lt;img src=x onerror=alert(1)&gt;&amp;"');
    expect(html).toContain('&lt;b&gt;node&lt;/b&gt;');
    expect(html).toContain('<title>Status &lt;i&gt;&amp;&lt;/i&gt;</title>');
  });

  it('marks each report and day with stable hooks, newest first', () => {
    const html = render();
    expect(html.match(/data-report="[^"]*"/g)).toEqual(['data-report="eod-transactions"']);
    const rows = [
      ...html.matchAll(/<tr[^>]*data-date="([^"]+)" data-state="([^"]+)" data-late="([^"]+)"/g),
    ].map((m) => [m[1], m[2], m[3]]);
    expect(rows).toEqual([
      ['2024-03-04', 'in-progress', 'false'],
      ['2024-03-03', 'missing', 'true'],
      ['2024-03-02', 'failed', 'false'],
      ['2024-03-01', 'complete', 'false'],
      ['2024-02-29', 'complete', 'true'],
    ]);
  });

  it('shows LATE on a day whose deadline passed without submission, and on a late submission', () => {
    const html = render();
    expect(row(html, '2024-03-03')).toContain('>LATE</span>');
    expect(row(html, '2024-03-03')).toContain('deadline 2024-03-04 01:00 GMT passed');
    expect(row(html, '2024-02-29')).toContain('>LATE</span>');
    expect(row(html, '2024-02-29')).toContain('11m after the deadline');
    expect(row(html, '2024-03-04')).not.toContain('LATE');
    expect(row(html, '2024-03-04')).toContain('due 2024-03-05 01:00 GMT (in 30m)');
  });

  it("shows a failed day's last failure in red", () => {
    const failed = row(render(), '2024-03-02');
    expect(failed).toMatch(
      /<p class="failure"><strong>archive failed<\/strong>.*attempt 2, on node-a.*&lt;script&gt;/,
    );
    expect(failed).not.toContain('Access Denied</p>');
  });

  it('draws every attempt as a bar on the day axis, failed ones marked', () => {
    const html = render();
    const failed = row(html, '2024-03-02');
    expect(failed.match(/class="bar step-archive failed"/g)).toHaveLength(2);
    expect(failed).toContain('class="bar step-rows"');
    expect(failed).toContain('class="bar step-submit"');
    expect(failed).toContain(
      '<title>archive attempt 2: failed\nduration 2.00s\ninstance node-a\nfailure: &lt;script&gt;',
    );
    // 2024-03-01: rows 00:00:01-03, submit 06-06 (no startedAt, zero length), archive 07-08 on a 7 s axis.
    const bars = [
      ...row(html, '2024-03-01').matchAll(
        /class="bar step-(\w+)[^"]*" x="([\d.]+)" y="\d+" width="([\d.]+)"/g,
      ),
    ];
    expect(bars.map((b) => b[1])).toEqual(['rows', 'submit', 'archive']);
    const geometry = bars.map((b) => [Number(b[2]), Number(b[3])]);
    for (const [, width] of geometry) expect(width).toBeGreaterThanOrEqual(3);
    const [rows, submit, archive] = geometry as [number[], number[], number[]];
    expect(rows[0]).toBe(50);
    expect(submit[0]).toBeGreaterThan(rows[0] ?? 0);
    expect(archive[0]).toBeGreaterThan(submit[0] ?? 0);
    const plotEnd = Number(/<svg[^>]* width="(\d+)"/.exec(row(html, '2024-03-01'))?.[1]);
    expect((archive[0] ?? 0) + (archive[1] ?? 0)).toBeCloseTo(plotEnd, 0);
  });

  it('lists step durations and marks slow steps', () => {
    const html = render();
    expect(row(html, '2024-03-01')).toMatch(/rows<\/span> <b>2\.00s<\/b>/);
    expect(row(html, '2024-02-29')).toMatch(/rows<\/span> <b>70m00s<\/b>[\s\S]*SLOW/);
    expect(row(html, '2024-03-01')).not.toContain('SLOW');
  });

  it('shows the proof of a complete day', () => {
    const complete = row(render(), '2024-03-01');
    expect(complete).toContain('1,234');
    expect(complete).toContain('56,789 (55.5 KiB)');
    expect(complete).toContain(`<code title="${SHA}">a1b2c3d4e5f6…</code>`);
    expect(complete).toContain('/in/eod_20240301.csv');
    expect(complete).toContain('s3://bkt/eod_20240301.csv');
  });

  it('summarises the newest day and what needs attention now', () => {
    const html = render();
    const summary = html.slice(html.indexOf('Right now'), html.indexOf('data-report='));
    expect(summary).toContain('in progress');
    const attention = summary.slice(summary.indexOf('Needs attention'), summary.indexOf('</ul>'));
    expect(attention).toContain('Needs attention (2)');
    expect(attention).toContain('2024-03-03');
    expect(attention).toContain('2024-03-02');
    expect(attention).not.toContain('2024-03-04');
    expect(attention).not.toContain('2024-02-29');
  });

  it('says so when nothing needs attention', () => {
    const view = reportView(report(), PROCESSES, { newest: '2024-03-01', days: 1, now: NOW });
    expect(render([view])).toContain('Nothing is late or failed.');
  });

  it('lists no day before the report is responsible for it (its first process, else its newest due date)', () => {
    expect(responsibleFrom(report(), null, '2024-03-04')).toBe('2024-03-04');
    expect(responsibleFrom(report(), '2024-03-02', '2024-03-04')).toBe('2024-03-02');
    const view = reportView(report(), PROCESSES, {
      newest: '2024-03-04',
      days: 30,
      now: NOW,
      responsibleFrom: '2024-03-02',
    });
    expect(view.days.map((d) => d.date)).toEqual(['2024-03-04', '2024-03-03', '2024-03-02']);
  });

  it('shows at most 30 days', () => {
    const view = reportView(report(), [], { newest: '2024-03-04', days: 40, now: NOW });
    expect(render([view]).match(/data-date=/g)).toHaveLength(30);
  });
});

describe('missing dates (issue 8 item 10)', () => {
  it('the page names each report with dates out of the catch-up window, and how to fill them', () => {
    const view = reportView(report(), PROCESSES, {
      newest: '2024-03-04',
      days: 5,
      now: NOW,
      missing: ['2024-02-20', '2024-02-21'],
    });
    const page = renderStatusPage([view], { now: NOW, instanceId: 'i-1' });
    const line = /<li class="missing" data-missing="eod-transactions">[\s\S]*?<\/li>/.exec(page)?.[0] ?? '';
    expect(line).toContain('2 missing');
    expect(line).toContain('2024-02-20, 2024-02-21');
    expect(line).toContain('eod-report run --report eod-transactions --date 2024-02-20');
    expect(page).toContain('data-attention="true"');
    expect(runsJson([view], NOW).reports[0]?.missingDates).toEqual(['2024-02-20', '2024-02-21']);
  });
});

describe('runsJson', () => {
  it('is the views as plain JSON with stable field names', () => {
    const body = runsJson(views(), NOW);
    expect(JSON.parse(JSON.stringify(body))).toEqual(body);
    expect(body.generatedAt).toBe('2024-03-05T00:30:00.000Z');
    const [only] = body.reports;
    expect(Object.keys(only ?? {})).toEqual([
      'name',
      'timezone',
      'schedule',
      'deadline',
      'days',
      'missingDates',
    ]);
    expect(only?.missingDates).toEqual([]);
    expect(only).toMatchObject({ name: 'eod-transactions', timezone: 'Europe/London', deadline: '01:00' });
    expect(only?.days.map((d) => d.date)).toEqual([
      '2024-03-04',
      '2024-03-03',
      '2024-03-02',
      '2024-03-01',
      '2024-02-29',
    ]);
    const failed = only?.days[2];
    expect(Object.keys(failed ?? {})).toEqual([
      'date',
      'state',
      'late',
      'deadline',
      'processId',
      'submittedAt',
      'proof',
      'steps',
      'events',
    ]);
    expect(failed).toMatchObject({
      state: 'failed',
      late: false,
      deadline: '2024-03-03T01:00:00.000Z',
      processId: '3',
      submittedAt: '2024-03-03T00:00:10.000Z',
      proof: { rows: 1234, bytes: 56_789, sha256: SHA, remotePath: '/in/eod_20240302.csv' },
    });
    expect(failed?.steps.map((s) => [s.step, s.state, s.durationMs, s.attempts.length])).toEqual([
      ['rows', 'done', 3000, 1],
      ['submit', 'done', 5000, 1],
      ['archive', 'failed', null, 2],
    ]);
    expect(failed?.steps[2]?.attempts[1]).toMatchObject({
      status: 'failed',
      attempt: 2,
      failureDetails: HOSTILE,
    });
    expect(failed?.events).toHaveLength(5);
    expect(only?.days[1]).toMatchObject({ state: 'missing', late: true, processId: null, events: [] });
  });
});
