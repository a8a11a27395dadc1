/**
 * What a process decided and meant to do besides its events (PRODUCT.md §3.1): the names it
 * uses, the intent recorded right before each irreversible act, and how an uncertain outcome was
 * settled. Stored append-only in `end_of_day_reporting_journal` (migrations/0008); this module
 * reads it (pure).
 */

export const JOURNAL_KINDS = [
  'names',
  'submit-intent',
  'archive-intent',
  'archive-refused',
  'not-renamed',
  'submission-uncertain',
  'resolved',
] as const;
export type JournalKind = (typeof JOURNAL_KINDS)[number];

export interface JournalEntry {
  journalId: string;
  processId: string;
  kind: JournalKind;
  instanceId: string;
  fencingToken: string | null;
  facts: Record<string, unknown>;
  createdAt: Date;
}

/** The remote path and the S3 key of a process, rendered once at its first submit attempt. */
export interface DecidedNames {
  sftp: { host: string; port: number; directory: string; fileName: string; remotePath: string };
  s3: { bucket: string; key: string };
}

/** Recorded right before the SFTP rename. */
export interface SubmitIntent {
  temporaryPath: string;
  finalPath: string;
  token: string;
  bytes: number;
  sha256: string;
}

/** An operator's decision (`eod-report resolve`). */
export interface Resolution {
  submitted: boolean;
  reason: string;
  instance: string;
  osUser: string;
}

export interface JournalState {
  /** Names in force: the newest recorded since the last resolution, else null (render anew). */
  names: DecidedNames | null;
  /** The newest submit intent whose outcome is not yet known (no proof, no resolution). */
  pendingIntent: (SubmitIntent & { journalId: string }) | null;
  /** Set when a resume could not prove an intent's outcome; cleared only by a resolution. */
  uncertain: { journalId: string; why: string } | null;
  /** Whether a put or multipart completion may have happened under the names in force. */
  archiveAttempted: boolean;
}

/**
 * Folds the journal (in journal_id order) into what is in force now. A resolution voids earlier
 * names, intents and uncertainty: after `--not-submitted` the next attempt renders names afresh and
 * uploads; after `--submitted` the archive renders its key afresh (the operator has looked).
 */
export function journalState(
  entries: readonly Pick<JournalEntry, 'journalId' | 'kind' | 'facts'>[],
): JournalState {
  const state: JournalState = { names: null, pendingIntent: null, uncertain: null, archiveAttempted: false };
  const ordered = [...entries].sort((a, b) => compareIds(a.journalId, b.journalId));
  for (const entry of ordered) {
    switch (entry.kind) {
      case 'names':
        state.names = entry.facts as unknown as DecidedNames;
        state.archiveAttempted = false;
        break;
      case 'submit-intent':
        state.pendingIntent = { ...(entry.facts as unknown as SubmitIntent), journalId: entry.journalId };
        break;
      case 'not-renamed':
        state.pendingIntent = null;
        break;
      case 'submission-uncertain':
        state.uncertain = { journalId: entry.journalId, why: String(entry.facts.why ?? 'outcome unknown') };
        break;
      case 'resolved':
        state.names = null;
        state.pendingIntent = null;
        state.uncertain = null;
        state.archiveAttempted = false;
        break;
      case 'archive-intent':
        state.archiveAttempted = true;
        break;
      case 'archive-refused':
        state.archiveAttempted = false;
        break;
    }
  }
  return state;
}

/**
 * Where earlier attempts of the process may have left temporary files that the names in force do
 * not cover: names recorded before a resolution (`--not-submitted` after a fileName, directory
 * or tempDirectory change) on the same server. `temporaryPaths`: exact paths recorded by submit
 * intents; `fileNames`: each former file name with the directory it was decided for, whose
 * `<fileName>.part` and `<fileName>.<digits>.part` are ours (an attempt may have stopped before
 * any intent).
 */
export interface FormerTemporaries {
  temporaryPaths: string[];
  fileNames: { directory: string; fileName: string }[];
}

export function formerTemporaries(
  entries: readonly Pick<JournalEntry, 'journalId' | 'kind' | 'facts'>[],
  current: DecidedNames,
): FormerTemporaries {
  const ordered = [...entries].sort((a, b) => compareIds(a.journalId, b.journalId));
  const sameServer = (names: DecidedNames | null) =>
    names !== null && names.sftp.host === current.sftp.host && names.sftp.port === current.sftp.port;
  const paths = new Set<string>();
  const fileNames = new Map<string, { directory: string; fileName: string }>();
  let names: DecidedNames | null = null;
  for (const entry of ordered) {
    if (entry.kind === 'names') {
      names = entry.facts as unknown as DecidedNames;
      const { directory, fileName } = names.sftp;
      if (sameServer(names) && (directory !== current.sftp.directory || fileName !== current.sftp.fileName))
        fileNames.set(`${directory}\n${fileName}`, { directory, fileName });
    } else if (entry.kind === 'submit-intent' && sameServer(names)) {
      const recorded = (entry.facts as Partial<SubmitIntent>).temporaryPath;
      if (typeof recorded === 'string' && recorded !== '') paths.add(recorded);
    }
  }
  return { temporaryPaths: [...paths], fileNames: [...fileNames.values()] };
}

const compareIds = (a: string, b: string) => (BigInt(a) < BigInt(b) ? -1 : BigInt(a) > BigInt(b) ? 1 : 0);

/** One name that differs between what was recorded and what the config renders now. */
export interface NameChange {
  name: string;
  recorded: string;
  now: string;
}

/**
 * The differences between recorded and rendered names. `scope` 'submit' compares everything
 * (the S3 key is decided with the remote path); 'archive' only the bucket and key. Compared in
 * the ASCII spelling (non-ASCII as \uXXXX), so names recorded in a LATIN1 database compare
 * equal to the same names rendered now; acts use the rendered names.
 */
export function nameChanges(
  recorded: DecidedNames,
  rendered: DecidedNames,
  scope: 'submit' | 'archive',
): NameChange[] {
  const pairs: [string, unknown, unknown][] = [
    ['s3.bucket', recorded.s3.bucket, rendered.s3.bucket],
    ['s3 key', recorded.s3.key, rendered.s3.key],
  ];
  if (scope === 'submit') {
    pairs.unshift(
      ['sftp.host', recorded.sftp.host, rendered.sftp.host],
      ['sftp.port', recorded.sftp.port, rendered.sftp.port],
      ['sftp.directory', recorded.sftp.directory, rendered.sftp.directory],
      ['fileName', recorded.sftp.fileName, rendered.sftp.fileName],
    );
  }
  return pairs
    .filter(([, a, b]) => ascii(String(a)) !== ascii(String(b)))
    .map(([name, a, b]) => ({ name, recorded: String(a), now: String(b) }));
}

/** Non-ASCII characters as \uXXXX text: how a database that is not UTF8 keeps recorded names. */
const ascii = (value: string) =>
  value.replace(/[\u0080-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);

/** `sftp://host:port/dir/file` and `s3://bucket/key`, for messages. */
export function describeNames(names: DecidedNames): string {
  return `sftp://${names.sftp.host}:${names.sftp.port}${names.sftp.remotePath} and s3://${names.s3.bucket}/${names.s3.key}`;
}

/** What a resume finds of an earlier intent (see DeliveryTarget.probe). */
export interface ProbeFinding {
  final: 'ours' | 'absent' | 'unreadable';
  temporary: 'present' | 'absent';
  detail?: string;
}

export type ResumeVerdict =
  | { kind: 'submitted' }
  | { kind: 'not-renamed' }
  | { kind: 'uncertain'; why: string };

/**
 * Judges an earlier attempt that recorded its intent to rename. A rename is atomic: while the
 * intent's temporary file still exists, it did not happen. A final file proved ours is the
 * submission. Anything else (final absent and temporary gone: the regulator may have collected
 * it; final present but unreadable) cannot be proved either way: uncertain, and never uploaded
 * again without an operator's decision.
 */
export function judgeResume(finding: ProbeFinding): ResumeVerdict {
  if (finding.final === 'ours') return { kind: 'submitted' };
  if (finding.final === 'unreadable') {
    return {
      kind: 'uncertain',
      why: `the final file exists but cannot be read back to prove it is ours${finding.detail ? ` (${finding.detail})` : ''}`,
    };
  }
  if (finding.temporary === 'present') return { kind: 'not-renamed' };
  return {
    kind: 'uncertain',
    why: 'the rename was about to happen, and now neither the final file nor the temporary file exists (the regulator may have collected it)',
  };
}
