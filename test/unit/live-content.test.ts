/**
 * LiveContent is self-verifying (ports.ts ReportContent.selfVerifying): consumers of the one-pass
 * render count bytes instead of hashing them again, so the branch itself must fail when it did not
 * carry exactly the captured bytes.
 */
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { describe, expect, it } from 'vitest';
import { FanOut } from '../../src/app/fan-out.js';
import { LiveContent } from '../../src/app/live-content.js';

function collect(into: Buffer[]) {
  return new Writable({
    write(chunk: Buffer, _e, done) {
      into.push(chunk);
      done();
    },
  });
}

async function render(fan: FanOut, pieces: Buffer[]) {
  await pipeline(Readable.from(pieces), fan, new Writable({ write: (_c, _e, done) => done() }));
}

describe('LiveContent', () => {
  it('says it verifies itself, and its branch ends normally with exactly the captured bytes', async () => {
    const fan = new FanOut(1, 1000);
    const live = new LiveContent(fan);
    const got: Buffer[] = [];
    const reading = pipeline(live.open(), collect(got));
    await render(fan, [Buffer.from('id\n'), Buffer.from('1\n')]);
    live.settle({ rows: 1, bytes: 5, sha256: 'x' });
    fan.finish();

    await reading;
    expect(live.selfVerifying).toBe(true);
    expect(Buffer.concat(got).toString()).toBe('id\n1\n');
  });

  it('fails its branch at the end when it carried another number of bytes than the capture holds', async () => {
    const fan = new FanOut(1, 1000);
    const live = new LiveContent(fan);
    const reading = pipeline(live.open(), collect([]));
    await render(fan, [Buffer.from('id\n'), Buffer.from('1\n')]);
    live.settle({ rows: 1, bytes: 6, sha256: 'x' });
    fan.finish();

    await expect(reading).rejects.toThrow('carried 5 bytes; the capture holds 6');
  });

  it('a consumer that stops reading releases the render (its branch is dropped)', async () => {
    const fan = new FanOut(1, 1000);
    const live = new LiveContent(fan);
    const stream = live.open();
    stream.destroy();
    await render(
      fan,
      Array.from({ length: 64 }, () => Buffer.alloc(64 * 1024)),
    );
    expect(stream.destroyed).toBe(true);
  });
});
