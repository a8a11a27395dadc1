/**
 * The SFTP operations the delivery needs, as promises whose errors name the operation, the
 * remote path, the server and the SFTP status ("No such file", "Permission denied", …).
 */
import type { Socket } from 'node:net';
import type { SFTPWrapper, Stats } from 'ssh2';
import { EodError } from '../../core/errors.js';

/** SFTP v3 status codes (draft-ietf-secsh-filexfer-02 §7). */
const STATUS_NAMES: Readonly<Record<number, string>> = {
  1: 'SSH_FX_EOF',
  2: 'SSH_FX_NO_SUCH_FILE',
  3: 'SSH_FX_PERMISSION_DENIED',
  4: 'SSH_FX_FAILURE',
  5: 'SSH_FX_BAD_MESSAGE',
  6: 'SSH_FX_NO_CONNECTION',
  7: 'SSH_FX_CONNECTION_LOST',
  8: 'SSH_FX_OP_UNSUPPORTED',
};
const NO_SUCH_FILE = 2;
const PERMISSION_DENIED = 3;
const OP_UNSUPPORTED = 8;

type SftpStatusError = Error & { code?: unknown };

/** The SFTP status code of a failed request (ours wrap ssh2's error as `cause`), if any. */
export function sftpStatusOf(error: unknown): number | undefined {
  let cause = error;
  for (let depth = 0; cause instanceof EodError && depth < 5; depth++) cause = cause.cause;
  const code = (cause as SftpStatusError | undefined)?.code;
  return typeof code === 'number' ? code : undefined;
}

function statusOf(error: unknown): number | undefined {
  const code = (error as SftpStatusError | undefined)?.code;
  return typeof code === 'number' ? code : undefined;
}

export function isNoSuchFile(error: unknown): boolean {
  return sftpStatusOf(error) === NO_SUCH_FILE;
}

/** The server said no for good: permission denied or operation unsupported (not a passing fault). */
export function isRefusal(error: unknown): boolean {
  const status = sftpStatusOf(error);
  return status === PERMISSION_DENIED || status === OP_UNSUPPORTED;
}

export function isUnsupported(error: unknown): boolean {
  return sftpStatusOf(error) === OP_UNSUPPORTED;
}

/** ssh2's conservative write length for servers that do not announce limits@openssh.com. */
const SSH2_DEFAULT_WRITE_LENGTH = 34000 - 2 * 1024;

export class RemoteFs {
  /** The channel ended (the session was dropped): ssh2 would queue a request and never answer it. */
  private ended = false;

  constructor(
    readonly sftp: SFTPWrapper,
    /** `user@host:port`, for messages. */
    readonly endpoint: string,
    /** Each request fails with EodError TIMEOUT when unanswered this long (0: never). */
    readonly requestTimeoutMs = 0,
    /** The session's TCP socket: when given, the packets of one write leave in one syscall. */
    private readonly socket?: Socket,
  ) {
    const end = () => {
      this.ended = true;
    };
    sftp.once('end', end);
    sftp.once('close', end);
  }

  fail(operation: string, path: string, error: unknown): EodError {
    const status = statusOf(error);
    const statusName = status === undefined ? undefined : (STATUS_NAMES[status] ?? `status ${status}`);
    const reason = error instanceof Error ? error.message : String(error);
    return new EodError(
      'STEP_FAILED',
      `SFTP ${operation} ${path} on ${this.endpoint} failed: ${reason}${statusName ? ` (${statusName})` : ''}`,
      { endpoint: this.endpoint, operation, path, sftpStatus: status, sftpStatusName: statusName },
      { cause: error },
    );
  }

  private call<T>(
    operation: string,
    path: string,
    run: (done: (error?: Error | null, value?: T) => void) => void,
  ) {
    return new Promise<T>((resolve, reject) => {
      if (this.ended) {
        reject(this.fail(operation, path, new Error('the SFTP session has ended')));
        return;
      }
      // A server that stops answering (TCP and SSH keep-alives fine, SFTP silent) would otherwise
      // hold the step forever; the caller ends the session, which drops the pending request.
      const timer =
        this.requestTimeoutMs > 0
          ? setTimeout(() => {
              reject(
                new EodError(
                  'TIMEOUT',
                  `SFTP ${operation} ${path} on ${this.endpoint}: no answer within ${this.requestTimeoutMs} ms (reports[].sftp.requestTimeout)`,
                  { endpoint: this.endpoint, operation, path, timeoutMs: this.requestTimeoutMs },
                ),
              );
            }, this.requestTimeoutMs)
          : undefined;
      const done = (error?: Error | null, value?: T) => {
        clearTimeout(timer);
        if (error) reject(this.fail(operation, path, error));
        else resolve(value as T);
      };
      try {
        run(done);
      } catch (error) {
        clearTimeout(timer);
        // ssh2 throws synchronously for an unsupported extension or a closed channel.
        reject(this.fail(operation, path, error));
      }
    });
  }

  stat(path: string): Promise<Stats> {
    return this.call('stat', path, (done) => this.sftp.stat(path, done));
  }

  /** stat, with "does not exist" as undefined instead of an error. */
  async statIfExists(path: string): Promise<Stats | undefined> {
    try {
      return await this.stat(path);
    } catch (error) {
      if (isNoSuchFile(error)) return undefined;
      throw error;
    }
  }

  /** The names in a directory (without `.` and `..`). */
  list(path: string): Promise<string[]> {
    return this.call<string[]>('readdir', path, (done) =>
      this.sftp.readdir(path, (error, entries) =>
        done(
          error,
          (entries ?? []).map((e) => e.filename).filter((n) => n !== '.' && n !== '..'),
        ),
      ),
    );
  }

  /** Creates `path` exclusively with `mode` set at creation, so it is never briefly 0666. */
  createExclusive(path: string, mode: number | null): Promise<Buffer> {
    return this.call('create', path, (done) =>
      mode === null ? this.sftp.open(path, 'wx', done) : this.sftp.open(path, 'wx', { mode }, done),
    );
  }

  /** Creates or truncates `path` (no O_EXCL): only for names nobody else writes. */
  createOrTruncate(path: string, mode: number | null): Promise<Buffer> {
    return this.call('create', path, (done) =>
      mode === null ? this.sftp.open(path, 'w', done) : this.sftp.open(path, 'w', { mode }, done),
    );
  }

  /** SETSTAT of the mode by path (for servers without FSETSTAT). */
  chmod(path: string, mode: number): Promise<void> {
    return this.call('chmod', path, (done) => this.sftp.chmod(path, mode, done));
  }

  /** Plain SFTP v3 RENAME; most servers refuse an existing target, some replace it. */
  rename(from: string, to: string): Promise<void> {
    return this.call('rename', `${from} -> ${to}`, (done) => this.sftp.rename(from, to, done));
  }

  /** Extensions the server announced, by name. */
  extensions(): string[] {
    const extensions = (this.sftp as unknown as { _extensions?: Record<string, string> })._extensions;
    return Object.keys(extensions ?? {});
  }

  /**
   * Bytes ssh2 sends in one SFTP WRITE request to this server: the server's limits@openssh.com
   * answer, else ssh2's conservative default (about 32 KiB). A longer write is split by ssh2
   * into requests sent one after another, each waiting for the previous answer.
   */
  /** Makes ssh2 send writes of up to `length` bytes in one request (see maxWriteLength). */
  setWriteLength(length: number): void {
    (this.sftp as unknown as { _maxWriteLen?: number })._maxWriteLen = length;
  }

  maxWriteLength(): number {
    const length = (this.sftp as unknown as { _maxWriteLen?: number })._maxWriteLen;
    return typeof length === 'number' && length > 0 ? length : SSH2_DEFAULT_WRITE_LENGTH;
  }

  openForReading(path: string): Promise<Buffer> {
    return this.call('open', path, (done) => this.sftp.open(path, 'r', done));
  }

  /** Exact mode, whatever the server's umask did to the mode given at creation. */
  fchmod(handle: Buffer, mode: number, path: string): Promise<void> {
    return this.call('chmod', path, (done) => this.sftp.fchmod(handle, mode, done));
  }

  fstat(handle: Buffer, path: string): Promise<Stats> {
    return this.call('fstat', path, (done) => this.sftp.fstat(handle, done));
  }

  /**
   * Writes `data` at `position` (bytes). When `data.length <= maxWriteLength()`, ssh2 has copied
   * it into its request before this returns (ssh2 SFTP.write), so the caller may reuse `data`.
   */
  write(handle: Buffer, data: Buffer, position: number, path: string): Promise<void> {
    // ssh2 cuts a write into SSH packets of the channel's maximum (32 KiB with OpenSSH) and hands
    // each to the socket in three writes (length, ciphertext, AES-GCM tag); with Nagle off (see
    // connectSftp) a 255 KiB write was 24 syscalls and as many TCP segments, 4- and 16-byte ones
    // among them, each waking the server. Corked until the next tick, they leave in one writev.
    const socket = this.socket;
    if (socket && socket.writableCorked === 0 && !socket.destroyed) {
      socket.cork();
      process.nextTick(() => socket.uncork());
    }
    return this.call('write', path, (done) => this.sftp.write(handle, data, 0, data.length, position, done));
  }

  /** Bytes read at `position` into `buffer[offset…]`; 0 at end of file. */
  read(handle: Buffer, buffer: Buffer, offset: number, length: number, position: number, path: string) {
    return this.call<number>('read', path, (done) =>
      this.sftp.read(handle, buffer, offset, length, position, (error, bytesRead) => done(error, bytesRead)),
    );
  }

  close(handle: Buffer, path: string): Promise<void> {
    return this.call('close', path, (done) => this.sftp.close(handle, done));
  }

  async closeQuietly(handle: Buffer, path: string): Promise<void> {
    await this.close(handle, path).catch(() => {});
  }

  unlink(path: string): Promise<void> {
    return this.call('remove', path, (done) => this.sftp.unlink(path, done));
  }

  async unlinkIfExists(path: string): Promise<boolean> {
    try {
      await this.unlink(path);
      return true;
    } catch (error) {
      if (isNoSuchFile(error)) return false;
      throw error;
    }
  }

  /** Whether the server announced an extension (ssh2 keeps the list in a private field). */
  supports(extension: string): boolean | undefined {
    const extensions = (this.sftp as unknown as { _extensions?: Record<string, string> })._extensions;
    return extensions === undefined ? undefined : extensions[extension] !== undefined;
  }

  /** Flushes the file to the server's disk when the server offers fsync@openssh.com. */
  async fsyncIfSupported(handle: Buffer, path: string): Promise<boolean> {
    if (this.supports('fsync@openssh.com') !== true) return false;
    await this.call('fsync', path, (done) => this.sftp.ext_openssh_fsync(handle, (error) => done(error)));
    return true;
  }

  /** rename(2) semantics: atomic, replaces the target. Throws when the server lacks it. */
  posixRename(from: string, to: string): Promise<void> {
    return this.call('posix-rename', `${from} -> ${to}`, (done) =>
      this.sftp.ext_openssh_rename(from, to, done),
    );
  }
}
