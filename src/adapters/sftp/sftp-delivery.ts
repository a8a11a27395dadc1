/**
 * Submission to the regulator's SFTP server (PRODUCT.md §3 step 4): upload to `<name>.part`,
 * verify, then atomically rename. The final name only ever holds a complete, verified file,
 * and an existing final file is never overwritten.
 */
import type { Stats } from 'ssh2';
import type { SftpConfig } from '../../config/schema.js';
import { EodError } from '../../core/errors.js';
import type { DeliveryOptions, DeliveryReceipt, DeliveryTarget, ReportContent } from '../../ports.js';
import { type ConnectOptions, connectSftp, type SftpSession } from './connect.js';
import { RemoteFs } from './remote-fs.js';
import { hashRemoteFile } from './remote-hash.js';
import { type UploadOptions, uploadStream } from './upload.js';

/** Crash-test hook: awaited at named points; it may throw or kill the process. */
export type Failpoint = (name: string) => Promise<void> | void;

export const SFTP_FAILPOINTS = [
  'sftp.mid-upload',
  'sftp.after-part-upload',
  'sftp.before-rename',
  'sftp.after-rename',
] as const;

export interface SftpDeliveryOptions {
  failpoint?: Failpoint;
  connect?: ConnectOptions;
  upload?: Pick<UploadOptions, 'writeSize' | 'maxInFlight'>;
}

const RENAME_EXTENSION = 'posix-rename@openssh.com';

export function remotePaths(directory: string, fileName: string): { final: string; part: string } {
  if (fileName === '' || fileName === '.' || fileName === '..' || fileName.includes('/')) {
    throw new EodError('CONFIG_INVALID', `"${fileName}" is not a plain file name`, { fileName });
  }
  const final = `${directory.replace(/\/+$/, '')}/${fileName}`;
  return { final, part: `${final}.part` };
}

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
    const { signal, beforeRename } = options;
    const { final, part } = remotePaths(this.config.directory, fileName);
    return this.withSession(signal, async (remote) => {
      const receipt = (alreadyPresent: boolean): DeliveryReceipt => ({
        remotePath: final,
        bytes: content.bytes,
        sha256: content.sha256,
        alreadyPresent,
      });

      if ((await this.examineFinal(remote, final, content, signal)).kind === 'ours') {
        // Delivered by an earlier attempt that stopped before recording it; a .part can only
        // be ours, and a completed delivery leaves none.
        await remote.unlinkIfExists(part);
        return receipt(true);
      }
      // Refuse before uploading anything, not after.
      this.requireAtomicRename(remote);

      // A leftover of an interrupted attempt. Removing it (rather than truncating) lets the
      // exclusive create below set the mode, so the file is never readable more widely.
      await remote.unlinkIfExists(part);
      await this.uploadPart(remote, part, content, signal);
      await this.failpoint('sftp.after-part-upload');

      signal?.throwIfAborted();
      // The final name may have appeared while we uploaded; never rename over it.
      if ((await this.examineFinal(remote, final, content, signal)).kind === 'ours') {
        await remote.unlinkIfExists(part);
        return receipt(true);
      }
      await this.failpoint('sftp.before-rename');
      // Last word for the caller (e.g. "do we still hold the lock?"), as late as possible.
      await beforeRename?.();
      signal?.throwIfAborted();
      await remote.posixRename(part, final);
      await this.failpoint('sftp.after-rename');

      // From here the file is delivered; a late abort must not turn that into a failure.
      const delivered = await remote.stat(final);
      if (delivered.size !== content.bytes) {
        throw new EodError(
          'CONTENT_MISMATCH',
          `SFTP ${final} on ${remote.endpoint} has ${delivered.size} bytes after the rename, expected ${content.bytes}`,
          { remotePath: final, remoteBytes: delivered.size, expectedBytes: content.bytes },
        );
      }
      return receipt(false);
    });
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
