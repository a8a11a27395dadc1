/**
 * Submission to the regulator's SFTP server (PRODUCT.md §3 step 4, §3.1): upload to a temporary
 * name unique to the lock acquisition (`<name>.<token>.part`), verify, then atomically rename. The
 * final name only ever holds a complete, verified file of the holder that renamed it, and an
 * existing final file is never overwritten.
 */
import type { Stats } from 'ssh2';
import type { SftpConfig } from '../../config/schema.js';
import { EodError } from '../../core/errors.js';
import type {
  DeliveryOptions,
  DeliveryReceipt,
  DeliveryTarget,
  ProbeResult,
  ReportContent,
} from '../../ports.js';
import { type ConnectOptions, connectSftp, type SftpSession } from './connect.js';
import { isNoSuchFile, RemoteFs, sftpStatusOf } from './remote-fs.js';
import { hashRemoteFile } from './remote-hash.js';
import { type UploadOptions, uploadStream } from './upload.js';

/** Crash-test hook: awaited at named points; it may throw or kill the process. */
export type Failpoint = (name: string) => Promise<void> | void;

export const SFTP_FAILPOINTS = [
  'sftp.mid-upload',
  'sftp.after-part-upload',
  'sftp.before-rename',
  'sftp.after-lock-check',
  'sftp.after-rename',
] as const;

export interface SftpDeliveryOptions {
  failpoint?: Failpoint;
  connect?: ConnectOptions;
  upload?: Pick<UploadOptions, 'writeSize' | 'maxInFlight'>;
}

const RENAME_EXTENSION = 'posix-rename@openssh.com';

/**
 * The final path and our temporary path for it. With a token (the lock acquisition's) the
 * temporary name is `<fileName>.<token>.part`, so two holders never share one.
 */
export function remotePaths(
  directory: string,
  fileName: string,
  token?: string,
): { final: string; part: string; directory: string } {
  if (fileName === '' || fileName === '.' || fileName === '..' || fileName.includes('/')) {
    throw new EodError('CONFIG_INVALID', `"${fileName}" is not a plain file name`, { fileName });
  }
  if (token !== undefined && !/^[0-9]+$/.test(token)) {
    throw new EodError('STEP_FAILED', `lock token "${token}" is not a decimal number`, { token });
  }
  const dir = directory.replace(/\/+$/, '');
  const final = `${dir}/${fileName}`;
  return {
    final,
    part: token === undefined ? `${final}.part` : `${final}.${token}.part`,
    directory: dir || '/',
  };
}

/** Whether `name` (in the final file's directory) is one of our temporary files for `fileName`:
 * `<fileName>.part` (older releases) or `<fileName>.<digits>.part`, nothing else. */
export function isOurTemporary(name: string, fileName: string): boolean {
  if (!name.startsWith(fileName) || !name.endsWith('.part') || name.length < fileName.length + 5)
    return false;
  const middle = name.slice(fileName.length, -'.part'.length);
  return middle === '' || /^\.[0-9]+$/.test(middle);
}

/** SFTP statuses that mean "this server will not let us read it", as opposed to a lost connection. */
const REFUSED_STATUSES: ReadonlySet<number> = new Set([3, 4, 8]);

/** What is under the final name now, judged against our content. */
type FinalState = { kind: 'absent' } | { kind: 'ours' };

export class SftpDelivery implements DeliveryTarget {
  private readonly sessions = new Set<SftpSession>();
  private readonly failpoint: Failpoint;
  private readonly options: SftpDeliveryOptions;

  constructor(
    private readonly config: SftpConfig,
    failpointOrOptions?: Failpoint | SftpDeliveryOptions,
  ) {
    this.options =
      typeof failpointOrOptions === 'function'
        ? { failpoint: failpointOrOptions }
        : (failpointOrOptions ?? {});
    this.failpoint = this.options.failpoint ?? (() => {});
  }

  async deliver(
    fileName: string,
    content: ReportContent,
    options: DeliveryOptions = {},
  ): Promise<DeliveryReceipt> {
    const { signal, beforeRename, token } = options;
    const { final, part, directory } = remotePaths(this.config.directory, fileName, token);
    return this.withSession(signal, async (remote) => {
      const receipt = (alreadyPresent: boolean): DeliveryReceipt => ({
        remotePath: final,
        bytes: content.bytes,
        sha256: content.sha256,
        alreadyPresent,
      });

      if ((await this.examineFinal(remote, final, content, signal)).kind === 'ours') {
        // Delivered by an earlier attempt that stopped before recording it; a completed delivery
        // leaves no temporary file of ours.
        await this.removeOurTemporaries(remote, directory, fileName, part);
        return receipt(true);
      }
      // Refuse before uploading anything, not after.
      this.requireAtomicRename(remote);

      // Leftovers of interrupted attempts (ours, or an earlier holder's: only names of the
      // pattern). Removing (rather than truncating) lets the exclusive create below set the
      // mode, so the file is never readable more widely.
      await this.removeOurTemporaries(remote, directory, fileName, part);
      await this.uploadPart(remote, part, content, signal);
      await this.failpoint('sftp.after-part-upload');

      signal?.throwIfAborted();
      // The final name may have appeared while we uploaded; never rename over it.
      if ((await this.examineFinal(remote, final, content, signal)).kind === 'ours') {
        await remote.unlinkIfExists(part);
        return receipt(true);
      }
      await this.failpoint('sftp.before-rename');
      // Last word for the caller (renew the lock, record the intent), as late as possible.
      await beforeRename?.({ temporaryPath: part, finalPath: final });
      await this.failpoint('sftp.after-lock-check');
      signal?.throwIfAborted();
      try {
        await remote.posixRename(part, final);
      } catch (error) {
        if (!isNoSuchFile(error)) throw error;
        // We closed it whole, and now it is gone: an inbox that collects every closed file may
        // have taken it. Uploading again could make a second copy (PRODUCT.md 3.1).
        throw new EodError(
          'SUBMISSION_UNCERTAIN',
          `SFTP ${part} on ${remote.endpoint} vanished after it was uploaded and closed, before the rename to ${final}; the server may have collected it. Not uploading again: check with the regulator, then run eod-report resolve`,
          { temporaryPath: part, remotePath: final, endpoint: remote.endpoint },
          { cause: error },
        );
      }
      await this.failpoint('sftp.after-rename');

      // The server acknowledged the rename: that is the submission. What a later look finds
      // (an inbox may take the file at once) is a note in the proof, never a failure.
      const after: DeliveryReceipt = { ...receipt(false), temporaryPath: part, verifiedAfterRename: true };
      try {
        const delivered = await remote.statIfExists(final);
        if (delivered === undefined) {
          return {
            ...after,
            verifiedAfterRename: false,
            afterRenameNote: 'final file not found right after the acknowledged rename',
          };
        }
        if (delivered.size !== content.bytes) {
          return {
            ...after,
            verifiedAfterRename: false,
            afterRenameNote: `final file has ${delivered.size} bytes right after the acknowledged rename, expected ${content.bytes}`,
          };
        }
      } catch (error) {
        return {
          ...after,
          verifiedAfterRename: false,
          afterRenameNote: `stat after the acknowledged rename failed: ${(error as Error).message}`,
        };
      }
      return after;
    });
  }

  async probe(
    fileName: string,
    content: ReportContent,
    temporaryPath: string,
    signal?: AbortSignal,
  ): Promise<ProbeResult> {
    const { final } = remotePaths(this.config.directory, fileName);
    return this.withSession(signal, async (remote) => {
      let state: ProbeResult['final'];
      let detail: string | undefined;
      try {
        state = (await this.examineFinal(remote, final, content, signal)).kind;
      } catch (error) {
        const status = sftpStatusOf(error);
        if (isNoSuchFile(error)) {
          state = 'absent';
        } else if (status !== undefined && REFUSED_STATUSES.has(status)) {
          state = 'unreadable';
          detail = (error as Error).message;
        } else {
          throw error;
        }
      }
      const temporary = (await remote.statIfExists(temporaryPath)) === undefined ? 'absent' : 'present';
      return { finalPath: final, final: state, temporary, ...(detail === undefined ? {} : { detail }) };
    });
  }

  /** Removes `<fileName>.part` and `<fileName>.<digits>.part` from the directory, and `own`. */
  private async removeOurTemporaries(remote: RemoteFs, directory: string, fileName: string, own: string) {
    let names: string[];
    try {
      names = await remote.list(directory);
    } catch (error) {
      // An inbox that cannot be listed: remove what we can name.
      if (sftpStatusOf(error) === undefined) throw error;
      names = [`${fileName}.part`];
    }
    const paths = new Set(
      names
        .filter((name) => isOurTemporary(name, fileName))
        .map((n) => `${directory.replace(/\/$/, '')}/${n}`),
    );
    paths.add(own);
    for (const path of paths) await remote.unlinkIfExists(path);
  }

  async check(): Promise<string> {
    return this.withSession(undefined, async (remote, session) => {
      const directory = this.config.directory;
      const stats = await remote.stat(directory);
      if (!stats.isDirectory()) {
        throw new EodError(
          'CONFIG_INVALID',
          `SFTP ${directory} on ${remote.endpoint} is not a directory (reports[].sftp.directory)`,
          { remotePath: directory },
        );
      }
      this.requireAtomicRename(remote);
      return `sftp ${session.endpoint} ${directory} ok (host key ${session.hostKeySha256})`;
    });
  }

  async close(): Promise<void> {
    await Promise.all([...this.sessions].map((session) => session.end()));
    this.sessions.clear();
  }

  /** One connection per call: nothing to keep alive between nightly runs, nothing stale. */
  private async withSession<T>(
    signal: AbortSignal | undefined,
    work: (remote: RemoteFs, session: SftpSession) => Promise<T>,
  ): Promise<T> {
    const session = await connectSftp(this.config, { ...this.options.connect, signal });
    this.sessions.add(session);
    try {
      return await work(new RemoteFs(session.sftp, session.endpoint), session);
    } finally {
      this.sessions.delete(session);
      await session.end();
    }
  }

  /**
   * Plain SFTP RENAME is not specified precisely enough to rely on: OpenSSH implements it
   * with link()+unlink() (fails if the target exists, falls back to a non-atomic path on
   * filesystems without hard links), other servers overwrite, copy or refuse. Without
   * posix-rename we cannot promise that the final name only ever shows a whole file, so we
   * refuse to deliver rather than guess.
   */
  private requireAtomicRename(remote: RemoteFs): void {
    if (remote.supports(RENAME_EXTENSION) === false) {
      throw new EodError(
        'UNAVAILABLE',
        `SFTP server ${remote.endpoint} does not offer ${RENAME_EXTENSION}; refusing to deliver without an atomic rename (plain SFTP rename semantics vary by server)`,
        { endpoint: remote.endpoint, extension: RENAME_EXTENSION },
      );
    }
  }

  private async examineFinal(
    remote: RemoteFs,
    final: string,
    content: ReportContent,
    signal: AbortSignal | undefined,
  ): Promise<FinalState> {
    const existing = await remote.statIfExists(final);
    if (existing === undefined) return { kind: 'absent' };
    if (!existing.isFile()) throw this.conflict(remote, final, content, existing, 'it is not a regular file');
    if (existing.size !== content.bytes) {
      throw this.conflict(
        remote,
        final,
        content,
        existing,
        `it has ${existing.size} bytes, ours ${content.bytes}`,
      );
    }
    const digest = await hashRemoteFile(remote, final, content.bytes, signal);
    if (digest.bytes !== content.bytes || digest.sha256 !== content.sha256) {
      throw this.conflict(
        remote,
        final,
        content,
        existing,
        `its sha256 is ${digest.sha256} (${digest.bytes} bytes), ours ${content.sha256} (${content.bytes} bytes)`,
      );
    }
    return { kind: 'ours' };
  }

  private conflict(remote: RemoteFs, final: string, content: ReportContent, existing: Stats, why: string) {
    return new EodError(
      'REMOTE_CONFLICT',
      `SFTP ${final} on ${remote.endpoint} already exists with other content: ${why}; not overwriting the regulator's file`,
      {
        remotePath: final,
        endpoint: remote.endpoint,
        remoteBytes: existing.size,
        expectedBytes: content.bytes,
        expectedSha256: content.sha256,
      },
    );
  }

  private async uploadPart(remote: RemoteFs, part: string, content: ReportContent, signal?: AbortSignal) {
    const mode = this.config.fileMode;
    const handle = await remote.createExclusive(part, mode);
    let closed = false;
    try {
      await remote.fchmod(handle, mode, part);
      const written = await uploadStream(remote, handle, part, content.open(), {
        ...this.options.upload,
        signal,
        afterFirstWrite: () => this.failpoint('sftp.mid-upload'),
      });
      if (written.bytes !== content.bytes || written.sha256 !== content.sha256) {
        throw new EodError(
          'CONTENT_MISMATCH',
          `report content for ${part} streamed ${written.bytes} bytes with sha256 ${written.sha256}, expected ${content.bytes} bytes with ${content.sha256}`,
          { remotePath: part, ...written, expectedBytes: content.bytes, expectedSha256: content.sha256 },
        );
      }
      await remote.fsyncIfSupported(handle, part);
      const stats = await remote.fstat(handle, part);
      closed = true;
      await remote.close(handle, part);
      if (stats.size !== content.bytes) {
        throw new EodError(
          'CONTENT_MISMATCH',
          `SFTP ${part} on ${remote.endpoint} has ${stats.size} bytes after the upload, expected ${content.bytes}`,
          { remotePath: part, remoteBytes: stats.size, expectedBytes: content.bytes },
        );
      }
    } finally {
      // On failure or abort the .part stays; the next attempt removes it before uploading.
      if (!closed) await remote.closeQuietly(handle, part);
    }
  }
}
