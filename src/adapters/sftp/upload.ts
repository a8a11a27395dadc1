/**
 * Streams a Readable into an open remote file: coalesced into large writes, a few in flight,
 * hashing as it goes. Memory is bounded by `writeSize × maxInFlight`, whatever the file size.
 */
import { createHash } from 'node:crypto';
import { addAbortSignal, type Readable } from 'node:stream';
import type { RemoteFs } from './remote-fs.js';

export interface UploadOptions {
  /** Bytes per SFTP write call. Small writes are dominated by round trips; 1 MiB is not. */
  writeSize?: number;
  /** Writes awaiting the server's ack at once; more hides latency, costs memory. */
  maxInFlight?: number;
  signal?: AbortSignal;
  /** Awaited once, after the first write is acknowledged (the crash tests' "mid-upload"). */
  afterFirstWrite?: () => Promise<void> | void;
  /** Hash what is written (default true); false when the source checks its own bytes. */
  hash?: boolean;
  /**
   * Sent, without waiting, each time another `flushEvery` bytes have been sent (fsync@openssh.com):
   * the server writes the file to its disk while the upload goes on, and the caller's final fsync
   * has only the last stretch left (for 320 MB on this machine: 0.1 s less before the rename).
   * A failure fails the upload like a failed write. Never a substitute for the final fsync.
   */
  flush?: () => Promise<unknown>;
  /** Bytes between two `flush` calls (default 64 MiB). */
  flushEvery?: number;
}

export interface UploadResult {
  bytes: number;
  /** Lower-case hex SHA-256 of the bytes written; null when `hash: false`. */
  sha256: string | null;
}

export const DEFAULT_WRITE_SIZE = 1024 * 1024;
const DEFAULT_FLUSH_EVERY = 64 * 1024 * 1024;

export async function uploadStream(
  remote: RemoteFs,
  handle: Buffer,
  path: string,
  source: Readable,
  options: UploadOptions = {},
): Promise<UploadResult> {
  const writeSize = options.writeSize ?? DEFAULT_WRITE_SIZE;
  const maxInFlight = options.maxInFlight ?? 4;
  const { signal } = options;
  // Abort destroys the source, which ends the `for await` below even while it waits for data.
  if (signal) addAbortSignal(signal, source);

  const hash = options.hash === false ? null : createHash('sha256');
  const inFlight = new Set<Promise<void>>();
  let failure: { error: unknown } | undefined;
  let queued = 0;
  let writes = 0;
  const flushEvery = options.flushEvery ?? DEFAULT_FLUSH_EVERY;
  let flushAt = flushEvery;

  const track = (request: Promise<unknown>) => {
    const settled = request.then(
      () => undefined,
      (error: unknown) => {
        failure ??= { error };
      },
    );
    inFlight.add(settled);
    void settled.finally(() => inFlight.delete(settled));
    return settled;
  };

  const send = async (data: Buffer) => {
    const write = track(remote.write(handle, data, queued, path));
    queued += data.length;
    writes += 1;
    if (options.flush && queued >= flushAt) {
      flushAt = queued + flushEvery;
      track(options.flush());
    }
    if (writes === 1 && options.afterFirstWrite) {
      await write;
      if (failure === undefined) await options.afterFirstWrite();
    }
    if (inFlight.size >= maxInFlight) await Promise.race(inFlight);
    if (failure) throw failure.error;
  };

  // ssh2 copies a write of at most its maximum write length into its request packet before
  // `write` returns, so one buffer serves every write; a longer one it keeps reading while it
  // sends the rest, so that one must be fresh each time. (Reuse keeps 320 MB of buffers from
  // passing through the allocator per 320 MB report: flat memory, issue 11.)
  const reuse = writeSize <= remote.maxWriteLength();
  let buffer = Buffer.allocUnsafe(writeSize);
  let filled = 0;
  try {
    for await (const piece of source) {
      const chunk: Buffer = Buffer.isBuffer(piece) ? piece : Buffer.from(piece as string);
      hash?.update(chunk);
      let used = 0;
      while (used < chunk.length) {
        const n = chunk.copy(buffer, filled, used);
        used += n;
        filled += n;
        if (filled === writeSize) {
          await send(buffer);
          if (!reuse) buffer = Buffer.allocUnsafe(writeSize);
          filled = 0;
        }
      }
    }
    if (filled > 0) await send(buffer.subarray(0, filled));
    await Promise.all(inFlight);
    if (failure) throw failure.error;
    signal?.throwIfAborted();
  } catch (error) {
    source.destroy();
    // Let outstanding writes finish before the caller closes the handle.
    await Promise.allSettled(inFlight);
    throw signal?.aborted ? (signal.reason ?? error) : error;
  }
  return { bytes: queued, sha256: hash ? hash.digest('hex') : null };
}
