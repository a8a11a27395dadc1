/**
 * CopyDataDeframer: the CopyData payloads of a COPY OUT whatever the socket reads look like, and
 * the bytes that are pg's again handed back whole (issue 11: the render without a per-row copy).
 */
import { describe, expect, it } from 'vitest';
import { CopyDataDeframer } from '../../src/adapters/postgres/copy-out.js';

function message(code: string, payload: Buffer | string = ''): Buffer {
  const body = Buffer.isBuffer(payload) ? payload : Buffer.from(payload);
  const head = Buffer.alloc(5);
  head.write(code, 0, 'latin1');
  head.writeUInt32BE(body.length + 4, 1);
  return Buffer.concat([head, body]);
}

const rows = ['id,amount\n', '1,10.50\n', '', '2,"a ""quoted"" row"\n', 'x'.repeat(300), '3,7\n'];
const tail = Buffer.concat([message('C', 'COPY 6\0'), message('Z', 'I')]);
const stream = Buffer.concat([
  message('H', Buffer.from([0, 0, 1, 0, 0])),
  message('d', rows[0]),
  message('S', 'TimeZone\0UTC\0'),
  message('d', rows[1]),
  message('d', rows[2]),
  message('N', 'SNOTICE\0Mhello\0\0'),
  message('d', rows[3]),
  message('A', Buffer.alloc(12, 1)),
  message('d', rows[4]),
  message('d', rows[5]),
  message('c'),
  tail,
]);
const expected = Buffer.from(rows.join(''));

/** Feeds `bytes` cut at `cuts` (fresh copies, as the socket gives), collecting data and rest. */
function feedCut(bytes: Buffer, cuts: number[]) {
  const deframer = new CopyDataDeframer();
  const data: Buffer[] = [];
  let rest: Buffer | null = null;
  let at = 0;
  for (const end of [...cuts, bytes.length]) {
    const read = Buffer.from(bytes.subarray(at, end));
    at = end;
    if (rest) {
      rest = Buffer.concat([rest, read]);
      continue;
    }
    const out = deframer.feed(read);
    if (out.data) data.push(Buffer.from(out.data));
    if (out.rest) rest = Buffer.from(out.rest);
  }
  return { data: Buffer.concat(data), rest };
}

describe('CopyDataDeframer', () => {
  it('yields exactly the CopyData payloads and hands back what follows CopyDone, in one read', () => {
    const { data, rest } = feedCut(stream, []);
    expect(data.toString()).toBe(expected.toString());
    expect(rest).toEqual(tail);
  });

  it('gives the same bytes wherever the reads are cut (every single cut, and every pair of cuts)', () => {
    for (let i = 1; i < stream.length; i++) {
      const { data, rest } = feedCut(stream, [i]);
      expect(data.equals(expected), `cut at ${i}`).toBe(true);
      expect(rest?.equals(tail), `cut at ${i}`).toBe(true);
    }
    for (let i = 1; i < 60; i++) {
      for (let j = i + 1; j < stream.length; j += 7) {
        const { data, rest } = feedCut(stream, [i, j]);
        expect(data.equals(expected), `cuts at ${i}, ${j}`).toBe(true);
        expect(rest?.equals(tail), `cuts at ${i}, ${j}`).toBe(true);
      }
    }
  });

  it('gives the same bytes read one byte at a time', () => {
    const cuts = Array.from({ length: stream.length - 1 }, (_, i) => i + 1);
    const { data, rest } = feedCut(stream, cuts);
    expect(data.equals(expected)).toBe(true);
    expect(rest?.equals(tail)).toBe(true);
  });

  it('stops at an ErrorResponse and hands it back whole from its code byte, wherever the read is cut', () => {
    const error = Buffer.concat([message('E', 'SERROR\0C22012\0Mdivision by zero\0\0'), message('Z', 'I')]);
    const failing = Buffer.concat([
      message('H', Buffer.alloc(5)),
      message('d', '1,a\n'),
      message('d', '2,b\n'),
      error,
    ]);
    for (let i = 1; i < failing.length; i++) {
      const { data, rest } = feedCut(failing, [i]);
      expect(data.toString(), `cut at ${i}`).toBe('1,a\n2,b\n');
      expect(rest?.equals(error), `cut at ${i}`).toBe(true);
    }
  });

  it('hands back an error that comes before any COPY message (a query that fails to start)', () => {
    const error = Buffer.concat([
      message('E', 'SERROR\0C42P01\0Mrelation does not exist\0\0'),
      message('Z', 'I'),
    ]);
    const { data, rest } = feedCut(error, []);
    expect(data.length).toBe(0);
    expect(rest?.equals(error)).toBe(true);
  });

  it('moves payloads within the buffer it was given (no copy per row) and returns a view of it', () => {
    const read = Buffer.from(stream);
    const out = new CopyDataDeframer().feed(read);
    expect(out.data?.buffer).toBe(read.buffer);
    expect(out.data?.byteOffset).toBe(read.byteOffset);
  });

  it('rejects a message length below 4 as not the PostgreSQL protocol', () => {
    const bad = Buffer.from([0x64, 0, 0, 0, 2]);
    expect(() => new CopyDataDeframer().feed(bad)).toThrow(/message 'd' has length 2/);
  });
});
