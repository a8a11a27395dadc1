import { describe, expect, it } from 'vitest';
import { retryDelay } from '../../src/core/backoff.js';
import { formatDuration, parseDuration } from '../../src/core/duration.js';
import type { RunEvent, Status } from '../../src/core/events.js';
import { failureDetails } from '../../src/core/failure-details.js';
import { nextStep } from '../../src/core/next-step.js';
import { addDays, isCalendarDate, localDate, previousLocalDate } from '../../src/core/report-date.js';
import { renderFileName, renderKeyPrefix } from '../../src/core/templates.js';
import { summarizeProcess } from '../../src/core/timeline.js';

const events = (...statuses: Status[]): RunEvent[] =>
  statuses.map((status, i) => ({
    eventId: String(i + 1),
    processId: '1',
    status,
    failureDetails: status.endsWith('FAILURE') ? 'boom' : null,
    instanceId: 'a',
    facts: { durationMs: 10 },
    createdAt: new Date(1_700_000_000_000 + i * 1000),
  }));

describe('nextStep', () => {
  it('starts with capturing rows', () => {
    expect(nextStep([])).toEqual({ kind: 'step', step: 'rows' });
    expect(nextStep(events('STARTED'))).toEqual({ kind: 'step', step: 'rows' });
  });
  it('retries a failed step rather than skipping it', () => {
    expect(nextStep(events('STARTED', 'ROWS_CREATION_FAILURE'))).toEqual({ kind: 'step', step: 'rows' });
    expect(nextStep(events('STARTED', 'ROWS_CREATED', 'REPORT_SUBMISSION_FAILURE'))).toEqual({
      kind: 'step',
      step: 'submit',
    });
  });
  it('archives only after submission', () => {
    expect(nextStep(events('STARTED', 'ROWS_CREATED'))).toEqual({ kind: 'step', step: 'submit' });
    expect(nextStep(events('STARTED', 'ROWS_CREATED', 'REPORT_SUBMITTED'))).toEqual({
      kind: 'step',
      step: 'archive',
    });
    expect(
      nextStep(events('STARTED', 'ROWS_CREATED', 'REPORT_SUBMITTED', 'REPORT_ARCHIVING_FAILURE', 'STARTED')),
    ).toEqual({
      kind: 'step',
      step: 'archive',
    });
  });
  it('is done when all three successes exist, whatever happened in between', () => {
    expect(
      nextStep(
        events(
          'STARTED',
          'ROWS_CREATED',
          'STARTED',
          'REPORT_SUBMISSION_FAILURE',
          'REPORT_SUBMITTED',
          'REPORT_ARCHIVED',
        ),
      ),
    ).toEqual({ kind: 'done' });
  });
  it('refuses a log where a later step succeeded before an earlier one', () => {
    expect(() => nextStep(events('STARTED', 'REPORT_SUBMITTED'))).toThrow(/inconsistent/);
    expect(() => nextStep(events('ROWS_CREATED', 'REPORT_ARCHIVED'))).toThrow(
      /REPORT_ARCHIVED recorded before REPORT_SUBMITTED/,
    );
  });
});

describe('summarizeProcess', () => {
  it('reports failed, in-progress and complete', () => {
    expect(summarizeProcess(events('STARTED', 'ROWS_CREATED', 'REPORT_SUBMISSION_FAILURE')).state).toBe(
      'failed',
    );
    expect(summarizeProcess(events('STARTED', 'ROWS_CREATED')).state).toBe('in-progress');
    const done = summarizeProcess(events('STARTED', 'ROWS_CREATED', 'REPORT_SUBMITTED', 'REPORT_ARCHIVED'));
    expect(done.state).toBe('complete');
    expect(done.steps.map((s) => s.state)).toEqual(['done', 'done', 'done']);
  });
  it('counts attempts and keeps the last error of an unfinished step', () => {
    const s = summarizeProcess(events('STARTED', 'ROWS_CREATION_FAILURE', 'ROWS_CREATION_FAILURE'));
    expect(s.steps[0]).toMatchObject({ step: 'rows', state: 'failed', attempts: 2, lastError: 'boom' });
  });
});

describe('retryDelay', () => {
  const policy = { initialDelayMs: 1000, maxDelayMs: 10_000 };
  it('doubles and is capped, with jitter between half and all of it', () => {
    expect(retryDelay(1, policy, () => 0)).toBe(500);
    expect(retryDelay(1, policy, () => 1)).toBe(1000);
    expect(retryDelay(3, policy, () => 1)).toBe(4000);
    expect(retryDelay(10, policy, () => 1)).toBe(10_000);
    expect(retryDelay(10, policy, () => 0)).toBe(5000);
  });
});

describe('durations', () => {
  it('parses the units of the config', () => {
    expect(parseDuration('250ms')).toBe(250);
    expect(parseDuration('30s')).toBe(30_000);
    expect(parseDuration('30m')).toBe(1_800_000);
    expect(parseDuration('2h')).toBe(7_200_000);
    expect(parseDuration('1d')).toBe(86_400_000);
    expect(parseDuration('2x')).toBeUndefined();
    expect(parseDuration('-1s')).toBeUndefined();
    expect(parseDuration('1.5h')).toBeUndefined();
  });
  it('formats for people', () => {
    expect(formatDuration(250)).toBe('250ms');
    expect(formatDuration(1500)).toBe('1.50s');
    expect(formatDuration(125_000)).toBe('2m05s');
  });
});

describe('failureDetails', () => {
  it('keeps short messages on one line', () => {
    expect(failureDetails('a\n b')).toBe('a b');
  });
  it('cuts to 255 ASCII characters, ending in an ASCII ellipsis, whatever the message holds', () => {
    const cut = failureDetails('é🚀…'.repeat(300));
    expect(cut).toHaveLength(255);
    expect(cut.endsWith('...')).toBe(true);
    expect(cut).toMatch(/^[\x20-\x7e]+$/);
    expect(cut.startsWith('e?...e?...')).toBe(true);
  });
  it('keeps messages readable in ASCII', () => {
    expect(failureDetails('relation «x» n’existe pas — 2 × 3 → “ok”')).toBe(
      'relation ?x? n\'existe pas - 2 x 3 -> "ok"',
    );
  });
});

describe('report dates', () => {
  it('validates calendar dates', () => {
    expect(isCalendarDate('2026-02-28')).toBe(true);
    expect(isCalendarDate('2028-02-29')).toBe(true);
    expect(isCalendarDate('2026-02-30')).toBe(false);
    expect(isCalendarDate('2026-13-01')).toBe(false);
    expect(isCalendarDate('26-01-01')).toBe(false);
    expect(isCalendarDate('yesterday')).toBe(false);
  });
  it('knows the day that just ended in a zone', () => {
    // 2026-03-29 00:00:30 in London is 2026-03-29T00:00:30Z (GMT until 01:00 UTC that night).
    expect(previousLocalDate(new Date('2026-03-29T00:00:30Z'), 'Europe/London')).toBe('2026-03-28');
    // 23:30 UTC on the 10th is already the 11th in Tokyo.
    expect(localDate(new Date('2026-01-10T23:30:00Z'), 'Asia/Tokyo')).toBe('2026-01-11');
    expect(previousLocalDate(new Date('2026-01-10T23:30:00Z'), 'Asia/Tokyo')).toBe('2026-01-10');
    expect(previousLocalDate(new Date('2026-01-11T04:59:00Z'), 'America/New_York')).toBe('2026-01-09');
    expect(addDays('2026-12-31', 1)).toBe('2027-01-01');
    expect(addDays('2028-03-01', -1)).toBe('2028-02-29');
  });
});

describe('templates', () => {
  const values = { date: '2026-11-24', report: 'eod-tx' };
  it('renders the documented placeholders', () => {
    expect(renderFileName('eod_{yyyy}{MM}{dd}.csv', values)).toBe('eod_20261124.csv');
    expect(renderFileName('{report}-{yyyy}-{MM}-{dd}.csv', values)).toBe('eod-tx-2026-11-24.csv');
    expect(renderKeyPrefix('eod/{yyyy}/{MM}/', values)).toBe('eod/2026/11/');
    expect(renderKeyPrefix('', values)).toBe('');
  });
  it('refuses names that could escape the directory or confuse the server', () => {
    expect(() => renderFileName('../x.csv', values)).toThrow(/\//);
    expect(() => renderFileName('a/b.csv', values)).toThrow(/"\/"/);
    expect(() => renderFileName('..', values)).toThrow(/\.\./);
    expect(() => renderFileName('x\n.csv', values)).toThrow(/control/);
    expect(() => renderFileName('{yy}.csv', values)).toThrow(/placeholder/);
    expect(() => renderKeyPrefix('a/../b/', values)).toThrow(/segments/);
    expect(() => renderKeyPrefix('/abs/', values)).toThrow(/start/);
  });
});
