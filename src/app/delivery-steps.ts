/**
 * The two steps that reach outside (PRODUCT.md §3 steps 4 and 5, §3.1): submit to the
 * regulator's SFTP server and archive to S3, under names decided once per process, with the
 * intent recorded (fenced) right before each irreversible act, and a resume that never uploads
 * again when it cannot prove what an earlier attempt did.
 */
import type { ReportConfig } from '../config/schema.js';
import { EodError, isEodError } from '../core/errors.js';
import {
  type DecidedNames,
  describeNames,
  formerTemporaries,
  type JournalKind,
  type JournalState,
  journalState,
  judgeResume,
  nameChanges,
} from '../core/journal.js';
import { renderFileName, renderKeyPrefix } from '../core/templates.js';
import type {
  CaptureRequest,
  DeliveryReceipt,
  DeliveryTarget,
  HeldLock,
  ProcessRef,
  ReportContent,
  StagedArchive,
} from '../ports.js';
import type { RunDependencies } from './run-report.js';
import { watchUpload } from './watchdog.js';

export type StepRunner = (
  deps: RunDependencies,
  report: ReportConfig,
  process: ProcessRef,
  held: HeldLock,
  signal: AbortSignal,
  base: { attempt: number; startedAt: string },
) => Promise<Record<string, unknown>>;

/** The names the config renders now for (report, date). Throws CONFIG_INVALID for a bad template. */
export function renderNames(report: ReportConfig, date: string): DecidedNames {
  const values = { date, report: report.name };
  const fileName = renderFileName(report.fileName, values);
  const directory = report.sftp.directory;
  return {
    sftp: {
      host: report.sftp.host,
      port: report.sftp.port,
      directory,
      fileName,
      remotePath: `${directory.replace(/\/+$/, '')}/${fileName}`,
    },
    s3: { bucket: report.s3.bucket, key: renderKeyPrefix(report.s3.prefix, values) + fileName },
  };
}

/** Appends a fenced journal entry of the process (the journal's only writer here). */
function journalOf(deps: RunDependencies, process: ProcessRef, held: HeldLock) {
  return (kind: JournalKind, facts: Record<string, unknown>) =>
    deps.store.appendJournal(process.processId, { kind, facts }, held.fence);
}

/**
 * Right before an irreversible act (the SFTP rename, the S3 put or multipart completion): renew the
 * lease (the act happens only with time left on it), then record the act's intent, so a crash in
 * between is settled from the journal on resume.
 */
async function intendAct(
  journal: ReturnType<typeof journalOf>,
  held: HeldLock,
  kind: 'submit-intent' | 'archive-intent',
  act: object,
  content: { bytes: number; sha256: string },
): Promise<void> {
  await held.renewBeforeAct();
  await journal(kind, { ...act, token: held.token, bytes: content.bytes, sha256: content.sha256 });
}

/** Records REPORT_ARCHIVED with the step's timing and the archive's receipt; returns the facts. */
async function recordArchived(
  deps: RunDependencies,
  process: ProcessRef,
  held: HeldLock,
  base: { attempt: number; startedAt: string },
  bytes: number,
  receipt: object,
): Promise<Record<string, unknown>> {
  await deps.failpoint('archive.before-event');
  const facts = { ...base, durationMs: elapsedSince(base.startedAt, deps), bytes, ...receipt };
  await deps.store.appendEvent(process.processId, { status: 'REPORT_ARCHIVED', facts }, held.fence);
  return facts;
}

/**
 * The names in force for the process: recorded ones if any (and the config must still render the
 * same), else the config's, recorded now (fenced) before anything is uploaded.
 * Throws EodError NAMES_CHANGED (permanent) naming both and the way forward.
 */
async function decideNames(
  deps: RunDependencies,
  report: ReportConfig,
  process: ProcessRef,
  held: HeldLock,
  state: JournalState,
  scope: 'submit' | 'archive',
): Promise<DecidedNames> {
  const rendered = renderNames(report, process.date);
  const record = async () => {
    await journalOf(deps, process, held)('names', rendered as unknown as Record<string, unknown>);
    return rendered;
  };
  if (!state.names) return record();
  const changes = nameChanges(state.names, rendered, scope);
  // Equal names; the rendered spelling is exact even where the database kept an ASCII one.
  if (changes.length === 0) return rendered;
  // The archive is ours, not the regulator's: until a put may have happened under the recorded
  // key (an archive intent), a corrected bucket or prefix (e.g. one that did not exist) is taken.
  if (scope === 'archive' && !state.archiveAttempted) return record();
  const what = changes
    .map((c) => `${c.name} ${JSON.stringify(c.recorded)} -> ${JSON.stringify(c.now)}`)
    .join(', ');
  const forward =
    scope === 'submit'
      ? `restore the config (reports[].fileName, sftp.host/port/directory, s3.bucket/prefix) to go on under the recorded names, or, after asking the regulator what it received, run: eod-report resolve --report ${report.name} --date ${process.date} --submitted|--not-submitted --reason "..." (--not-submitted lets the next run upload once under the new names)`
      : `restore the config (s3.bucket/prefix, reports[].fileName) to archive under the recorded key`;
  throw new EodError(
    'NAMES_CHANGED',
    `${report.name} ${process.date}: the names were decided at the first submit attempt and the config now renders others (${what}). Recorded: ${describeNames(state.names)}; config now: ${describeNames(rendered)}. Not sending the day under a second name; ${forward}`,
    { recorded: state.names, rendered, changes },
  );
}

/**
 * The content of an upload step under its no-progress watchdog (reports[].sftp|s3.noProgressTimeout),
 * reporting bytes to the progress line and to the observer (liveness). `signal` of the result
 * also aborts when the watchdog fires. `live`: the content is still being rendered (one pass).
 */
function watched(
  deps: RunDependencies,
  report: ReportConfig,
  process: ProcessRef,
  step: 'submit' | 'archive',
  content: ReportContent,
  signal: AbortSignal,
  live = false,
) {
  const submit = step === 'submit';
  const watchdog = watchUpload(
    content,
    submit ? report.sftp.noProgressTimeout : report.s3.noProgressTimeout,
    `${submit ? 'SFTP' : 'S3'} upload for ${report.name} ${process.date}`,
    submit ? 'reports[].sftp.noProgressTimeout' : 'reports[].s3.noProgressTimeout',
    {
      onlyWhileBytesWait: live,
      onBytes: (bytes) => {
        deps.observer.progressed?.(report.name);
        // The render's own progress line (rows) stands for a live upload: its size is not known yet.
        if (!live)
          deps.progress?.({
            report: report.name,
            date: process.date,
            step,
            bytes,
            totalBytes: content.bytes,
          });
      },
    },
  );
  return { ...watchdog, signal: AbortSignal.any([signal, watchdog.signal]) };
}

export const elapsedSince = (startedAt: string, deps: RunDependencies) =>
  deps.clock.now().getTime() - Date.parse(startedAt);

/** The permanent error of a submission whose outcome cannot be proved, with the way forward. */
export function uncertainError(report: string, date: string, why: string, remotePath: string): EodError {
  return new EodError(
    'SUBMISSION_UNCERTAIN',
    `${report} ${date}: SUBMISSION_UNCERTAIN: ${why}. Not uploading again on our own. Ask the regulator whether ${remotePath} was received, then run: eod-report resolve --report ${report} --date ${date} --submitted --reason "..." (archiving then continues) or --not-submitted --reason "..." (the next run uploads once)`,
    { report, date, why, remotePath },
  );
}

/** What the rows step asks of the row source, in one pass or alone (`tap`: one-pass.ts's FanOut). */
export function captureRequest(
  deps: RunDependencies,
  report: ReportConfig,
  process: ProcessRef,
  held: HeldLock,
  signal: AbortSignal,
  base: { attempt: number; startedAt: string },
): CaptureRequest {
  return {
    processId: process.processId,
    query: report.query,
    date: process.date,
    timezone: report.timezone,
    fence: held.fence,
    facts: { ...base },
    signal,
    onBytes: (bytes) => {
      deps.observer.progressed?.(report.name);
      deps.progress?.({ report: report.name, date: process.date, step: 'rows', bytes });
    },
  };
}

export const submitStep: StepRunner = (deps, report, process, held, signal, base) =>
  submitWith(deps, report, process, held, signal, base);

/**
 * One submission attempt; `live` is the content still being rendered (one-pass.ts), read only
 * for its stream until the stream ends. Without it, the stored capture is sent.
 */
export async function submitWith(
  deps: RunDependencies,
  report: ReportConfig,
  process: ProcessRef,
  held: HeldLock,
  signal: AbortSignal,
  base: { attempt: number; startedAt: string },
  live?: ReportContent,
  delivery: DeliveryTarget = deps.deliveryFor(report),
): Promise<Record<string, unknown>> {
  const entries = await deps.store.listJournal(process.processId);
  const state = journalState(entries);
  const names = await decideNames(deps, report, process, held, state, 'submit');
  // content() checks the captured content is all there before anything remote is created.
  const watch = watched(
    deps,
    report,
    process,
    'submit',
    live ?? (await deps.rows.content(process.processId)),
    signal,
    live !== undefined,
  );
  const { content } = watch;
  signal = watch.signal;
  const journal = journalOf(deps, process, held);
  await held.assertHeld();
  try {
    let receipt: (DeliveryReceipt & { provedIntent?: string }) | undefined;
    const intent = state.pendingIntent;
    if (intent) {
      // An earlier attempt was about to rename: find out what happened before anything else.
      const finding = await delivery.probe(names.sftp.fileName, content, intent.temporaryPath, signal);
      const verdict = judgeResume(finding);
      if (verdict.kind === 'uncertain') {
        await journal('submission-uncertain', {
          intentJournalId: intent.journalId,
          why: verdict.why,
          finding,
        });
        throw uncertainError(report.name, process.date, verdict.why, names.sftp.remotePath);
      }
      if (verdict.kind === 'submitted') {
        receipt = {
          remotePath: finding.finalPath,
          bytes: content.bytes,
          sha256: content.sha256,
          alreadyPresent: true,
          provedIntent: intent.journalId,
        };
      } else {
        await journal('not-renamed', {
          intentJournalId: intent.journalId,
          temporaryPath: intent.temporaryPath,
        });
      }
    }
    receipt ??= await delivery
      .deliver(names.sftp.fileName, content, {
        signal,
        token: held.token,
        former: formerTemporaries(entries, names),
        beforeRename: (paths) => intendAct(journal, held, 'submit-intent', paths, content),
      })
      .catch(async (error: unknown) => {
        if (isEodError(error, 'SUBMISSION_UNCERTAIN')) {
          await journal('submission-uncertain', { why: error.message, ...error.facts });
        }
        throw error;
      });
    await deps.failpoint('submit.before-event');
    const facts = {
      ...base,
      durationMs: elapsedSince(base.startedAt, deps),
      host: `${names.sftp.host}:${names.sftp.port}`,
      ...receipt,
    };
    await deps.store.appendEvent(process.processId, { status: 'REPORT_SUBMITTED', facts }, held.fence);
    return facts;
  } finally {
    watch.stop();
    await delivery.close();
  }
}

export const archiveStep: StepRunner = async (deps, report, process, held, signal, base) => {
  const state = journalState(await deps.store.listJournal(process.processId));
  const names = await decideNames(deps, report, process, held, state, 'archive');
  const watch = watched(deps, report, process, 'archive', await deps.rows.content(process.processId), signal);
  const { content } = watch;
  await held.assertHeld();
  // A crashed one-pass attempt may have left its staged parts: ours, and never an object.
  await deps.archiveFor(report).abortStale?.(names.s3.key, watch.signal);
  const receipt = await store(deps, report, process, held, names, content, watch.signal).finally(() =>
    watch.stop(),
  );
  return recordArchived(deps, process, held, base, content.bytes, receipt);
};

/** The S3 put, with the intent recorded right before it and a definite refusal recorded after. */
async function store(
  deps: RunDependencies,
  report: ReportConfig,
  process: ProcessRef,
  held: HeldLock,
  names: DecidedNames,
  content: ReportContent,
  signal: AbortSignal,
) {
  const journal = journalOf(deps, process, held);
  let intended = false;
  try {
    return await deps.archiveFor(report).store(names.s3.key, content, {
      signal,
      beforeCommit: async (act) => {
        await intendAct(journal, held, 'archive-intent', act, content);
        intended = true;
      },
    });
  } catch (error) {
    // S3 answered the put itself with a client error (no such bucket, access denied): no object
    // was created, so the key in force is not yet used.
    const status = isEodError(error) ? error.facts.httpStatus : undefined;
    if (
      intended &&
      isEodError(error) &&
      error.facts.operation === 'PutObject' &&
      typeof status === 'number' &&
      status >= 400 &&
      status < 500 &&
      status !== 412
    ) {
      await journal('archive-refused', { key: names.s3.key, httpStatus: status, s3Code: error.facts.s3Code });
    }
    throw error;
  }
}

/** The S3 key a process archives under: the recorded one, else what the config renders now. */
export async function archiveKeyOf(deps: RunDependencies, report: ReportConfig, process: ProcessRef) {
  const state = journalState(await deps.store.listJournal(process.processId));
  return (state.names ?? renderNames(report, process.date)).s3.key;
}

/**
 * The archive step for a staged upload (one-pass.ts): completes it, with the intent recorded
 * right before, and records REPORT_ARCHIVED. Returns undefined, after aborting it, when the key in
 * force is not the staged one (the regular step then archives).
 */
export async function archiveStaged(
  deps: RunDependencies,
  report: ReportConfig,
  process: ProcessRef,
  held: HeldLock,
  signal: AbortSignal,
  base: { attempt: number; startedAt: string },
  staged: StagedArchive,
  content: { bytes: number; sha256: string },
): Promise<Record<string, unknown> | undefined> {
  const state = journalState(await deps.store.listJournal(process.processId));
  const names = await decideNames(deps, report, process, held, state, 'archive');
  if (names.s3.key !== staged.key) {
    await staged.abort();
    return undefined;
  }
  await held.assertHeld();
  const journal = journalOf(deps, process, held);
  const receipt = await staged.complete({
    signal,
    beforeCommit: (act) => intendAct(journal, held, 'archive-intent', act, content),
  });
  return recordArchived(deps, process, held, base, content.bytes, receipt);
}
