/**
 * The narrow interfaces between the run and the outside systems. One adapter each, wired in
 * `app/wiring.ts`. The run logic sees only these.
 */
import type { Readable, Transform } from 'node:stream';
import type { EventFacts, RunEvent, Status } from './core/events.js';
import type { FormerTemporaries, JournalEntry, JournalKind } from './core/journal.js';
import type { CopyReading } from './core/verify.js';

export interface Clock {
  now(): Date;
  /** Resolves after `ms`, or rejects with the signal's reason when aborted. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

/** The captured bytes of one report for one date; can be read any number of times. */
export interface ReportContent {
  readonly rows: number;
  readonly bytes: number;
  /** Lower-case hex SHA-256 of the whole file. */
  readonly sha256: string;
  /** A fresh stream of exactly these bytes. Implementations verify size and hash at the end
   * and destroy the stream with an error on mismatch. */
  open(): Readable;
  /**
   * True when `open()` keeps that promise itself: its streams end normally only after exactly
   * `bytes` bytes hashing to `sha256` (the capture's own streams). A consumer may then count bytes
   * instead of hashing them again (issue 11: each extra SHA-256 pass cost ~0.5 s of CPU on 320 MB).
   * Absent: the consumer hashes what it reads.
   */
  readonly selfVerifying?: boolean;
}

/** Proof that the holder still owns the lock; checked in the same statement as each event write. */
export type Fence = { kind: 'lease'; lockName: string; token: string } | { kind: 'table'; holderPid: number };

export interface HeldLock {
  readonly fence: Fence;
  /** Unique to this acquisition (decimal digits, from the fencing sequence): names our temporary
   * files, so a holder only ever renames its own upload. */
  readonly token: string;
  /** Aborted when the lock is lost (renewal failed or connection died). */
  readonly lost: AbortSignal;
  /** Checks with the database, now, that the lock is still ours; throws EodError LEASE_LOST if not. */
  assertHeld(): Promise<void>;
  /**
   * Renews the lock in the database now and requires at least the safety margin
   * (`lock.safetyMargin`) to be left once the renewal's answer is back. Called right before each
   * irreversible act (the SFTP rename, the S3 put or multipart completion). Throws EodError
   * LEASE_LOST (facts: remainingMs, safetyMarginMs) when the lock is gone or too little is left;
   * the act must then not be done.
   */
  renewBeforeAct(): Promise<void>;
  release(): Promise<void>;
}

export interface Lock {
  /** Takes the lock or returns null at once when another instance holds it. */
  tryAcquire(name: string): Promise<HeldLock | null>;
}

export interface ProcessRef {
  processId: string;
  report: string;
  date: string;
}

export interface NewEvent {
  status: Status;
  failureDetails?: string | null;
  facts?: EventFacts;
}

export interface RunStore {
  findOrCreateProcess(report: string, date: string): Promise<ProcessRef>;
  findProcess(report: string, date: string): Promise<ProcessRef | null>;
  listEvents(processId: string): Promise<RunEvent[]>;
  /** Appends an event if the fence still holds; throws EodError LEASE_LOST otherwise. */
  appendEvent(processId: string, event: NewEvent, fence: Fence): Promise<RunEvent>;
  /** The process's journal (names, intents, uncertainty, resolutions), oldest first. */
  listJournal(processId: string): Promise<JournalEntry[]>;
  /** Appends a journal entry if the fence still holds; throws EodError LEASE_LOST otherwise. */
  appendJournal(processId: string, entry: NewJournalEntry, fence: Fence): Promise<JournalEntry>;
  /** A journal entry and (optionally) an event in one transaction, both fenced (`resolve`). */
  appendAtomically(
    processId: string,
    entry: NewJournalEntry,
    event: NewEvent | null,
    fence: Fence,
  ): Promise<void>;
}

export interface NewJournalEntry {
  kind: JournalKind;
  facts: Record<string, unknown>;
}

export interface CaptureRequest {
  processId: string;
  query: string;
  date: string;
  timezone: string;
  fence: Fence;
  facts: EventFacts;
  signal?: AbortSignal;
  /** Called as the CSV is rendered, with the bytes so far. */
  onBytes?: (bytes: number) => void;
  /** Sees the rendered bytes on their way to storage and passes them on (a FanOut feeding the
   * transfers of the same attempt); its back-pressure paces the render. */
  tap?: Transform;
}

export interface RowSource {
  /**
   * Renders the query's result for the date as CSV once and stores the bytes durably, writing
   * ROWS_CREATED in the same transaction. Returns the facts recorded.
   */
  capture(request: CaptureRequest): Promise<{ rows: number; bytes: number; sha256: string; event: RunEvent }>;
  /** The stored content of a process whose rows were captured. */
  content(processId: string): Promise<ReportContent>;
  /**
   * Retention: removes the stored content of a process and records that it is gone, in one
   * transaction; events and proof stay. Returns false when it was already dropped. Callers only
   * pass fully archived processes (the archive then holds the bytes).
   */
  dropCapture(processId: string): Promise<boolean>;
}

/**
 * How a delivery was done on this server (PRODUCT.md §3.2), recorded in REPORT_SUBMITTED's facts:
 * the adapter's choices and what the server showed.
 */
export interface DeliveryProof {
  /** posix-rename | rename (plain SFTP v3) | direct (no temporary file). */
  rename: string;
  /** The configured verification: readback | stat | none. */
  verify: string;
  /** Mode requested with SETSTAT ("0640"), or null for the server's default. */
  mode: string | null;
  /** The mode the server reports for the file, where it reports one. */
  modeSeen?: string | null;
  tempDirectory?: string;
  writeLength?: number;
  maxInFlight?: number;
  /** exclusive (O_EXCL) | create-truncate (server without O_EXCL, our own unique name). */
  create?: string;
  /** pipelined | in-order (the server refused out-of-order writes). */
  writes?: string;
  /** stat-size | acknowledged-bytes: what showed the upload complete. */
  verifiedBy?: string;
  acknowledgedBytes?: number;
  /** sha256 | size: how an existing final file was recognised as ours. */
  provenBy?: string;
  /** What the adapter noticed and did not treat as a failure. */
  notes: string[];
}

export interface DeliveryReceipt {
  remotePath: string;
  bytes: number;
  sha256: string;
  /** True when the final file was already there with our content (crash after rename). */
  alreadyPresent: boolean;
  /** The temporary file that was renamed (absent when nothing was uploaded). */
  temporaryPath?: string;
  /** After an acknowledged rename: false when a later stat could not confirm the final file
   * (an inbox may collect it at once); the rename still counts as the submission. */
  verifiedAfterRename?: boolean;
  /** Why the final file could not be confirmed after the rename. */
  afterRenameNote?: string;
  /** How the delivery was done on this server (rename, verification, mode…). */
  proof?: DeliveryProof;
}

export interface RenamePaths {
  temporaryPath: string;
  finalPath: string;
}

export interface DeliveryOptions {
  signal?: AbortSignal;
  /** Unique to the lock acquisition (HeldLock.token): the temporary file is
   * `<fileName>.<token>.part`. Without it, `<fileName>.part` (tests of the adapter alone). */
  token?: string;
  /** Called right before the rename, once the upload is complete and verified (renew the lock,
   * record the intent); throws to stop the rename. */
  beforeRename?: (paths: RenamePaths) => Promise<void>;
  /**
   * Temporary files earlier attempts may have left under names no longer in force (a resolved
   * day whose file name or directory changed); removed with our own leftovers before uploading.
   */
  former?: FormerTemporaries;
}

/** What a resume finds of an earlier attempt's rename (see DeliveryTarget.probe). */
export interface ProbeResult {
  finalPath: string;
  /** ours: present with our size and sha256; absent; unreadable: present, but reading it back
   * failed (permission, server refusal), so it cannot be proved ours. */
  final: 'ours' | 'absent' | 'unreadable';
  /** Whether the temporary file of the earlier intent still exists (then its rename never happened). */
  temporary: 'present' | 'absent';
  detail?: string;
}

export interface DeliveryTarget {
  /**
   * Uploads to a temporary name, verifies, calls `beforeRename`, renames atomically to
   * `fileName`. Throws EodError REMOTE_CONFLICT (final file with other content),
   * SUBMISSION_UNCERTAIN (our closed temporary file vanished before the rename), CONTENT_MISMATCH,
   * UNAVAILABLE / STEP_FAILED (server or connection).
   */
  deliver(fileName: string, content: ReportContent, options?: DeliveryOptions): Promise<DeliveryReceipt>;
  /**
   * Looks, changing nothing, at what an earlier attempt that recorded its intent left behind:
   * the final file (proved ours by size and sha256) and the intent's temporary file.
   * Throws EodError REMOTE_CONFLICT when the final file holds other content.
   */
  probe(
    fileName: string,
    content: ReportContent,
    temporaryPath: string,
    signal?: AbortSignal,
  ): Promise<ProbeResult>;
  /** Connects and authenticates with the pinned host key; used by `check`. */
  check(): Promise<string>;
  /**
   * Optional: starts connecting (handshake, host key, authentication; nothing is created or
   * changed on the server) so that the next `deliver` or `probe` finds its session ready. A failed
   * warm-up costs nothing: that call connects again. `close()` ends an unused one.
   */
  warm?(signal?: AbortSignal): void;
  close(): Promise<void>;
}

/** A checksum the archive server verified and reported for the stored object. */
export interface ServerChecksum {
  algorithm: 'SHA256';
  /** FULL_OBJECT: the whole file's SHA-256 (single put). COMPOSITE: SHA-256 of the parts' SHA-256s, `-<parts>`. */
  type: 'FULL_OBJECT' | 'COMPOSITE';
  /** Base64, as S3 reports it. */
  checksum: string;
  /** Bytes per part (COMPOSITE), to recompute it from the file. */
  partSize?: number;
}

export interface ArchiveReceipt {
  bucket: string;
  key: string;
  versionId?: string;
  etag?: string;
  sha256: string;
  alreadyPresent: boolean;
  /** What the server verified; null when it reported no checksum (then our metadata is the only record). */
  verifiedByServer: ServerChecksum | null;
  /** How an object found already in place was proven ours. */
  settledBy?: 'server-checksum' | 'read-back';
}

export interface ArchiveOptions {
  signal?: AbortSignal;
  /** Called right before the object becomes visible: before a PutObject, and before a multipart
   * upload's CompleteMultipartUpload (renew the lock, record the intent); throws to stop it. */
  beforeCommit?: (act: { kind: 'put' | 'complete'; bucket: string; key: string }) => Promise<void>;
}

/** A multipart upload whose parts are all uploaded but which is not an object yet. */
export interface StagedArchive {
  readonly key: string;
  readonly uploadId: string;
  /** Makes the object exist (CompleteMultipartUpload with If-None-Match: *) and checks it; calls
   * `beforeCommit` first. Throws EodError UNAVAILABLE / CONTENT_MISMATCH. */
  complete(options?: ArchiveOptions): Promise<ArchiveReceipt>;
  /** Discards the uploaded parts; never throws. */
  abort(): Promise<void>;
}

export interface Archive {
  store(key: string, content: ReportContent, options?: ArchiveOptions): Promise<ArchiveReceipt>;
  /**
   * Uploads `content` as the parts of a multipart upload without completing it, reading the
   * content once to its end (its size and hash may be known only then). Returns null when an
   * object already exists under the key. Throws EodError UNAVAILABLE / CONTENT_MISMATCH (after
   * aborting the upload).
   */
  stage?(key: string, content: ReportContent, signal?: AbortSignal): Promise<StagedArchive | null>;
  /** Aborts unfinished multipart uploads under exactly `key` (a crashed attempt's); returns how many. */
  abortStale?(key: string, signal?: AbortSignal): Promise<number>;
  check(): Promise<string>;
}

/** Where an archived copy was recorded (REPORT_ARCHIVED facts). */
export interface ArchivedLocation {
  bucket: string;
  key: string;
  versionId?: string;
}

/** Reads an archived copy back for `verify`; unreachable servers come back as `error`, not thrown. */
export interface ArchiveReader {
  read(location: ArchivedLocation, signal?: AbortSignal): Promise<CopyReading>;
  destroy(): void;
}

/** Reads a submitted file back at the regulator for `verify` (host key pinned). */
export interface RegulatorReader {
  /**
   * `expectedBytes` bounds the read-ahead; longer files are still read to their end. `how`:
   * `readback` hashes the file, `stat` only asks its size (inboxes that forbid reading).
   */
  read(
    remotePath: string,
    expectedBytes: number,
    how: 'readback' | 'stat',
    signal?: AbortSignal,
  ): Promise<CopyReading>;
  close(): Promise<void>;
}

/** What the database knows about a report's past dates; read by `serve` to plan and to report. */
export interface ReportHistory {
  /** The oldest date with a process row, or null when the report never ran. */
  firstProcessDate(report: string): Promise<string | null>;
  /** The dates on or after `from` whose every step is done. */
  completeDatesSince(report: string, from: string): Promise<Set<string>>;
}
