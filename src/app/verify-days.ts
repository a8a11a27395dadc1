/**
 * `verify` (PRODUCT.md §1, audit): for each day, the proof its events recorded and what each
 * copy (the regulator's file, the archived object) holds now.
 */
import type { ReportConfig } from '../config/schema.js';
import type { RunEvent } from '../core/events.js';
import {
  archiveWhere,
  type CopyVerdict,
  type DayProof,
  type DayVerdict,
  judgeCopy,
  judgeDay,
  proofOf,
  regulatorWhere,
} from '../core/verify.js';
import type { ArchiveReader, RegulatorReader } from '../ports.js';

export interface VerifyReaders {
  archive: ArchiveReader;
  regulator: RegulatorReader;
}

export interface VerifyOptions {
  /** Do not connect to the regulator (its copy is reported as not checked). */
  archiveOnly?: boolean;
  signal?: AbortSignal;
}

/** The verdicts of `dates` of one report, oldest first; a date without a process is NOT_RUN. */
export async function verifyDays(
  report: ReportConfig,
  days: readonly { date: string; processId: string | null; events: readonly RunEvent[] }[],
  readers: VerifyReaders,
  options: VerifyOptions = {},
): Promise<DayVerdict[]> {
  const out: DayVerdict[] = [];
  for (const day of [...days].sort((a, b) => a.date.localeCompare(b.date))) {
    const proof = proofOf(report.name, day.date, day.processId, day.events);
    const regulator = await checkRegulator(report, proof, readers.regulator, options);
    const archive = await checkArchive(proof, readers.archive, options.signal);
    out.push(judgeDay(proof, regulator, archive));
  }
  return out;
}

async function checkArchive(
  proof: DayProof,
  reader: ArchiveReader,
  signal: AbortSignal | undefined,
): Promise<CopyVerdict> {
  if (!proof.archived) return { state: 'not-checked', detail: 'not archived' };
  const reading = await reader.read(proof.archived, signal);
  return judgeCopy(proof.content, reading, archiveWhere(proof), true);
}

async function checkRegulator(
  report: ReportConfig,
  proof: DayProof,
  reader: RegulatorReader,
  options: VerifyOptions,
): Promise<CopyVerdict> {
  const where = regulatorWhere(proof);
  if (!proof.submitted || proof.submitted.remotePath === undefined || where === undefined) {
    return { state: 'not-checked', detail: proof.submitted ? 'no remote path recorded' : 'not submitted' };
  }
  if (options.archiveOnly) return { state: 'not-checked', where, detail: 'not checked (--archive-only)' };
  const configured = `${report.sftp.host}:${report.sftp.port}`;
  if (proof.submitted.host !== undefined && proof.submitted.host !== configured) {
    return {
      state: 'not-checked',
      where,
      detail: `not checked: sent to ${proof.submitted.host}, the config now names ${configured}`,
    };
  }
  // The report's own setting says what its inbox allows: `none` is an inbox we may not even stat.
  const how = report.sftp.verify ?? 'readback';
  if (how === 'none') {
    return {
      state: 'not-readable',
      where,
      detail: 'not readable at regulator (sftp.verify: none, not asked)',
    };
  }
  const reading = await reader.read(
    proof.submitted.remotePath,
    proof.content?.bytes ?? 0,
    how,
    options.signal,
  );
  return judgeCopy(proof.content, reading, where, false);
}
