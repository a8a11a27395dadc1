/**
 * `eod-report verify` (PRODUCT.md §1, audit): what the events prove was sent for one day, what
 * re-reading each copy found, and the verdict. Pure: the readings come from the adapters.
 */
import type { RunEvent } from './events.js';

/** The proof recorded for one (report, date) by its events. */
export interface DayProof {
  report: string;
  date: string;
  processId: string | null;
  /** From ROWS_CREATED: what the file is (rows, bytes, lower-case hex SHA-256). */
  content?: { rows: number; bytes: number; sha256: string };
  submitted?: { at: Date; instanceId: string | null; host?: string; remotePath?: string };
  archived?: { at: Date; instanceId: string | null; bucket: string; key: string; versionId?: string };
}

/** What re-reading one copy found (adapters produce it; errors reaching the server become `error`). */
export type CopyReading =
  | {
      kind: 'read';
      bytes: number;
      sha256: string;
      /** Versioned archive: the key now serves this other version (ours was read by its id). */
      supersededBy?: string;
    }
  /** Only the size could be read (an inbox that allows stat but not reading). */
  | { kind: 'size'; bytes: number; reason: string }
  | { kind: 'absent'; reason: string }
  | { kind: 'unreadable'; reason: string }
  | { kind: 'error'; reason: string }
  | { kind: 'skipped'; reason: string };

/**
 * The verdict on one copy.
 * - `match`: same bytes and SHA-256 as recorded.
 * - `mismatch`: the copy is there and differs (tampered, truncated, replaced).
 * - `missing`: the copy should be there and is not (only the archive: we own it).
 * - `not-readable`: the regulator's copy cannot be read back, which is normal (inboxes collect
 *   files, some forbid reading); it neither proves nor disproves anything.
 * - `error`: the server could not be asked (unreachable, refused); nothing is proven.
 * - `not-checked`: skipped on request or nothing recorded to check.
 */
export type CopyState = 'match' | 'mismatch' | 'missing' | 'not-readable' | 'error' | 'not-checked';

export interface CopyVerdict {
  state: CopyState;
  /** Where the copy is (`host:port/path`, `s3://bucket/key`). */
  where?: string;
  detail: string;
  read?: { bytes: number; sha256: string };
}

export interface DayVerdict {
  proof: DayProof;
  /** `ok`: archived copy matches and the regulator's copy matches or cannot be read. */
  ok: boolean;
  summary: 'OK' | 'MISMATCH' | 'MISSING' | 'INCOMPLETE' | 'NOT_RUN' | 'UNVERIFIED';
  regulator: CopyVerdict;
  archive: CopyVerdict;
}

/** The proof of one day from its events (any order). */
export function proofOf(
  report: string,
  date: string,
  processId: string | null,
  events: readonly RunEvent[],
): DayProof {
  const proof: DayProof = { report, date, processId };
  const rows = events.find((e) => e.status === 'ROWS_CREATED');
  if (rows && typeof rows.facts.sha256 === 'string' && typeof rows.facts.bytes === 'number') {
    proof.content = {
      rows: Number(rows.facts.rows ?? 0),
      bytes: rows.facts.bytes,
      sha256: rows.facts.sha256,
    };
  }
  const sent = events.find((e) => e.status === 'REPORT_SUBMITTED');
  if (sent) {
    proof.submitted = {
      at: sent.createdAt,
      instanceId: sent.instanceId,
      ...(typeof sent.facts.host === 'string' ? { host: sent.facts.host } : {}),
      ...(typeof sent.facts.remotePath === 'string' ? { remotePath: sent.facts.remotePath } : {}),
    };
  }
  const archived = events.find((e) => e.status === 'REPORT_ARCHIVED');
  if (archived && typeof archived.facts.bucket === 'string' && typeof archived.facts.key === 'string') {
    proof.archived = {
      at: archived.createdAt,
      instanceId: archived.instanceId,
      bucket: archived.facts.bucket,
      key: archived.facts.key,
      ...(typeof archived.facts.versionId === 'string' ? { versionId: archived.facts.versionId } : {}),
    };
  }
  return proof;
}

export const regulatorWhere = (proof: DayProof): string | undefined =>
  proof.submitted?.remotePath === undefined
    ? undefined
    : `${proof.submitted.host ?? ''}${proof.submitted.remotePath}`;

export const archiveWhere = (proof: DayProof): string | undefined =>
  proof.archived === undefined
    ? undefined
    : `s3://${proof.archived.bucket}/${proof.archived.key}${proof.archived.versionId ? `?versionId=${proof.archived.versionId}` : ''}`;

/** Compares a reading with the recorded content. `owned`: absence is a missing copy (the archive). */
export function judgeCopy(
  expected: DayProof['content'],
  reading: CopyReading,
  where: string | undefined,
  owned: boolean,
): CopyVerdict {
  const at = where === undefined ? {} : { where };
  switch (reading.kind) {
    case 'read': {
      const read = { bytes: reading.bytes, sha256: reading.sha256 };
      if (!expected) return { state: 'not-checked', ...at, detail: 'no content recorded to compare', read };
      if (reading.bytes === expected.bytes && reading.sha256 === expected.sha256) {
        if (reading.supersededBy === undefined) return { state: 'match', ...at, detail: 'matches', read };
        return {
          state: 'mismatch',
          ...at,
          detail: `MISMATCH (the recorded version matches, but the key now serves version ${reading.supersededBy}: replaced after archiving)`,
          read,
        };
      }
      const how =
        reading.bytes < expected.bytes
          ? `truncated: ${reading.bytes} of ${expected.bytes} bytes`
          : reading.bytes > expected.bytes
            ? `longer: ${reading.bytes} bytes, recorded ${expected.bytes}`
            : `content differs: same size (${reading.bytes} bytes)`;
      return {
        state: 'mismatch',
        ...at,
        detail: `MISMATCH (${how}; sha256 ${reading.sha256}, recorded ${expected.sha256})`,
        read,
      };
    }
    case 'size': {
      if (expected && reading.bytes !== expected.bytes) {
        const how =
          reading.bytes < expected.bytes
            ? `truncated: ${reading.bytes} of ${expected.bytes} bytes`
            : `longer: ${reading.bytes} bytes, recorded ${expected.bytes}`;
        return { state: 'mismatch', ...at, detail: `MISMATCH (${how}; ${reading.reason})` };
      }
      return {
        state: 'not-readable',
        ...at,
        detail: `size matches, content not readable at regulator (${reading.reason})`,
      };
    }
    case 'absent':
      return owned
        ? { state: 'missing', ...at, detail: `MISSING (${reading.reason})` }
        : { state: 'not-readable', ...at, detail: `not readable at regulator (${reading.reason})` };
    case 'unreadable':
      return owned
        ? { state: 'error', ...at, detail: `UNREADABLE (${reading.reason})` }
        : { state: 'not-readable', ...at, detail: `not readable at regulator (${reading.reason})` };
    case 'error':
      return { state: 'error', ...at, detail: `COULD NOT CHECK (${reading.reason})` };
    case 'skipped':
      return { state: 'not-checked', ...at, detail: `not checked (${reading.reason})` };
  }
}

/** The day's verdict from its proof and the verdicts on both copies. */
export function judgeDay(proof: DayProof, regulator: CopyVerdict, archive: CopyVerdict): DayVerdict {
  const states = [regulator.state, archive.state];
  let summary: DayVerdict['summary'];
  if (proof.processId === null) summary = 'NOT_RUN';
  else if (!proof.content || !proof.submitted || !proof.archived) summary = 'INCOMPLETE';
  else if (states.includes('mismatch')) summary = 'MISMATCH';
  else if (states.includes('missing')) summary = 'MISSING';
  else if (archive.state !== 'match' || states.includes('error')) summary = 'UNVERIFIED';
  else summary = 'OK';
  return { proof, ok: summary === 'OK', summary, regulator, archive };
}

/** One line per day: what was sent, when, by whom, where, and what each copy shows now. */
export function formatDay(v: DayVerdict): string {
  const { proof } = v;
  const head = `${proof.report} ${proof.date} ${v.summary}`;
  if (proof.processId === null) return `${head}: no process recorded for this date`;
  const parts: string[] = [];
  if (proof.content) {
    parts.push(`${proof.content.rows} rows, ${proof.content.bytes} bytes, sha256 ${proof.content.sha256}`);
  } else parts.push('rows not captured');
  parts.push(
    proof.submitted
      ? `sent ${iso(proof.submitted.at)} by ${proof.submitted.instanceId ?? 'unknown instance'} to ${regulatorWhere(proof) ?? 'an unrecorded path'}: ${v.regulator.detail}`
      : 'not submitted',
  );
  parts.push(
    proof.archived
      ? `archived ${iso(proof.archived.at)} by ${proof.archived.instanceId ?? 'unknown instance'} to ${archiveWhere(proof)}: ${v.archive.detail}`
      : 'not archived',
  );
  return `${head}: ${parts.join('; ')}`;
}

/** The machine-readable form of a day's verdict (`verify --json`). */
export function dayJson(v: DayVerdict): Record<string, unknown> {
  const { proof } = v;
  return {
    report: proof.report,
    date: proof.date,
    processId: proof.processId,
    ok: v.ok,
    summary: v.summary,
    content: proof.content ?? null,
    submitted: proof.submitted ? { ...proof.submitted, at: iso(proof.submitted.at) } : null,
    archived: proof.archived ? { ...proof.archived, at: iso(proof.archived.at) } : null,
    copies: { regulator: v.regulator, archive: v.archive },
  };
}

const iso = (at: Date) => at.toISOString().replace('.000Z', 'Z');
