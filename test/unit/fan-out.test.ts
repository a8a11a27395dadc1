import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { FanOut } from '../../src/app/fan-out.js';

const MiB = 1024 * 1024;

function source(chunks: number, size = 64 * 1024): { stream: Readable; produced: () => number } {
  let produced = 0;
  const stream = new Readable({
    read() {
      if (produced === chunks) this.push(null);
      else {
        produced++;
        this.push(Buffer.alloc(size, produced % 251));
      }
    },
  });
  return { stream, produced: () => produced };
}

async function drain(stream: Readable, delayMs = 0): Promise<number> {
  let bytes = 0;
  for await (const chunk of stream) {
    bytes += (chunk as Buffer).length;
    if (delayMs) await sleep(delayMs);
  }
  return bytes;
}

const sink = () =>
  new Writable({
    write(_chunk, _encoding, callback) {
      callback();
    },
  });

describe('FanOut: one rendered stream, several consumers', () => {
  it('gives every branch every byte, and ends branches only on finish()', async () => {
    const fan = new FanOut(2);
    const a = fan.branch();
    const b = fan.branch();
    const src = source(100);
    let ended = false;
    const reads = Promise.all([drain(a), drain(b)]).then((r) => {
      ended = true;
      return r;
    });
    await pipeline(src.stream, fan, sink());
    await sleep(20);
    expect(ended, 'branches wait for finish()').toBe(false);
    fan.finish();
    expect(await reads).toEqual([100 * 64 * 1024, 100 * 64 * 1024]);
  });

  it('the slowest branch paces the source: memory stays within a few buffers', async () => {
    const fan = new FanOut(2);
    const fast = fan.branch();
    const slow = fan.branch();
    const src = source(400); // 25 MiB
    const done = pipeline(src.stream, fan, sink());
    const fastRead = drain(fast);
    const reader = slow[Symbol.asyncIterator]();
    await reader.next();
    await sleep(100);
    // The slow branch read one chunk: the source is held a few MiB ahead at most.
    expect(src.produced() * 64 * 1024).toBeLessThan(6 * MiB);
    await reader.return?.();
    await done;
    fan.finish();
    expect(await fastRead).toBe(400 * 64 * 1024);
  });

  it('a consumer that stops is dropped and does not hold the others back', async () => {
    const fan = new FanOut(2);
    const quitter = fan.branch();
    const keeper = fan.branch();
    quitter.once('data', () => quitter.destroy());
    const kept = drain(keeper);
    await pipeline(source(200).stream, fan, sink());
    fan.finish();
    expect(await kept).toBe(200 * 64 * 1024);
  });

  it('holds the first byte until every expected consumer has a branch or declined', async () => {
    const fan = new FanOut(2);
    const early = fan.branch();
    const src = source(3);
    const done = pipeline(src.stream, fan, sink());
    let firstByte = false;
    fan.once('first-byte', () => {
      firstByte = true;
    });
    await sleep(50);
    expect(firstByte).toBe(true);
    expect(early.readableLength, 'nothing passes before the second consumer is there').toBe(0);
    const late = fan.branch();
    const reads = Promise.all([drain(early), drain(late)]);
    await done;
    fan.finish();
    expect(await reads).toEqual([3 * 64 * 1024, 3 * 64 * 1024]);
    expect(() => fan.branch(), 'too late: the stream has started').toThrow(/started/);
  });

  it('fail() errors every branch', async () => {
    const fan = new FanOut(1);
    const branch = fan.branch();
    fan.fail(new Error('capture failed'));
    await expect(drain(branch)).rejects.toThrow('capture failed');
  });
});
