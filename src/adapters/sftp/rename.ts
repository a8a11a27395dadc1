/**
 * Making the verified temporary file the final one (PRODUCT.md §3 step 4, §3.2):
 * `posix-rename@openssh.com` where offered, else plain SFTP v3 RENAME. Both are only called
 * after the final name was found absent (or could not be looked at, on upload-only inboxes).
 */
import { EodError } from '../../core/errors.js';
import type { RenameMethod } from './capabilities.js';
import { isNoSuchFile, isRefusal, type RemoteFs } from './remote-fs.js';

/**
 * Renames `from` to `to` with `method`.
 * Throws: EodError STEP_FAILED with the server's answer; a refusal (permission denied,
 * unsupported) is not retryable: another attempt gets the same answer. EodError
 * SUBMISSION_UNCERTAIN when the temporary file is gone (the server may have collected it when we
 * closed it): uploading again could submit the day twice.
 */
export async function renameIntoPlace(
  remote: RemoteFs,
  method: Exclude<RenameMethod, 'direct'>,
  from: string,
  to: string,
): Promise<void> {
  try {
    if (method === 'posix-rename') await remote.posixRename(from, to);
    else await remote.rename(from, to);
  } catch (error) {
    if (isNoSuchFile(error)) {
      // We closed it whole, and now it is gone: an inbox that collects every closed file may
      // have taken it. Uploading again could make a second copy (PRODUCT.md §3.1).
      throw new EodError(
        'SUBMISSION_UNCERTAIN',
        `SFTP ${from} on ${remote.endpoint} vanished after it was uploaded and closed, before the rename to ${to}; the server may have collected it. Not uploading again: check with the regulator, then run eod-report resolve (and set reports[].sftp.tempDirectory to a directory the regulator does not collect from)`,
        { temporaryPath: from, remotePath: to, endpoint: remote.endpoint },
        { cause: error },
      );
    }
    if (isRefusal(error)) {
      const reason = error instanceof Error ? error.message : String(error);
      throw new EodError(
        'STEP_FAILED',
        `SFTP server ${remote.endpoint} refuses ${method} of ${from} to ${to}: ${reason}; if it forbids renaming, set reports[].sftp.atomicity to "direct" (see README, regulator's server)`,
        { endpoint: remote.endpoint, from, to, method },
        { cause: error, retryable: false },
      );
    }
    throw error;
  }
}
