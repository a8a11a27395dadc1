/**
 * The no-progress watchdog of an upload: while a read of the content is open, it must move a byte
 * at least every `limitMs`, or `signal` is aborted with EodError TIMEOUT. A stalled server (no
 * acks, so backpressure stops the reads) and a stalled source (a render that stopped) look the
 * same from here, which is the point: either way nothing reaches the other side.
 */
import { EodError } from '../core/errors.js';
import type { ReportContent } from '../ports.js';
import { trackContent } from './progress.js';

export interface Watchdog {
  /** The content to hand to the upload; each byte read from it counts as progress. */
  content: ReportContent;
  /** Aborted with EodError TIMEOUT when a read made no progress for `limitMs`. */
  signal: AbortSignal;
  stop(): void;
}

/**
 * @param limitMs  idle limit in ms (> 0)
 * @param what     for the message, e.g. "SFTP upload of eod_20260101.csv"
 * @param option   the config key that sets the limit, named in the message
 * @param onBytes  also told about every byte count (progress line, liveness)
 */
export function watchUpload(
  content: ReportContent,
  limitMs: number,
  what: string,
  option: string,
  onBytes?: (bytes: number) => void,
): Watchdog {
  const controller = new AbortController();
  let open = 0;
  let lastProgress = performance.now();
  let lastBytes = 0;
  const touch = (bytes: number) => {
    lastProgress = performance.now();
    lastBytes = bytes;
    onBytes?.(bytes);
  };
  const timer = setInterval(
    () => {
      if (open === 0 || controller.signal.aborted) return;
      const idle = performance.now() - lastProgress;
      if (idle < limitMs) return;
      controller.abort(
        new EodError(
          'TIMEOUT',
          `${what}: no bytes moved for ${Math.round(idle)} ms after ${lastBytes} of ${content.bytes} bytes (${option} = ${limitMs} ms)`,
          { timeoutMs: limitMs, bytes: lastBytes, totalBytes: content.bytes },
        ),
      );
    },
    Math.max(50, Math.min(1000, Math.floor(limitMs / 4))),
  );
  timer.unref();
  const tracked = trackContent(content, touch);
  return {
    signal: controller.signal,
    content: {
      ...tracked,
      open: () => {
        const stream = tracked.open();
        open++;
        lastProgress = performance.now();
        stream.once('close', () => {
          open--;
        });
        return stream;
      },
    },
    stop: () => clearInterval(timer),
  };
}
