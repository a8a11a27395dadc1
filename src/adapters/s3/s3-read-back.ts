/**
 * Reads an archived object back for `verify` (PRODUCT.md §1, audit): a streamed GET, hashed as
 * it arrives, so the proof is about the bytes S3 serves now, not about metadata it keeps.
 */
import { createHash } from 'node:crypto';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { S3Client } from '@aws-sdk/client-s3';
import type { S3Config } from '../../config/schema.js';
import type { CopyReading } from '../../core/verify.js';
import type { ArchivedLocation, ArchiveReader } from '../../ports.js';
import { createS3Client } from './client.js';
import { explain, httpStatus } from './s3-errors.js';
import { GetObjectCommand, HeadObjectCommand } from './sdk.js';

export class S3ReadBack implements ArchiveReader {
  readonly #config: S3Config;
  readonly #client: S3Client;

  constructor(config: S3Config, options: { client?: S3Client } = {}) {
    this.#config = config;
    this.#client = options.client ?? createS3Client(config);
  }

  /**
   * GETs the object (the recorded version when there is one) and hashes every byte of it; for a
   * recorded version, also asks whether the key still serves it.
   */
  async read(location: ArchivedLocation, signal?: AbortSignal): Promise<CopyReading> {
    const config = { ...this.#config, bucket: location.bucket };
    try {
      const read = await hashObject(this.#client, location, signal);
      if (location.versionId === undefined) return { kind: 'read', ...read };
      // Our version is intact; is it still what the key serves (or was something put over it)?
      const current = await this.#client.send(
        new HeadObjectCommand({ Bucket: location.bucket, Key: location.key }),
        { abortSignal: signal },
      );
      const supersededBy =
        current.VersionId !== undefined && current.VersionId !== location.versionId
          ? current.VersionId
          : undefined;
      return { kind: 'read', ...read, ...(supersededBy === undefined ? {} : { supersededBy }) };
    } catch (error) {
      if (signal?.aborted) throw signal.reason;
      const status = httpStatus(error);
      const { code, reason } = explain(error, config, 'GetObject');
      if (status === 404) {
        const why = code === 'NoSuchBucket' ? reason : 'the object is not in the bucket';
        return { kind: 'absent', reason: `${code}: ${why}` };
      }
      return { kind: 'error', reason: `GetObject failed: ${code}: ${reason}` };
    }
  }

  destroy(): void {
    this.#client.destroy();
  }
}

/** Streams the object (the given version, if any) through SHA-256; S3 errors are thrown as they come. */
export async function hashObject(
  client: S3Client,
  location: ArchivedLocation,
  signal?: AbortSignal,
): Promise<{ bytes: number; sha256: string }> {
  const out = await client.send(
    new GetObjectCommand({
      Bucket: location.bucket,
      Key: location.key,
      ...(location.versionId === undefined ? {} : { VersionId: location.versionId }),
    }),
    { abortSignal: signal },
  );
  const hash = createHash('sha256');
  let bytes = 0;
  const body = out.Body as NodeJS.ReadableStream | undefined;
  if (body) {
    await pipeline(
      body,
      new Writable({
        write(chunk: Buffer, _encoding, done) {
          hash.update(chunk);
          bytes += chunk.length;
          done();
        },
      }),
      { signal },
    );
  }
  return { bytes, sha256: hash.digest('hex') };
}
