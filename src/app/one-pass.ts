/**
 * The one-pass attempt (issue 11): the report is rendered once and that one stream feeds, at the
 * same time, the durable capture (hash + stored chunks, ROWS_CREATED), the SFTP temporary file and
 * the parts of an S3 multipart upload. The slowest of them paces the render (FanOut), so memory
 * stays flat. The order of the requirement still holds: the SFTP rename happens only after the
 * capture is committed (the consumers' streams end only then), and the S3 object comes into
 * existence only when run-report completes the staged upload, after REPORT_SUBMITTED is recorded;
 * a failed submission aborts the staged upload.
 *
 * A consumer that cannot take part (it asks for the size before the end, or is not ready when the
 * render starts) simply drops out: its step then runs as usual from the stored capture.
 */
import type { ReportConfig } from '../config/schema.js';
import { coerceError } from '../core/errors.js';
import type { HeldLock, ProcessRef, StagedArchive } from '../ports.js';
import { archiveKeyOf, archiveStaged, captureRequest, submitWith } from './delivery-steps.js';
import { FanOut } from './fan-out.js';
import { ContentPending, LiveContent } from './live-content.js';
import type { RunDependencies } from './run-report.js';

type StepBase = { attempt: number; startedAt: string };
type StepFacts = Record<string, unknown>;

export type SubmitOutcome =
  | { kind: 'done'; facts: StepFacts }
  | { kind: 'failed'; error: Error }
  /** The submission could not be fed by the render; nothing was attempted that counts. */
  | { kind: 'not-tried' };

export interface OnePass {
  /** The facts of the capture (the rows step). */
  rows: StepFacts;
  /** The submission fed by the render (REPORT_SUBMITTED recorded when done). */
  submitted: Promise<SubmitOutcome>;
  /**
   * Completes the staged S3 upload and records REPORT_ARCHIVED; call only once REPORT_SUBMITTED
   * is recorded. Undefined when nothing is staged (the regular archive step then runs).
   */
  archive(base: StepBase, signal: AbortSignal): Promise<StepFacts | undefined>;
  /** Aborts a staged upload that was not completed; waits for the consumers to settle. */
  dispose(): Promise<void>;
}

/** Consumers get this long to be ready before the render starts without them. */
const READY_WITHIN_MS = 15_000;

export async function captureInOnePass(
  deps: RunDependencies,
  report: ReportConfig,
  process: ProcessRef,
  held: HeldLock,
  signal: AbortSignal,
  base: StepBase,
): Promise<OnePass> {
  const archive = deps.archiveFor(report);
  const fan = new FanOut(archive.stage ? 2 : 1, READY_WITHIN_MS);
  const forSubmit = new LiveContent(fan);
  const forArchive = new LiveContent(fan);
  // The SSH handshake and authentication overlap the query's start instead of holding its first
  // byte (about 0.3 s at the gate, issue 11); nothing is created on the server before that byte.
  const delivery = deps.deliveryFor(report);
  delivery.warm?.(signal);
  const capturing = deps.rows.capture({
    ...captureRequest(deps, report, process, held, signal, base),
    tap: fan,
  });
  // The consumers start once the query has produced bytes: a refused query touches no server.
  const accepted = await Promise.race([
    new Promise<boolean>((resolve) => fan.once('first-byte', () => resolve(true))),
    capturing.then(
      () => false,
      () => false,
    ),
  ]);
  if (!accepted) {
    forSubmit.release();
    forArchive.release();
    await delivery.close();
    const captured = await capturing; // throws the capture's error
    throw new Error(`capture of process ${process.processId} ended without a byte (${captured.bytes} bytes)`);
  }

  const submitBase = { attempt: 1, startedAt: deps.clock.now().toISOString() };
  const submitted: Promise<SubmitOutcome> = submitWith(
    deps,
    report,
    process,
    held,
    signal,
    submitBase,
    forSubmit,
    delivery,
  )
    .then((facts): SubmitOutcome => ({ kind: 'done', facts }))
    .catch(
      (error: unknown): SubmitOutcome =>
        pending(error) ? { kind: 'not-tried' } : { kind: 'failed', error: coerceError(error) },
    )
    .finally(async () => {
      forSubmit.release();
      // Also when submitWith failed before it reached the server: a warmed session must not linger.
      await delivery.close().catch(() => undefined);
    });
  const staging: Promise<StagedArchive | null> = archive.stage
    ? archive
        .stage(await archiveKeyOf(deps, report, process), forArchive, signal)
        // A staging failure costs nothing but the overlap: the archive step uploads as usual.
        .catch(() => null)
        .finally(() => forArchive.release())
    : Promise.resolve(null);
  let staged: StagedArchive | null = null;
  let completed = false;
  const abortStaged = async () => {
    const upload = await staging;
    if (upload && !completed) await upload.abort();
    staged = null;
  };

  let captured: { rows: number; bytes: number; sha256: string };
  try {
    captured = await capturing;
  } catch (error) {
    fan.fail(coerceError(error));
    await submitted;
    await abortStaged();
    throw error;
  }
  forSubmit.settle(captured);
  forArchive.settle(captured);
  fan.finish();
  // Whatever happens to the submission, a staged upload must not outlive its failure.
  void submitted.then((outcome) => (outcome.kind === 'done' ? undefined : abortStaged()));
  await deps.failpoint('rows.after-commit');

  return {
    rows: { rows: captured.rows, bytes: captured.bytes, sha256: captured.sha256 },
    submitted,
    async archive(archiveBase, archiveSignal) {
      staged = await staging;
      if (!staged) return undefined;
      const facts = await archiveStaged(
        deps,
        report,
        process,
        held,
        archiveSignal,
        archiveBase,
        staged,
        captured,
      );
      completed = facts !== undefined;
      return facts;
    },
    async dispose() {
      await submitted;
      await abortStaged();
    },
  };
}

function pending(error: unknown): boolean {
  for (let e: unknown = error; e instanceof Error; e = e.cause) if (e instanceof ContentPending) return true;
  return false;
}
