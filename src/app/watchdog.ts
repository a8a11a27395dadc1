/**
 * The no-progress watchdog of an upload: while a read of the content is open, it must move a byte
 * at least every `limitMs`, or `signal` is aborted with EodError TIMEOUT. For stored content a
 * stalled server (no acks, so backpressure stops the reads) and a stalled source (a read of the
 * capture that stopped) look the same from here, which is the point: either way nothing reaches
 * the other side. Content still being rendered (one pass) is paced by its render and by the other
 * consumers of the render, which are not this upload's fault: there only time during which bytes
 * wait for this upload to take them counts.
 */
import type { Readable } from 'node:stream';
import { EodError } from '../core/errors.js';
import type { ReportContent } from '../ports.js';
import { trackContent, withOpen } from './progress.js';

export interface Watchdog {
  /** The content to hand to the upload; each byte read from it counts as progress. */
  content: ReportContent;
  /** Aborted with EodError TIMEOUT when a read made no progress for `limitMs`. */
  signal: AbortSignal;
  stop(): void;
}

export interface WatchOptions {
  /** Also told about every byte count (progress line, liveness). */
  onBytes?: (bytes: number) => void;
  /**
   * Count idle time only while bytes wait to be read (content fed by a render: a slow query or a
   * slower sibling consumer is not a stalled upload). Default false: any idle read counts.
   */
  onlyWhileBytesWait?: boolean;
}

/**
 * @param limitMs  idle limit in ms (> 0)
 * @param what     for the message, e.g. "SFTP upload of eod_20260101.csv"
 * @param option   the config key that sets the limit, named in the message
 */
export function watchUpload(
  content: ReportContent,
  limitMs: number,
  what: string,
  option: string,
  options: WatchOptions = {},
): Watchdog {
  const controller = new AbortController();
  // The counting stage of each open read: a PassThrough, whose both sides may hold waiting bytes.
  const reads = new Set<Readable & { writableLength?: number }>();
  let lastProgress = performance.now();
  let lastBytes = 0;
  const touch = (bytes: number) => {
    lastProgress = performance.now();
    lastBytes = bytes;
    options.onBytes?.(bytes);
  };
  const timer = setInterval(
    () => {
      if (reads.size === 0 || controller.signal.aborted) return;
      if (
        options.onlyWhileBytesWait &&
        ![...reads].some((read) => read.readableLength > 0 || (read.writableLength ?? 0) > 0)
      ) {
        lastProgress = performance.now();
        return;
      }
      const idle = performance.now() - lastProgress;
      if (idle < limitMs) return;
      const total = totalOf(content);
      controller.abort(
        new EodError(
          'TIMEOUT',
          `${what}: no bytes moved for ${Math.round(idle)} ms after ${lastBytes}${total === undefined ? '' : ` of ${total}`} bytes (${option} = ${limitMs} ms)`,
          { timeoutMs: limitMs, bytes: lastBytes, ...(total === undefined ? {} : { totalBytes: total }) },
        ),
      );
    },
    Math.max(50, Math.min(1000, Math.floor(limitMs / 4))),
  );
  timer.unref();
  // Content being rendered is paced by its slowest consumer, and what a consumer holds lets the
  // render run ahead of the others: add as little as possible to what the upload already holds.
  const tracked = trackContent(content, touch, options.onlyWhileBytesWait ? LIVE_BUFFER_BYTES : undefined);
  return {
    signal: controller.signal,
    content: withOpen(tracked, () => {
      const stream = tracked.open();
      reads.add(stream);
      lastProgress = performance.now();
      stream.once('close', () => {
        reads.delete(stream);
      });
      return stream;
    }),
    stop: () => clearInterval(timer),
  };
}

const LIVE_BUFFER_BYTES = 16 * 1024;

/** The content's size, or undefined while it is still being rendered. */
function totalOf(content: ReportContent): number | undefined {
  try {
    return content.bytes;
  } catch {
    return undefined;
  }
}
