import { createHash } from 'node:crypto';
import { Transform, Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { terminalProgress, trackContent } from '../../src/app/progress.js';
import { memoryContent } from '../helpers/memory-content.js';

describe('progress', () => {
  it('counts the bytes of each read without changing them', async () => {
    const data = Buffer.alloc(300_000, 7);
    const seen: number[] = [];
    const content = trackContent(memoryContent(data), (bytes) => seen.push(bytes));
    const chunks: Buffer[] = [];
    for await (const chunk of content.open()) chunks.push(chunk as Buffer);
    const copy = Buffer.concat(chunks);
    expect(createHash('sha256').update(copy).digest('hex')).toBe(content.sha256);
    expect(seen.at(-1)).toBe(data.length);
    expect(seen).toEqual([...seen].sort((a, b) => a - b));
  });

  it('keeps what the content says of itself: self-verifying content stays self-verifying, and its failure at the end still fails the read', async () => {
    const plain = memoryContent(Buffer.from('id\n1\n'));
    expect(trackContent(plain, () => undefined).selfVerifying).toBeUndefined();

    const failing: typeof plain = {
      ...plain,
      selfVerifying: true,
      open: () => {
        const stream = plain.open();
        return stream.pipe(
          new Transform({
            transform: (chunk: Buffer, _encoding, done) => done(null, chunk),
            flush: (done) => done(new Error('bytes are not the captured ones')),
          }),
        );
      },
    };
    const tracked = trackContent(failing, () => undefined);
    expect(tracked.selfVerifying).toBe(true);
    const read = async () => {
      for await (const _ of tracked.open()) {
        // drain
      }
    };
    await expect(read()).rejects.toThrow('bytes are not the captured ones');
  });

  it('draws one rewriting line with the share and the rate, and clears it', () => {
    let out = '';
    const stream = new Writable({
      write(chunk, _e, cb) {
        out += chunk.toString();
        cb();
      },
    });
    const { listener, clear } = terminalProgress(stream);
    listener({
      report: 'r',
      date: '2026-01-01',
      step: 'submit',
      bytes: 50 * 1024 * 1024,
      totalBytes: 100 * 1024 * 1024,
    });
    // biome-ignore lint/suspicious/noControlCharactersInRegex: the terminal's erase-line sequence is the point
    expect(out).toMatch(/^\r\x1b\[Kr 2026-01-01 submit: 50\.0 MiB of 100\.0 MiB \(50%\), [\d.]+ MiB\/s$/);
    listener({
      report: 'r',
      date: '2026-01-01',
      step: 'submit',
      bytes: 100 * 1024 * 1024,
      totalBytes: 100 * 1024 * 1024,
    });
    expect(out).toMatch(/\(100%\)/);
    clear();
    expect(out.endsWith('\r\x1b[K')).toBe(true);
  });

  it('a log line erases the progress line first, then the progress line is drawn again below it', () => {
    let out = '';
    const stream = new Writable({
      write(chunk, _e, cb) {
        out += chunk.toString();
        cb();
      },
    });
    const { listener, log } = terminalProgress(stream);
    log.write('{"msg":"before any progress"}\n');
    expect(out).toBe('{"msg":"before any progress"}\n');
    listener({ report: 'r', date: '2026-01-01', step: 'rows', bytes: 1024 * 1024 });
    log.write('{"msg":"rows succeeded"}\n');
    const lines = out.split('\n');
    // Every finished line, as the terminal shows it (what follows the last erase), is the JSON alone.
    for (const line of lines.slice(0, -1)) {
      const visible = line.split('\r\x1b[K').at(-1) as string;
      expect(() => JSON.parse(visible), JSON.stringify(line)).not.toThrow();
    }
    expect(lines.at(-1)).toMatch(/^r 2026-01-01 rows: 1\.0 MiB, /);
  });
});
