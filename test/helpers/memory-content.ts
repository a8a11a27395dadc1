/**
 * An in-memory ReportContent for adapter tests: the real one streams from PostgreSQL, but the
 * adapters only see the port.
 */
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import type { ReportContent } from '../../src/ports.js';

const SLICE = 64 * 1024;

function* slices(buf: Buffer): Generator<Buffer> {
  for (let offset = 0; offset < buf.length; offset += SLICE) yield buf.subarray(offset, offset + SLICE);
}

export function memoryContent(buf: Buffer, rows = 0): ReportContent {
  const sha256 = createHash('sha256').update(buf).digest('hex');
  return {
    rows,
    bytes: buf.length,
    sha256,
    // Slices, not one chunk, so consumers see a stream the way they will in production.
    open: () => Readable.from(slices(buf), { objectMode: false }),
  };
}
