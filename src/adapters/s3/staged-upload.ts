/**
 * An S3 multipart upload staged while the report is still being rendered (issue 11): the parts
 * go up as the bytes arrive, overlapping the SFTP submission, but the object only comes into
 * existence at `complete()`, which the run calls after REPORT_SUBMITTED is recorded ("archive
 * only after a successful submission"). `abort()` discards the parts. A crash leaves an
 * unfinished upload, which is not an object; `abortStaleUploads` removes ours on resume.
 *
 * The size and hash of the content are known only at its end, so parts are of a fixed size and
 * buffered in PARTS_IN_FLIGHT + 1 buffers allocated once and reused (memory: PART_BYTES × 3, flat,
 * and no stream of 5 MiB buffers through the allocator); each part carries its SHA-256, which S3
 * verifies on arrival, and the composite of the part hashes is compared with the server's.
 */
import { createHash } from 'node:crypto';
import type { CompletedPart, S3Client } from '@aws-sdk/client-s3';
import type { S3Config } from '../../config/schema.js';
import { EodError, isEodError } from '../../core/errors.js';
import type { ReportContent, ServerChecksum, StagedArchive } from '../../ports.js';
import { signWithKnownPayloadHash } from './payload-hash.js';
import { explain, httpStatus, optional, s3Failure } from './s3-errors.js';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  UploadPartCommand,
} from './sdk.js';

const MiB = 1024 * 1024;
/** S3's smallest part but the last (AWS docs, "Amazon S3 multipart upload limits"): 10,000 parts
 * make 48.8 GiB, far beyond a day's report. */
export const PART_BYTES = 5 * MiB;
const PARTS_IN_FLIGHT = 2;

export interface StageContext {
  client: S3Client;
  config: S3Config;
  failpoint: (name: string) => Promise<void> | void;
  objectLockUntil?: Date;
}

/**
 * Uploads every part of `content` (read once, to its end) and returns the staged upload, or
 * null when an object already exists under the key (the regular archive step then judges it).
 * Throws EodError UNAVAILABLE for server errors, CONTENT_MISMATCH when the bytes are not the
 * content's declared ones; the upload is aborted before throwing.
 */
export async function stageUpload(
  ctx: StageContext,
  key: string,
  content: ReportContent,
  signal?: AbortSignal,
): Promise<StagedArchive | null> {
  const { client, config } = ctx;
  const where = `s3://${config.bucket}/${key}`;
  const fail = (error: unknown, operation: string) => {
    if (signal?.aborted) return signal.reason;
    if (isEodError(error)) return error;
    const explained = explain(error, config, operation);
    const { code, reason, facts } = explained;
    return s3Failure(`staging ${where} failed (${operation}): ${code}: ${reason}`, explained, {
      ...facts,
      key,
    });
  };
  try {
    await client.send(new HeadObjectCommand({ Bucket: config.bucket, Key: key }), { abortSignal: signal });
    return null;
  } catch (error) {
    if (httpStatus(error) !== 404) throw fail(error, 'HeadObject');
  }
  let uploadId: string;
  try {
    const created = await client.send(
      new CreateMultipartUploadCommand({
        Bucket: config.bucket,
        Key: key,
        ContentType: 'text/csv; charset=utf-8',
        ChecksumAlgorithm: 'SHA256',
        ...(config.sseKmsKeyId === undefined
          ? {}
          : { ServerSideEncryption: 'aws:kms', SSEKMSKeyId: config.sseKmsKeyId }),
        ...(config.objectLock === undefined || ctx.objectLockUntil === undefined
          ? {}
          : { ObjectLockMode: config.objectLock.mode, ObjectLockRetainUntilDate: ctx.objectLockUntil }),
      }),
      { abortSignal: signal },
    );
    if (!created.UploadId) throw new Error('CreateMultipartUpload returned no UploadId');
    uploadId = created.UploadId;
  } catch (error) {
    throw fail(error, 'CreateMultipartUpload');
  }
  const abort = async () => {
    await client
      .send(new AbortMultipartUploadCommand({ Bucket: config.bucket, Key: key, UploadId: uploadId }))
      .catch(() => undefined);
  };

  const parts: CompletedPart[] = [];
  const partDigests: Buffer[] = [];
  // A self-verifying content fails its own stream on a wrong byte; counting is then enough.
  const whole = content.selfVerifying ? null : createHash('sha256');
  let bytes = 0;
  const inFlight = new Set<Promise<void>>();
  try {
    let failure: { error: unknown } | undefined;
    // A part's buffer is taken again only once its request settled (the SDK no longer reads it).
    const free: Buffer[] = [];
    const take = () => free.pop() ?? Buffer.allocUnsafe(PART_BYTES);
    const send = async (body: Buffer, whole: Buffer) => {
      const number = parts.length + 1;
      const digest = createHash('sha256').update(body).digest();
      partDigests.push(digest);
      const entry: CompletedPart = { PartNumber: number, ChecksumSHA256: digest.toString('base64') };
      parts.push(entry);
      const command = new UploadPartCommand({
        Bucket: config.bucket,
        Key: key,
        UploadId: uploadId,
        PartNumber: number,
        Body: body,
        ContentLength: body.length,
        ChecksumAlgorithm: 'SHA256',
        ChecksumSHA256: entry.ChecksumSHA256,
      });
      signWithKnownPayloadHash(command, digest);
      const request = client
        .send(command, { abortSignal: signal })
        .then((out) => {
          entry.ETag = out.ETag;
        })
        .catch((error: unknown) => {
          failure ??= { error };
        })
        .finally(() => free.push(whole));
      inFlight.add(request);
      void request.finally(() => inFlight.delete(request));
      if (inFlight.size >= PARTS_IN_FLIGHT) await Promise.race(inFlight);
      if (failure) throw fail(failure.error, 'UploadPart');
    };
    let buffer = take();
    let filled = 0;
    for await (const piece of content.open()) {
      const chunk = piece as Buffer;
      whole?.update(chunk);
      bytes += chunk.length;
      let used = 0;
      while (used < chunk.length) {
        const n = chunk.copy(buffer, filled, used);
        used += n;
        filled += n;
        if (filled === PART_BYTES) {
          await send(buffer, buffer);
          buffer = take();
          filled = 0;
        }
      }
    }
    if (filled > 0 || parts.length === 0) await send(buffer.subarray(0, filled), buffer);
    await Promise.all(inFlight);
    if (failure) throw fail((failure as { error: unknown }).error, 'UploadPart');
    const sha256 = whole ? whole.digest('hex') : content.sha256;
    // The stream has ended: the content's size and hash are known now.
    if (bytes !== content.bytes || sha256 !== content.sha256) {
      throw new EodError(
        'CONTENT_MISMATCH',
        `staged ${where} from ${bytes} bytes sha256 ${sha256}; the report is ${content.bytes} bytes sha256 ${content.sha256}`,
        { key, bytes, sha256, expectedBytes: content.bytes, expectedSha256: content.sha256 },
      );
    }
  } catch (error) {
    // A part still uploading when the upload is aborted may land after the abort and be kept
    // (and billed) by the server, out of sight of ListMultipartUploads (AWS: "it might be
    // necessary to abort a given multipart upload multiple times"). Each request has its own
    // deadline; once they have settled, one abort frees everything.
    await Promise.allSettled(inFlight);
    await abort();
    throw error;
  }
  const composite = `${createHash('sha256').update(Buffer.concat(partDigests)).digest('base64')}-${parts.length}`;

  return {
    key,
    uploadId,
    abort,
    complete: async (options = {}) => {
      await ctx.failpoint('archive.before-put');
      await options.beforeCommit?.({ kind: 'complete', bucket: config.bucket, key });
      await ctx.failpoint('archive.after-lock-check');
      let out: { VersionId?: string; ETag?: string; ChecksumSHA256?: string };
      try {
        out = await client.send(
          new CompleteMultipartUploadCommand({
            Bucket: config.bucket,
            Key: key,
            UploadId: uploadId,
            MultipartUpload: { Parts: parts },
            IfNoneMatch: '*',
          }),
          { abortSignal: options.signal },
        );
      } catch (error) {
        throw fail(error, 'CompleteMultipartUpload');
      }
      await ctx.failpoint('archive.after-put');
      let verifiedByServer: ServerChecksum | null = null;
      if (out.ChecksumSHA256 !== undefined) {
        if (out.ChecksumSHA256 !== composite) {
          throw new EodError(
            'CONTENT_MISMATCH',
            `archived ${where} but the server's composite SHA-256 is ${out.ChecksumSHA256}; ours is ${composite}`,
            { key, serverChecksum: out.ChecksumSHA256, expectedChecksum: composite },
          );
        }
        verifiedByServer = {
          algorithm: 'SHA256',
          type: 'COMPOSITE',
          checksum: composite,
          partSize: PART_BYTES,
        };
      }
      const head = await client
        .send(new HeadObjectCommand({ Bucket: config.bucket, Key: key }), { abortSignal: options.signal })
        .catch((error: unknown) => {
          throw fail(error, 'HeadObject');
        });
      if (head.ContentLength !== bytes) {
        throw new EodError(
          'CONTENT_MISMATCH',
          `archived ${where} but it reads back as ${head.ContentLength} bytes; expected ${bytes}`,
          { key, remoteBytes: head.ContentLength ?? null, expectedBytes: bytes },
        );
      }
      return {
        bucket: config.bucket,
        key,
        ...optional('versionId', out.VersionId ?? head.VersionId),
        ...optional('etag', out.ETag ?? head.ETag),
        sha256: content.sha256,
        alreadyPresent: false,
        verifiedByServer,
      };
    },
  };
}

/**
 * Aborts unfinished multipart uploads under exactly `key` (ours: the key is this process's), left
 * by a crash; returns how many. Servers that cannot list uploads (NotImplemented), or a role
 * without s3:ListBucketMultipartUploads, count as none.
 */
export async function abortStaleUploads(
  client: S3Client,
  bucket: string,
  key: string,
  signal?: AbortSignal,
): Promise<number> {
  let aborted = 0;
  let keyMarker: string | undefined;
  let uploadIdMarker: string | undefined;
  for (;;) {
    let page: Awaited<ReturnType<typeof listPage>>;
    try {
      page = await listPage(client, bucket, key, keyMarker, uploadIdMarker, signal);
    } catch (error) {
      // Not implemented by the server, or not granted (s3:ListBucketMultipartUploads): nothing
      // to clean that we can see; unfinished uploads are never objects, so the archive goes on.
      const status = httpStatus(error);
      if (status === 501 || status === 403) return aborted;
      throw error;
    }
    for (const upload of page.Uploads ?? []) {
      if (upload.Key !== key || !upload.UploadId) continue;
      await client.send(
        new AbortMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId: upload.UploadId }),
        {
          abortSignal: signal,
        },
      );
      aborted++;
    }
    if (!page.IsTruncated) return aborted;
    keyMarker = page.NextKeyMarker;
    uploadIdMarker = page.NextUploadIdMarker;
  }
}

function listPage(
  client: S3Client,
  bucket: string,
  key: string,
  keyMarker: string | undefined,
  uploadIdMarker: string | undefined,
  signal: AbortSignal | undefined,
) {
  return client.send(
    new ListMultipartUploadsCommand({
      Bucket: bucket,
      Prefix: key,
      ...optional('KeyMarker', keyMarker),
      ...optional('UploadIdMarker', uploadIdMarker),
    }),
    { abortSignal: signal },
  );
}
