/**
 * Checking what is on the server, within what `sftp.verify` allows there (PRODUCT.md §3.2):
 * `readback` reads a file back to hash it, `stat` trusts its size, `none` (upload-only inboxes
 * that allow no STAT and no READ) looks where it can and otherwise trusts acknowledged bytes.
 */
import type { Stats } from 'ssh2';
import type { SftpConfig } from '../../config/schema.js';
import { EodError } from '../../core/errors.js';
import type { ReportContent } from '../../ports.js';
import { isNoSuchFile, isRefusal, type RemoteFs } from './remote-fs.js';
import { hashRemoteFile } from './remote-hash.js';

type VerifyMode = SftpConfig['verify'];

/** What is under a name, judged against our content. `unknown`: the server would not say. */
export type FinalState =
  | { kind: 'absent' }
  | { kind: 'ours'; provenBy: 'sha256' | 'size' }
  | { kind: 'unknown'; why: string };

/**
 * Looks at `path` and says whether it holds our content.
 * Throws: EodError REMOTE_CONFLICT when something else is there (never overwritten);
 * EodError STEP_FAILED, not retryable, naming reports[].sftp.verify, when the server refuses the
 * STAT or READ that `verify` needs.
 */
export async function examineExisting(
  remote: RemoteFs,
  path: string,
  content: ReportContent,
  verify: VerifyMode,
  signal?: AbortSignal,
): Promise<FinalState> {
  let existing: Stats | undefined;
  try {
    existing = await remote.statIfExists(path);
  } catch (error) {
    if (!isRefusal(error)) throw error;
    if (verify === 'none') return { kind: 'unknown', why: `STAT refused: ${messageOf(error)}` };
    throw verifyRefused(remote, path, 'STAT', verify, error);
  }
  if (existing === undefined) return { kind: 'absent' };
  // A server may leave out the mode; then only the content can tell.
  if (existing.mode !== undefined && !existing.isFile())
    throw conflict(remote, path, content, existing, 'it is not a regular file');
  const size = sizeOf(existing);
  if (size !== undefined && size !== content.bytes) {
    throw conflict(remote, path, content, existing, `it has ${size} bytes, ours ${content.bytes}`);
  }
  if (verify !== 'readback') {
    return size === undefined
      ? { kind: 'unknown', why: 'it exists and the server gives no size' }
      : { kind: 'ours', provenBy: 'size' };
  }
  let digest: { bytes: number; sha256: string };
  try {
    digest = await hashRemoteFile(remote, path, content.bytes, signal);
  } catch (error) {
    if (!isRefusal(error)) throw error;
    throw verifyRefused(remote, path, 'READ', verify, error);
  }
  if (digest.bytes !== content.bytes || digest.sha256 !== content.sha256) {
    throw conflict(
      remote,
      path,
      content,
      existing,
      `its sha256 is ${digest.sha256} (${digest.bytes} bytes), ours ${content.sha256} (${content.bytes} bytes)`,
    );
  }
  return { kind: 'ours', provenBy: 'sha256' };
}

export interface UploadCheck {
  /** `stat-size`: STAT after close gave our size; `acknowledged-bytes`: the bytes the server acknowledged. */
  verifiedBy: 'stat-size' | 'acknowledged-bytes';
  /** The mode the server reports for the file, when it reports one. */
  modeSeen?: number;
  note?: string;
}

/**
 * Checks the closed upload at `path` (STAT after close: some servers report size 0 for an open
 * handle). Where the server gives no size, or `verify` is `none`, the proof is the bytes the
 * server acknowledged.
 * Throws: EodError CONTENT_MISMATCH when the size differs; SUBMISSION_UNCERTAIN when the file is
 * gone (the server may have collected it: uploading again could submit twice).
 */
export async function checkUpload(
  remote: RemoteFs,
  path: string,
  content: ReportContent,
  acknowledgedBytes: number,
  verify: VerifyMode,
  /** The final name written directly: gone after close means collected, i.e. submitted. */
  final = false,
): Promise<UploadCheck> {
  let stats: Stats;
  try {
    stats = await remote.stat(path);
  } catch (error) {
    if (isNoSuchFile(error) && final && acknowledgedBytes === content.bytes) {
      return { verifiedBy: 'acknowledged-bytes', note: 'gone right after the close (collected on arrival?)' };
    }
    if (isNoSuchFile(error)) {
      throw new EodError(
        'SUBMISSION_UNCERTAIN',
        `SFTP ${path} on ${remote.endpoint} vanished after it was uploaded and closed; the server may have collected it. Not uploading again: check with the regulator, then run eod-report resolve (and set reports[].sftp.tempDirectory to a directory the regulator does not collect from)`,
        { temporaryPath: path, endpoint: remote.endpoint },
        { cause: error },
      );
    }
    if (!isRefusal(error)) throw error;
    if (verify !== 'none') throw verifyRefused(remote, path, 'STAT', verify, error);
    return { verifiedBy: 'acknowledged-bytes', note: `STAT refused: ${messageOf(error)}` };
  }
  const modeSeen = stats.mode === undefined ? undefined : stats.mode & 0o777;
  const size = sizeOf(stats);
  if (size === undefined) {
    return {
      verifiedBy: 'acknowledged-bytes',
      note: 'the server gives no size; the proof is the bytes it acknowledged',
      ...(modeSeen === undefined ? {} : { modeSeen }),
    };
  }
  if (size !== content.bytes || acknowledgedBytes !== content.bytes) {
    throw new EodError(
      'CONTENT_MISMATCH',
      `SFTP ${path} on ${remote.endpoint} has ${size} bytes after the upload (${acknowledgedBytes} acknowledged), expected ${content.bytes}`,
      { remotePath: path, remoteBytes: size, acknowledgedBytes, expectedBytes: content.bytes },
    );
  }
  return {
    verifiedBy: verify === 'none' ? 'acknowledged-bytes' : 'stat-size',
    ...(modeSeen === undefined ? {} : { modeSeen }),
  };
}

/** ssh2 leaves `size` undefined when the server's attributes carry none. */
function sizeOf(stats: Stats): number | undefined {
  return typeof stats.size === 'number' ? stats.size : undefined;
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function verifyRefused(remote: RemoteFs, path: string, what: string, verify: VerifyMode, cause: unknown) {
  const instead = verify === 'readback' && what === 'READ' ? '"stat" or "none"' : '"none"';
  return new EodError(
    'STEP_FAILED',
    `SFTP server ${remote.endpoint} refuses ${what} of ${path} (${messageOf(cause)}), which reports[].sftp.verify "${verify}" needs; for an upload-only inbox set verify to ${instead} (see README, regulator's server)`,
    { endpoint: remote.endpoint, path, verify, key: 'reports[].sftp.verify' },
    { cause, retryable: false },
  );
}

function conflict(remote: RemoteFs, path: string, content: ReportContent, existing: Stats, why: string) {
  return new EodError(
    'REMOTE_CONFLICT',
    `SFTP ${path} on ${remote.endpoint} already exists with other content: ${why}; not overwriting the regulator's file`,
    {
      remotePath: path,
      endpoint: remote.endpoint,
      remoteBytes: existing.size,
      expectedBytes: content.bytes,
      expectedSha256: content.sha256,
    },
  );
}
