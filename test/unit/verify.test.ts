import { describe, expect, it } from 'vitest';
import type { RunEvent } from '../../src/core/events.js';
import { formatDay, judgeCopy, judgeDay, proofOf } from '../../src/core/verify.js';

const SHA = 'a'.repeat(64);
const OTHER = 'b'.repeat(64);
const content = { rows: 3, bytes: 100, sha256: SHA };
const at = new Date('2024-01-03T00:00:05Z');
const event = (status: RunEvent['status'], facts: RunEvent['facts']): RunEvent => ({
  eventId: '1',
  processId: '7',
  status,
  failureDetails: null,
  instanceId: 'node-a',
  facts,
  createdAt: at,
});
const events = [
  event('ROWS_CREATED', { rows: 3, bytes: 100, sha256: SHA }),
  event('REPORT_SUBMITTED', { host: 'sftp.example:22', remotePath: '/in/f.csv', bytes: 100, sha256: SHA }),
  event('REPORT_ARCHIVED', { bucket: 'b', key: 'k/f.csv', versionId: 'v1', bytes: 100, sha256: SHA }),
];

describe('verify verdicts (pure)', () => {
  it('reads the proof from the events', () => {
    const proof = proofOf('r', '2024-01-02', '7', events);
    expect(proof.content).toEqual(content);
    expect(proof.submitted).toEqual({
      at,
      instanceId: 'node-a',
      host: 'sftp.example:22',
      remotePath: '/in/f.csv',
    });
    expect(proof.archived).toEqual({
      at,
      instanceId: 'node-a',
      bucket: 'b',
      key: 'k/f.csv',
      versionId: 'v1',
    });
  });

  it('tells a match, a same-size change, a truncation and a longer copy apart', () => {
    expect(judgeCopy(content, { kind: 'read', bytes: 100, sha256: SHA }, 'x', true).state).toBe('match');
    expect(judgeCopy(content, { kind: 'read', bytes: 100, sha256: OTHER }, 'x', true).detail).toContain(
      'content differs: same size (100 bytes)',
    );
    expect(judgeCopy(content, { kind: 'read', bytes: 40, sha256: OTHER }, 'x', true).detail).toContain(
      'truncated: 40 of 100 bytes',
    );
    expect(judgeCopy(content, { kind: 'read', bytes: 140, sha256: OTHER }, 'x', true).detail).toContain(
      'longer: 140 bytes, recorded 100',
    );
  });

  it('an absent archive is missing; an absent or unreadable regulator file is not-readable, never a mismatch', () => {
    expect(judgeCopy(content, { kind: 'absent', reason: 'gone' }, 'x', true).state).toBe('missing');
    expect(judgeCopy(content, { kind: 'absent', reason: 'gone' }, 'x', false).state).toBe('not-readable');
    expect(judgeCopy(content, { kind: 'unreadable', reason: 'denied' }, 'x', false).state).toBe(
      'not-readable',
    );
    expect(judgeCopy(content, { kind: 'error', reason: 'refused' }, 'x', false).state).toBe('error');
  });

  it('a day is OK only with a matching archive and a regulator copy that matches or cannot be read', () => {
    const proof = proofOf('r', '2024-01-02', '7', events);
    const match = judgeCopy(content, { kind: 'read', bytes: 100, sha256: SHA }, 's3://b/k', true);
    const collected = judgeCopy(content, { kind: 'absent', reason: 'collected' }, '/in/f.csv', false);
    const unreachable = judgeCopy(content, { kind: 'error', reason: 'refused' }, '/in/f.csv', false);
    expect(judgeDay(proof, collected, match).summary).toBe('OK');
    expect(judgeDay(proof, unreachable, match).summary).toBe('UNVERIFIED');
    expect(judgeDay(proofOf('r', '2024-01-02', '7', events.slice(0, 2)), match, match).summary).toBe(
      'INCOMPLETE',
    );
    expect(judgeDay(proofOf('r', '2024-01-02', null, []), match, match).summary).toBe('NOT_RUN');
    expect(formatDay(judgeDay(proof, collected, match))).toBe(
      `r 2024-01-02 OK: 3 rows, 100 bytes, sha256 ${SHA}; sent 2024-01-03T00:00:05Z by node-a to sftp.example:22/in/f.csv: not readable at regulator (collected); archived 2024-01-03T00:00:05Z by node-a to s3://b/k/f.csv?versionId=v1: matches`,
    );
  });
});
