/**
 * ChunkTuples frames the rendered CSV as binary COPY tuples (process_id, chunk_no, data) for the
 * capture. Each buffer it passes on becomes its own CopyData message and socket write in
 * pg-copy-streams, so it must pass on few large batches, never one buffer per field (issue 11).
 */
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { describe, expect, it } from 'vitest';
import { CHUNK_BYTES, ChunkTuples } from '../../src/adapters/postgres/sql/captured-content.js';

/** Parses a binary COPY stream of (int8, int4, bytea) tuples (PostgreSQL docs, "Binary Format"). */
function parseCopy(stream: Buffer): { processId: bigint; chunkNo: number; data: Buffer }[] {
  expect(stream.subarray(0, 11).toString('latin1')).toBe('PGCOPY\n\xff\r\n\0');
  let at = 19;
  const tuples = [];
  for (;;) {
    const fields = stream.readInt16BE(at);
    at += 2;
    if (fields === -1) break;
    expect(fields).toBe(3);
    expect(stream.readInt32BE(at)).toBe(8);
    const processId = stream.readBigInt64BE(at + 4);
    expect(stream.readInt32BE(at + 12)).toBe(4);
    const chunkNo = stream.readInt32BE(at + 16);
    const length = stream.readInt32BE(at + 20);
    at += 24;
    tuples.push({ processId, chunkNo, data: stream.subarray(at, at + length) });
    at += length;
  }
  expect(at).toBe(stream.length);
  return tuples;
}

async function frame(pieces: Buffer[], chunkBytes?: number) {
  const out: Buffer[] = [];
  await pipeline(
    Readable.from(pieces),
    new ChunkTuples('42', chunkBytes),
    new Writable({
      write(chunk: Buffer, _e, done) {
        out.push(Buffer.from(chunk));
        done();
      },
    }),
  );
  return out;
}

describe('ChunkTuples', () => {
  it('frames irregular input pieces into numbered chunks of chunkBytes that concatenate to the input', async () => {
    const input = Buffer.from(Array.from({ length: 1000 }, (_, i) => `row ${i},"x, y"\n`).join(''));
    const pieces: Buffer[] = [];
    for (let at = 0, size = 1; at < input.length; at += size, size = (size * 7 + 3) % 97) {
      pieces.push(input.subarray(at, at + size));
    }

    const tuples = parseCopy(Buffer.concat(await frame(pieces, 100)));

    expect(tuples.map((t) => t.chunkNo)).toEqual(tuples.map((_, i) => i));
    expect(tuples.every((t) => t.processId === 42n)).toBe(true);
    expect(tuples.slice(0, -1).every((t) => t.data.length === 100)).toBe(true);
    expect(Buffer.concat(tuples.map((t) => t.data)).equals(input)).toBe(true);
  });

  it('an empty report is a valid COPY stream with no tuple', async () => {
    expect(parseCopy(Buffer.concat(await frame([])))).toEqual([]);
  });

  it('passes 20 MB on in batches of at least 256 KiB, not a buffer per tuple field', async () => {
    const input = Buffer.alloc(20_000_000, 'a');
    const pieces = Array.from({ length: input.length / 65_536 + 1 }, (_, i) =>
      input.subarray(i * 65_536, (i + 1) * 65_536),
    );

    const out = await frame(pieces);

    const tuples = parseCopy(Buffer.concat(out));
    expect(tuples).toHaveLength(Math.ceil(input.length / CHUNK_BYTES));
    expect(Buffer.concat(tuples.map((t) => t.data)).equals(input)).toBe(true);
    // 2,500 tuples; before batching they went out as ~7,500 buffers (a socket write each, twice).
    expect(out.length).toBeLessThanOrEqual(Math.ceil(input.length / (256 * 1024)) + 1);
  });
});
