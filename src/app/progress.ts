import { PassThrough, type Readable } from 'node:stream';
import type { Step } from '../core/events.js';
import type { ReportContent } from '../ports.js';

export interface Progress {
  report: string;
  date: string;
  step: Step;
  bytes: number;
  totalBytes?: number;
}

export type ProgressListener = (progress: Progress) => void;

/**
 * The same content, reporting how many bytes each read of it has passed on so far.
 * `bufferBytes`: what the counting stage may hold (its high-water mark), default 1 MiB.
 */
export function trackContent(
  content: ReportContent,
  onBytes: (bytes: number) => void,
  bufferBytes = 1024 * 1024,
): ReportContent {
  return withOpen(content, () => {
    const source = content.open();
    let seen = 0;
    const counted = new PassThrough({ highWaterMark: bufferBytes });
    counted.on('data', (chunk: Buffer) => {
      seen += chunk.length;
      onBytes(seen);
    });
    source.on('error', (error) => counted.destroy(error));
    counted.on('close', () => {
      if (!source.destroyed) source.destroy();
    });
    return source.pipe(counted);
  });
}

/**
 * `content` read through `open` instead: every fact of it (size, hash, rows, whether it verifies
 * itself) read from `content` when asked, since content still being rendered knows them only at
 * its end (live-content.ts). `open` must pass the source's end-of-stream verdict on (its error
 * fails the returned stream), so the wrapper verifies itself exactly when its source does.
 */
export function withOpen(content: ReportContent, open: () => Readable): ReportContent {
  return {
    get rows() {
      return content.rows;
    },
    get bytes() {
      return content.bytes;
    },
    get sha256() {
      return content.sha256;
    },
    get selfVerifying() {
      return content.selfVerifying;
    },
    open,
  };
}

/** Carriage return, then erase to the end of the line (ANSI EL). */
const ERASE_LINE = '\r\x1b[K';

/**
 * One self-rewriting line on a terminal: step, bytes, share of the total and rate, at most four
 * times a second. Used by `run` when stderr is a TTY. Log lines share that terminal: write them
 * through `log`, which erases the progress line first (a JSON line glued after a half-drawn
 * progress line is unreadable and unparsable), writes the log line, then draws the progress line
 * again below it.
 */
export function terminalProgress(stream: NodeJS.WritableStream): {
  listener: ProgressListener;
  /** A pino destination: each write is one whole log line ending in a newline. */
  log: { write(line: string): void };
  clear(): void;
} {
  let last = Number.NEGATIVE_INFINITY; // the first update always shows, however young the process
  let started = { key: '', at: 0 };
  let shown = '';
  const mib = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
  return {
    listener: (p) => {
      const key = `${p.report}/${p.date}/${p.step}`;
      const now = performance.now();
      if (started.key !== key) started = { key, at: now };
      const done = p.totalBytes !== undefined && p.bytes >= p.totalBytes;
      if (now - last < 250 && !done) return;
      last = now;
      const seconds = Math.max(0.001, (now - started.at) / 1000);
      const share = p.totalBytes
        ? ` of ${mib(p.totalBytes)} (${Math.floor((100 * p.bytes) / p.totalBytes)}%)`
        : '';
      shown = `${p.report} ${p.date} ${p.step}: ${mib(p.bytes)}${share}, ${(p.bytes / 1024 / 1024 / seconds).toFixed(1)} MiB/s`;
      stream.write(`${ERASE_LINE}${shown}`);
    },
    log: {
      write: (line) => {
        if (!shown) {
          stream.write(line);
          return;
        }
        const newline = line.endsWith('\n') ? '' : '\n';
        stream.write(`${ERASE_LINE}${line}${newline}${shown}`);
      },
    },
    clear: () => {
      if (shown) stream.write(ERASE_LINE);
      shown = '';
    },
  };
}
