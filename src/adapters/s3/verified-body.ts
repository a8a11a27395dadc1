/**
 * The report content as an upload body, checked as it streams (size and SHA-256 as declared) and
 * hashed per multipart part, so the composite checksum S3 reports for a multipart object can be
 * compared with the very bytes whose whole-file SHA-256 we recorded.
 */
import { createHash, type Hash } from 'node:crypto';
import { pipeline, type Readable, Transform } from 'node:stream';
import { coerceError, EodError, isEodError } from '../../core/errors.js';
import type { ReportContent } from '../../ports.js';

export interface VerifiedBody {
  stream: Readable;
  /**
   * S3's composite SHA-256 of the parts read so far (`<base64>-<parts>`), valid once the stream
   * has ended; undefined when no part size was given.
   */
  composite(): string | undefined;
}

/**
 * The last chunk is held back until the source ends cleanly and matches, so a request can never
 * complete with a body that later turns out wrong: the server sees a short body and keeps nothing.
 */
export function openVerified(
  content: ReportContent,
  where: string,
  onError: (error: Error) => void,
  partSize?: number,
): VerifiedBody {
  const whole = createHash('sha256');
  const partDigests: Buffer[] = [];
  let part: Hash | undefined;
  let partBytes = 0;
  let bytes = 0;
  let held: Buffer | undefined;
  const hashParts = (buf: Buffer) => {
    if (partSize === undefined) return;
    let offset = 0;
    while (offset < buf.length) {
      part ??= createHash('sha256');
      const take = Math.min(partSize - partBytes, buf.length - offset);
      part.update(buf.subarray(offset, offset + take));
      partBytes += take;
      offset += take;
      if (partBytes === partSize) {
        partDigests.push(part.digest());
        part = undefined;
        partBytes = 0;
      }
    }
  };
  const verifier = new Transform({
    transform(chunk: Buffer | string, _encoding, done) {
      const buf = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
      whole.update(buf);
      hashParts(buf);
      bytes += buf.length;
      const previous = held;
      held = buf;
      done(null, previous);
    },
    flush(done) {
      const sha256 = whole.digest('hex');
      if (part) {
        partDigests.push(part.digest());
        part = undefined;
      }
      if (bytes !== content.bytes || sha256 !== content.sha256) {
        done(
          new EodError(
            'CONTENT_MISMATCH',
            `report content for ${where} read as ${bytes} bytes, sha256 ${sha256}; expected ${content.bytes} bytes, sha256 ${content.sha256}`,
            { bytes, sha256, expectedBytes: content.bytes, expectedSha256: content.sha256 },
          ),
        );
        return;
      }
      done(null, held);
    },
  });
  pipeline(content.open(), verifier, (error) => {
    if (!error) return;
    onError(
      isEodError(error)
        ? error
        : new EodError(
            'STEP_FAILED',
            `reading the report content for ${where} failed: ${coerceError(error).message}`,
            {},
            { cause: error },
          ),
    );
  });
  return {
    stream: verifier,
    composite: () =>
      partSize === undefined || partDigests.length === 0
        ? undefined
        : `${createHash('sha256').update(Buffer.concat(partDigests)).digest('base64')}-${partDigests.length}`,
  };
}
