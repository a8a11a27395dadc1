/**
 * Creating the file we upload into, and setting its mode, on servers that differ: some lack
 * exclusive create (O_EXCL), some refuse or lack SETSTAT (PRODUCT.md §3.2).
 */
import { EodError } from '../../core/errors.js';
import { formatMode } from './capabilities.js';
import { isNoSuchFile, isRefusal, isUnsupported, type RemoteFs } from './remote-fs.js';

/** How the file was created: with O_EXCL, or create+truncate where the server lacks O_EXCL. */
export type CreateMethod = 'exclusive' | 'create-truncate';

export interface CreatedFile {
  handle: Buffer;
  create: CreateMethod;
}

/**
 * Opens `path` for writing, new. Exclusive create where the server has it; where it answers
 * "unsupported", create+truncate — only when `path` is a name of our own that nobody else
 * writes (`truncateAllowed`), never for the regulator's final name.
 * Throws: EodError STEP_FAILED (the server's answer), not retryable when O_EXCL is unsupported
 * and truncating is not allowed, or when the directory does not exist (naming the config key).
 */
export async function createUploadFile(
  remote: RemoteFs,
  path: string,
  mode: number | null,
  truncateAllowed: boolean,
): Promise<CreatedFile> {
  try {
    return { handle: await remote.createExclusive(path, mode), create: 'exclusive' };
  } catch (error) {
    // Some servers (ProFTPD with chmod denied) refuse an OPEN that carries a mode: tell that
    // apart from a directory we cannot write to, and name the key to change.
    if (mode !== null && isRefusal(error) && !isUnsupported(error))
      await refusedOnlyForMode(remote, path, mode, error);
    // The directory is missing: no later attempt finds it unless someone creates it or the
    // config names another one, so say which key and do not retry.
    if (isNoSuchFile(error)) {
      const directory = path.slice(0, path.lastIndexOf('/')) || '/';
      throw new EodError(
        'STEP_FAILED',
        `${(error as Error).message}: the directory ${directory} does not exist on ${remote.endpoint}; create it or fix reports[].sftp.directory (reports[].sftp.tempDirectory when set)`,
        { endpoint: remote.endpoint, path, directory },
        { cause: error, retryable: false },
      );
    }
    if (!isUnsupported(error)) throw error;
    if (!truncateAllowed) {
      throw new EodError(
        'STEP_FAILED',
        `SFTP server ${remote.endpoint} does not support exclusive create (O_EXCL) for ${path}; with reports[].sftp.atomicity "direct" the final name would be created without protection against overwriting: use atomicity "rename"`,
        { endpoint: remote.endpoint, path },
        { cause: error, retryable: false },
      );
    }
    return { handle: await remote.createOrTruncate(path, mode), create: 'create-truncate' };
  }
}

/** Throws the fileMode error when a create without the mode succeeds; returns when it fails too. */
async function refusedOnlyForMode(
  remote: RemoteFs,
  path: string,
  mode: number,
  refusal: unknown,
): Promise<void> {
  // ProFTPD creates the file, then refuses the OPEN for the mode it carries: a file there now
  // is that. Otherwise a create without the mode tells.
  const createdAnyway = await remote.statIfExists(path).then(
    (stats) => stats !== undefined,
    () => false,
  );
  if (!createdAnyway) {
    let handle: Buffer;
    try {
      handle = await remote.createExclusive(path, null);
    } catch {
      return;
    }
    await remote.closeQuietly(handle, path);
  }
  await remote.unlinkIfExists(path).catch(() => false);
  throw modeRefused(remote, path, mode, refusal);
}

/**
 * Sets the exact mode (the server's umask may have changed the one given at creation): FSETSTAT,
 * or SETSTAT by path where FSETSTAT is unsupported.
 * Throws: EodError STEP_FAILED, not retryable, naming reports[].sftp.fileMode, when the server
 * refuses or does not support setting the mode.
 */
export async function applyMode(remote: RemoteFs, handle: Buffer, path: string, mode: number): Promise<void> {
  try {
    await remote.fchmod(handle, mode, path);
    return;
  } catch (error) {
    if (!isRefusal(error)) throw error;
    if (isUnsupported(error)) {
      try {
        await remote.chmod(path, mode);
        return;
      } catch (byPath) {
        if (!isRefusal(byPath)) throw byPath;
        throw modeRefused(remote, path, mode, byPath);
      }
    }
    throw modeRefused(remote, path, mode, error);
  }
}

function modeRefused(remote: RemoteFs, path: string, mode: number, cause: unknown): EodError {
  const reason = cause instanceof Error ? cause.message : String(cause);
  return new EodError(
    'STEP_FAILED',
    `SFTP server ${remote.endpoint} refuses to set mode ${formatMode(mode)} on ${path} (${reason}); set reports[].sftp.fileMode to null to leave the mode to the server`,
    { endpoint: remote.endpoint, path, mode: formatMode(mode), key: 'reports[].sftp.fileMode' },
    { cause, retryable: false },
  );
}
