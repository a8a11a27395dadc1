/**
 * The upload's no-progress watchdog on the two kinds of content: stored (any idle read counts) and
 * still being rendered (one pass: only bytes waiting for the upload count, a slow render or a
 * slower sibling consumer is not the upload's fault).
 */
import { PassThrough, type Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { watchUpload } from '../../src/app/watchdog.js';
import { EodError } from '../../src/core/errors.js';
import type { ReportContent } from '../../src/ports.js';
import { memoryContent } from '../helpers/memory-content.js';

const LIMIT_MS = 200;

/** Content whose size and hash are unknown until `settle` (like LiveContent), fed by hand. */
function fedContent(): { content: ReportContent; feed: PassThrough; settle(bytes: number): void } {
  const feed = new PassThrough();
  let size: number | undefined;
  const known = () => {
    if (size === undefined) throw new Error('not rendered yet');
    return size;
  };
  return {
    feed,
    settle: (bytes) => {
      size = bytes;
    },
    content: {
      get rows() {
        return known();
      },
      get bytes() {
        return known();
      },
      get sha256() {
        known();
        return 'unknown';
      },
      open: (): Readable => feed,
    },
  };
}

describe('upload watchdog', () => {
  it('the watched content says of itself what the content says (self-verifying or not)', () => {
    for (const selfVerifying of [true, undefined]) {
      const content = memoryContent(Buffer.from('id\n1\n'));
      const watch = watchUpload(
        { ...content, ...(selfVerifying ? { selfVerifying } : {}) },
        LIMIT_MS,
        'SFTP upload',
        'reports[].sftp.noProgressTimeout',
      );
      try {
        expect(watch.content.selfVerifying).toBe(selfVerifying);
      } finally {
        watch.stop();
      }
    }
  });

  it('content being rendered: a render idle for several limits while the upload waits for it is not a stall', async () => {
    const { content, feed, settle } = fedContent();
    const watch = watchUpload(content, LIMIT_MS, 'SFTP upload', 'reports[].sftp.noProgressTimeout', {
      onlyWhileBytesWait: true,
    });
    try {
      const reading = (async () => {
        let bytes = 0;
        for await (const chunk of watch.content.open()) bytes += (chunk as Buffer).length;
        return bytes;
      })();
      feed.write(Buffer.alloc(1000));
      await sleep(LIMIT_MS * 4);
      expect(watch.signal.aborted).toBe(false);
      feed.end(Buffer.alloc(500));
      expect(await reading).toBe(1500);
      settle(1500);
      expect(watch.content.bytes, 'the size is read through once known').toBe(1500);
      expect(watch.signal.aborted).toBe(false);
    } finally {
      watch.stop();
    }
  });

  it('content being rendered: bytes waiting that the upload does not take abort it with TIMEOUT naming the option', async () => {
    const { content, feed } = fedContent();
    const watch = watchUpload(content, LIMIT_MS, 'SFTP upload', 'reports[].sftp.noProgressTimeout', {
      onlyWhileBytesWait: true,
    });
    try {
      const stream = watch.content.open();
      expect(() => watch.content.bytes, 'the size is not asked of the content before its end').toThrow(
        'not rendered yet',
      );
      // The consumer takes one chunk, then stops (a server that no longer acknowledges writes).
      const first = stream[Symbol.asyncIterator]().next();
      feed.write(Buffer.alloc(1000));
      await first;
      feed.write(Buffer.alloc(1000));
      await sleep(LIMIT_MS * 4);
      expect(watch.signal.aborted).toBe(true);
      const reason = watch.signal.reason as EodError;
      expect(reason).toBeInstanceOf(EodError);
      expect(reason.code).toBe('TIMEOUT');
      expect(reason.message).toMatch(
        /^SFTP upload: no bytes moved for \d+ ms after 1000 bytes \(reports\[\]\.sftp\.noProgressTimeout = 200 ms\)$/,
      );
      stream.destroy();
    } finally {
      watch.stop();
    }
  });

  it('stored content: a read that stops (source or server) aborts, whatever the cause', async () => {
    const feed = new PassThrough();
    const stored: ReportContent = { rows: 1, bytes: 2000, sha256: 'x', open: () => feed };
    const watch = watchUpload(stored, LIMIT_MS, 'SFTP upload', 'reports[].sftp.noProgressTimeout');
    try {
      const stream = watch.content.open();
      stream.resume();
      feed.write(Buffer.alloc(1000));
      await sleep(LIMIT_MS * 4);
      expect(watch.signal.aborted).toBe(true);
      expect((watch.signal.reason as Error).message).toMatch(/after 1000 of 2000 bytes/);
      stream.destroy();
    } finally {
      watch.stop();
    }
  });
});
