import { describe, expect, it } from 'vitest';
import type { Status } from '../../src/core/events.js';
import {
  type DecidedNames,
  formerTemporaries,
  type JournalEntry,
  journalState,
  judgeResume,
  nameChanges,
} from '../../src/core/journal.js';
import { nextStep } from '../../src/core/next-step.js';
import { summarizeProcess } from '../../src/core/timeline.js';

const names = (over: Partial<DecidedNames['sftp']> = {}, key = 'eod/2026/05/r.csv'): DecidedNames => ({
  sftp: { host: 'h', port: 22, directory: '/in', fileName: 'r.csv', remotePath: '/in/r.csv', ...over },
  s3: { bucket: 'b', key },
});
let id = 0;
const entry = (kind: JournalEntry['kind'], facts: Record<string, unknown> = {}) => ({
  journalId: String(++id),
  kind,
  facts,
});
const intent = () =>
  entry('submit-intent', { temporaryPath: '/in/r.csv.7.part', finalPath: '/in/r.csv', token: '7' });
const ev = (...statuses: Status[]) => statuses.map((status) => ({ status }));

describe('journalState', () => {
  it('keeps the newest names and the newest unsettled intent', () => {
    const state = journalState([entry('names', names() as never), intent()]);
    expect(state.names?.sftp.fileName).toBe('r.csv');
    expect(state.pendingIntent?.temporaryPath).toBe('/in/r.csv.7.part');
    expect(state.uncertain).toBeNull();
  });
  it('an intent proved not renamed is no longer pending; names stay', () => {
    const state = journalState([entry('names', names() as never), intent(), entry('not-renamed')]);
    expect(state.pendingIntent).toBeNull();
    expect(state.names).not.toBeNull();
  });
  it('a resolution voids names, intent and uncertainty', () => {
    const state = journalState([
      entry('names', names() as never),
      intent(),
      entry('submission-uncertain', { why: 'gone' }),
      entry('resolved', { submitted: false }),
    ]);
    expect(state).toEqual({ names: null, pendingIntent: null, uncertain: null, archiveAttempted: false });
  });
  it('knows whether a put may have happened under the names in force', () => {
    expect(journalState([entry('names', names() as never)]).archiveAttempted).toBe(false);
    expect(journalState([entry('names', names() as never), entry('archive-intent')]).archiveAttempted).toBe(
      true,
    );
    expect(
      journalState([
        entry('names', names() as never),
        entry('archive-intent'),
        entry('names', names() as never),
      ]).archiveAttempted,
    ).toBe(false);
  });
  it('orders by journal id, not by array order', () => {
    const a = entry('names', names() as never);
    const b = entry('resolved');
    expect(journalState([b, a]).names).toBeNull();
  });
});

describe('nextStep with the journal', () => {
  it('an uncertain submission stops the process until resolved', () => {
    const journal = [intent(), entry('submission-uncertain', { why: 'final file absent' })];
    expect(nextStep(ev('STARTED', 'ROWS_CREATED'), journal)).toMatchObject({
      kind: 'uncertain',
      why: 'final file absent',
    });
  });
  it('resolved as not submitted: submit again', () => {
    const journal = [
      intent(),
      entry('submission-uncertain', { why: 'x' }),
      entry('resolved', { submitted: false }),
    ];
    expect(nextStep(ev('STARTED', 'ROWS_CREATED'), journal)).toEqual({ kind: 'step', step: 'submit' });
  });
  it('resolved as submitted (REPORT_SUBMITTED recorded): archive next', () => {
    const journal = [
      intent(),
      entry('submission-uncertain', { why: 'x' }),
      entry('resolved', { submitted: true }),
    ];
    expect(nextStep(ev('STARTED', 'ROWS_CREATED', 'REPORT_SUBMITTED'), journal)).toEqual({
      kind: 'step',
      step: 'archive',
    });
  });
  it('uncertainty does not hold back a day already submitted (a stale note) nor one without rows', () => {
    const journal = [entry('submission-uncertain', { why: 'x' })];
    expect(nextStep(ev('ROWS_CREATED', 'REPORT_SUBMITTED'), journal)).toEqual({
      kind: 'step',
      step: 'archive',
    });
    expect(nextStep(ev('STARTED'), journal)).toEqual({ kind: 'step', step: 'rows' });
  });
  it('a pending intent alone is not uncertainty (the resume probes first)', () => {
    expect(nextStep(ev('ROWS_CREATED'), [intent()])).toEqual({ kind: 'step', step: 'submit' });
  });
  it('summarizeProcess shows the uncertainty as failed, next submit', () => {
    const summary = summarizeProcess(
      ev('STARTED', 'ROWS_CREATED').map((e, i) => ({
        ...e,
        eventId: String(i),
        processId: '1',
        failureDetails: null,
        instanceId: 'a',
        facts: {},
        createdAt: new Date(0),
      })),
      [entry('submission-uncertain', { why: 'gone' })],
    );
    expect(summary).toMatchObject({ state: 'failed', next: 'submit', uncertain: 'gone' });
  });
});

describe('judgeResume', () => {
  it('a final file proved ours is the submission', () => {
    expect(judgeResume({ final: 'ours', temporary: 'absent' })).toEqual({ kind: 'submitted' });
    expect(judgeResume({ final: 'ours', temporary: 'present' })).toEqual({ kind: 'submitted' });
  });
  it("the intent's temporary file still there: the rename never happened", () => {
    expect(judgeResume({ final: 'absent', temporary: 'present' })).toEqual({ kind: 'not-renamed' });
  });
  it('final absent and temporary gone, or final unreadable: uncertain', () => {
    expect(judgeResume({ final: 'absent', temporary: 'absent' }).kind).toBe('uncertain');
    const unreadable = judgeResume({
      final: 'unreadable',
      temporary: 'present',
      detail: 'Permission denied',
    });
    expect(unreadable).toMatchObject({ kind: 'uncertain' });
    expect(unreadable.kind === 'uncertain' && unreadable.why).toMatch(/Permission denied/);
  });
});

describe('nameChanges', () => {
  it('submit compares host, port, directory, file name, bucket and key', () => {
    expect(nameChanges(names(), names(), 'submit')).toEqual([]);
    expect(nameChanges(names(), names({ fileName: 'x.csv', port: 2222 }, 'eod/x.csv'), 'submit')).toEqual([
      { name: 'sftp.port', recorded: '22', now: '2222' },
      { name: 'fileName', recorded: 'r.csv', now: 'x.csv' },
      { name: 's3 key', recorded: 'eod/2026/05/r.csv', now: 'eod/x.csv' },
    ]);
  });
  it('names recorded as \\uXXXX text (a LATIN1 database) equal the same names rendered now', () => {
    const recorded = names({ directory: '/in/\\u6771\\u4eac', fileName: 'z\\u00fcrich.csv' });
    expect(
      nameChanges(recorded, names({ directory: '/in/\u6771\u4eac', fileName: 'z\u00fcrich.csv' }), 'submit'),
    ).toEqual([]);
    expect(
      nameChanges(recorded, names({ directory: '/in/other', fileName: 'z\u00fcrich.csv' }), 'submit'),
    ).toHaveLength(1);
  });
  it('archive compares only bucket and key', () => {
    expect(nameChanges(names(), names({ directory: '/other' }), 'archive')).toEqual([]);
    expect(nameChanges(names(), names({}, 'k2'), 'archive')).toHaveLength(1);
  });
});

describe('formerTemporaries', () => {
  const v2 = names({ fileName: 'r_v2.csv', remotePath: '/in/r_v2.csv' });
  it('names recorded before a resolution, with their intents, on the same server', () => {
    const former = formerTemporaries(
      [
        entry('names', names() as never),
        intent(),
        entry('resolved', { submitted: false }),
        entry('names', v2 as never),
      ],
      v2,
    );
    expect(former).toEqual({
      temporaryPaths: ['/in/r.csv.7.part'],
      fileNames: [{ directory: '/in', fileName: 'r.csv' }],
    });
  });
  it('nothing of names still in force, nothing of another server', () => {
    expect(formerTemporaries([entry('names', names() as never)], names())).toEqual({
      temporaryPaths: [],
      fileNames: [],
    });
    const elsewhere = names({ host: 'old-host' });
    expect(formerTemporaries([entry('names', elsewhere as never), intent(), entry('resolved')], v2)).toEqual({
      temporaryPaths: [],
      fileNames: [],
    });
  });
});
