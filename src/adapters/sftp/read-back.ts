/**
 * Reads a submitted file back at the regulator for `verify` (PRODUCT.md §1, audit), over one
 * session with the host key pinned. Inboxes collect files and some forbid reading: those are
 * readings of their own (`absent`, `unreadable`), not errors.
 */
import type { SftpConfig } from '../../config/schema.js';
import { coerceError } from '../../core/errors.js';
import type { CopyReading } from '../../core/verify.js';
import type { RegulatorReader } from '../../ports.js';
import { connectSftp, type SftpSession } from './connect.js';
import { RemoteFs } from './remote-fs.js';
import { hashRemoteFile } from './remote-hash.js';

const PERMISSION_DENIED = 3;

export class SftpReadBack implements RegulatorReader {
  #session: Promise<SftpSession> | undefined;

  constructor(private readonly config: SftpConfig) {}

  async read(
    remotePath: string,
    expectedBytes: number,
    how: 'readback' | 'stat',
    signal?: AbortSignal,
  ): Promise<CopyReading> {
    let remote: RemoteFs;
    try {
      this.#session ??= connectSftp(this.config, { signal });
      const session = await this.#session;
      remote = new RemoteFs(session.sftp, session.endpoint);
    } catch (error) {
      // Kept: one refused connection answers for every day of the range.
      return { kind: 'error', reason: coerceError(error).message };
    }
    try {
      const stats = await remote.statIfExists(remotePath);
      if (stats === undefined)
        return { kind: 'absent', reason: 'file absent: collected or moved by the regulator' };
      if (!stats.isFile()) return { kind: 'unreadable', reason: 'not a regular file' };
      if (how === 'stat') return { kind: 'size', bytes: stats.size, reason: 'sftp.verify: stat, size only' };
      const digest = await hashRemoteFile(remote, remotePath, expectedBytes, signal);
      return { kind: 'read', ...digest };
    } catch (error) {
      if (signal?.aborted) throw signal.reason;
      const cause = (error as { cause?: { code?: unknown } }).cause;
      if (cause?.code === PERMISSION_DENIED) {
        return { kind: 'unreadable', reason: 'the server denies reading it (upload-only inbox)' };
      }
      return { kind: 'error', reason: coerceError(error).message };
    }
  }

  async close(): Promise<void> {
    const session = await this.#session?.catch(() => undefined);
    this.#session = undefined;
    await session?.end();
  }
}
