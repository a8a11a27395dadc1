import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Browser, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { configSchema, type ReportConfig } from '../../src/config/schema.js';
import type { EventFacts, RunEvent, Status } from '../../src/core/events.js';
import { addDays } from '../../src/core/report-date.js';
import { type ProcessEvents, type ReportView, reportView } from '../../src/service/dashboard-model.js';
import { renderStatusPage } from '../../src/service/status-page.js';

const CHROMIUM = '/usr/bin/chromium';
const HOSTILE = `<script>alert(1)</script> & "quoted" 'single'`;
const SCREENSHOT = fileURLToPath(new URL('../../test-output/status-page.png', import.meta.url));
const NOW = new Date('2024-03-05T00:30:00Z');

function report(name: string, timezone: string, deadline: string): ReportConfig {
  const config = configSchema.parse({
    reports: [
      {
        name,
        timezone,
        deadline,
        query: 'SELECT $1::date AS day',
        fileName: 'eod_{yyyy}{MM}{dd}.csv',
        sftp: {
          host: 'sftp.example',
          username: 'firm',
          privateKeyFile: 'k',
          hostKeySha256: `SHA256:${'A'.repeat(43)}`,
          directory: '/in',
        },
        s3: { bucket: 'bkt', prefix: 'eod/{yyyy}/{MM}/' },
      },
    ],
  });
  const first = config.reports[0];
  if (!first) throw new Error('no report parsed');
  return first;
}

interface Attempt {
  status: Status;
  seconds: number;
  failure?: string;
  instance?: string;
}

/**
 * A process whose attempts run back to back from `startUtc`, each taking `seconds`; success
 * events carry the proof a real run records.
 */
function run(processId: string, date: string, startUtc: string, attempts: Attempt[]): ProcessEvents {
  let clock = Date.parse(startUtc);
  const compact = date.replaceAll('-', '');
  const events: RunEvent[] = [
    {
      eventId: `${processId}-0`,
      processId,
      status: 'STARTED',
      failureDetails: null,
      instanceId: 'eod-1',
      facts: {},
      createdAt: new Date(clock),
    },
  ];
  const tries = new Map<string, number>();
  for (const a of attempts) {
    const step = a.status.includes('ROWS') ? 'rows' : a.status.includes('SUBMI') ? 'submit' : 'archive';
    const attempt = (tries.get(step) ?? 0) + 1;
    tries.set(step, attempt);
    const startedAt = new Date(clock + 500).toISOString();
    clock += 500 + a.seconds * 1000;
    const facts: EventFacts = { attempt, startedAt, durationMs: a.seconds * 1000 };
    if (a.status === 'ROWS_CREATED')
      Object.assign(facts, {
        rows: 48_210 + Number(compact.slice(-2)) * 37,
        bytes: 3_912_044,
        sha256: `9f2c41d07ab3${'e'.repeat(52)}`,
      });
    if (a.status === 'REPORT_SUBMITTED') Object.assign(facts, { remotePath: `/in/eod_${compact}.csv` });
    if (a.status === 'REPORT_ARCHIVED')
      Object.assign(facts, {
        bucket: 'firm-eod-archive',
        key: `eod/${date.slice(0, 4)}/${date.slice(5, 7)}/eod_${compact}.csv`,
      });
    events.push({
      eventId: `${processId}-${events.length}`,
      processId,
      status: a.status,
      failureDetails: a.failure ?? null,
      instanceId: a.instance ?? 'eod-1',
      facts,
      createdAt: new Date(clock),
    });
  }
  return { processId, date, events };
}

const OK: Attempt[] = [
  { status: 'ROWS_CREATED', seconds: 38 },
  { status: 'REPORT_SUBMITTED', seconds: 12 },
  { status: 'REPORT_ARCHIVED', seconds: 4 },
];

function views(): ReportView[] {
  const transactions: ProcessEvents[] = [
    // In progress before its deadline.
    run('30', '2024-03-04', '2024-03-05T00:00:02Z', [{ status: 'ROWS_CREATED', seconds: 41 }]),
    // 2024-03-03: no run at all, deadline passed.
    run('28', '2024-03-02', '2024-03-03T00:00:01Z', [
      OK[0] as Attempt,
      OK[1] as Attempt,
      { status: 'REPORT_ARCHIVING_FAILURE', seconds: 2, failure: 'AccessDenied: Access Denied' },
      { status: 'REPORT_ARCHIVING_FAILURE', seconds: 3, failure: HOSTILE, instance: 'eod-2' },
    ]),
    run('27', '2024-03-01', '2024-03-02T00:00:01Z', [
      OK[0] as Attempt,
      { status: 'REPORT_SUBMISSION_FAILURE', seconds: 20, failure: 'connect ETIMEDOUT 10.0.4.7:22' },
      { status: 'REPORT_SUBMITTED', seconds: 14, instance: 'eod-2' },
      OK[2] as Attempt,
    ]),
    // Slow rows, submitted after the deadline.
    run('26', '2024-02-29', '2024-03-01T00:00:01Z', [
      { status: 'ROWS_CREATED', seconds: 4300 },
      { status: 'REPORT_SUBMITTED', seconds: 15 },
      { status: 'REPORT_ARCHIVED', seconds: 5 },
    ]),
  ];
  for (let i = 0; i < 8; i++) {
    const date = addDays('2024-02-28', -i);
    transactions.push(run(String(25 - i), date, `${addDays(date, 1)}T00:00:01Z`, OK));
  }
  const positions: ProcessEvents[] = [];
  for (let i = 0; i < 5; i++) {
    const date = addDays('2024-03-03', -i);
    positions.push(run(String(60 - i), date, `${addDays(date, 1)}T05:00:01Z`, OK));
  }
  return [
    reportView(report('eod-transactions', 'Europe/London', '01:00'), transactions, {
      newest: '2024-03-04',
      days: 12,
      now: NOW,
    }),
    reportView(report('eod-positions', 'America/New_York', '06:00'), positions, {
      newest: '2024-03-03',
      days: 5,
      now: NOW,
    }),
  ];
}

describe('status page in Chromium', () => {
  let server: Server | undefined;
  let browser: Browser | undefined;
  let page: Page;
  const consoleErrors: string[] = [];
  const dialogs: string[] = [];

  beforeAll(async () => {
    // A browser test that silently skips proves nothing; CI installs Chromium.
    if (!existsSync(CHROMIUM)) {
      throw new Error(
        `Chromium not found at ${CHROMIUM}; install the Debian packages chromium and chromium-driver`,
      );
    }
    const html = renderStatusPage(views(), { now: NOW, instanceId: 'eod-1:4711' });
    server = createServer((_request, response) => {
      response.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      response.end(html);
    });
    await new Promise<void>((resolve) => server?.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;

    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-background-networking',
        '--disable-component-update',
        '--no-first-run',
        '--disable-sync',
        '--disable-quic',
      ],
    });
    page = await browser.newPage({ viewport: { width: 1440, height: 900 } });
    page.on('console', (message) => {
      if (message.type() === 'error') consoleErrors.push(message.text());
    });
    page.on('pageerror', (error) => consoleErrors.push(error.message));
    page.on('dialog', async (dialog) => {
      dialogs.push(dialog.message());
      await dialog.dismiss();
    });
    await page.goto(`http://127.0.0.1:${port}/`, { waitUntil: 'load' });
  });

  afterAll(async () => {
    await browser?.close();
    await new Promise((resolve) => (server ? server.close(resolve) : resolve(undefined)));
  });

  it('renders one section per report', async () => {
    expect(await page.title()).toBe('eod-report status');
    expect(await page.locator('section[data-report]').count()).toBe(2);
    await expect(page.locator('section[data-report="eod-transactions"] h2').textContent()).resolves.toBe(
      'eod-transactions',
    );
  });

  it('shows a failed day with its failure text, as text', async () => {
    const failed = page.locator('section[data-report="eod-transactions"] tr[data-state="failed"]');
    expect(await failed.count()).toBe(1);
    expect(await failed.getAttribute('data-date')).toBe('2024-03-02');
    const failure = failed.locator('.failure');
    expect(await failure.isVisible()).toBe(true);
    expect(await failure.textContent()).toContain(HOSTILE);
    expect(await failure.evaluate((el) => el.ownerDocument.defaultView?.getComputedStyle(el).color)).toBe(
      'rgb(198, 40, 40)',
    );
    expect(dialogs).toEqual([]);
  });

  it('shows a late day with a visible LATE badge', async () => {
    const late = page.locator('tr[data-date="2024-03-03"][data-late="true"]');
    expect(await late.getAttribute('data-state')).toBe('missing');
    const badge = late.locator('.badge.late');
    expect(await badge.isVisible()).toBe(true);
    expect(await badge.textContent()).toBe('LATE');
  });

  it('draws the steps as SVG bars of non-zero width', async () => {
    const bars = page.locator('svg rect.bar');
    expect(await bars.count()).toBeGreaterThan(20);
    for (const bar of await bars.all()) {
      const box = await bar.boundingBox();
      expect(box?.width ?? 0).toBeGreaterThan(0);
    }
    expect(await page.locator('tr[data-state="failed"] svg rect.bar.step-archive.failed').count()).toBe(2);
    expect(await bars.first().evaluate((el) => el.namespaceURI)).toBe('http://www.w3.org/2000/svg');
  });

  it('logs no console errors, and leaves a screenshot', async () => {
    await mkdir(dirname(SCREENSHOT), { recursive: true });
    await page.screenshot({ path: SCREENSHOT, fullPage: true });
    console.log(`status page screenshot: ${SCREENSHOT}`);
    expect(consoleErrors).toEqual([]);
  });
});
