/**
 * The S3 archive (PRODUCT.md §3 step 5): puts the submitted bytes once under a key, never
 * overwrites an existing object, and proves afterwards that what is stored is ours.
 */
import type { HeadObjectCommandOutput, PutObjectCommandInput, S3Client } from '@aws-sdk/client-s3';
import type { S3Config } from '../../config/schema.js';
import { EodError, isEodError } from '../../core/errors.js';
import type {
  Archive,
  ArchiveOptions,
  ArchiveReceipt,
  ReportContent,
  ServerChecksum,
  StagedArchive,
} from '../../ports.js';
import { createS3Client } from './client.js';
import { explain, httpStatus, isPreconditionFailed, optional, s3Failure } from './s3-errors.js';
import { hashObject } from './s3-read-back.js';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  PutObjectCommand,
  UploadPartCommand,
} from './sdk.js';
import { abortStaleUploads, stageUpload } from './staged-upload.js';
import { openVerified } from './verified-body.js';

export interface S3ArchiveOptions {
  client?: S3Client;
  failpoint?: (name: string) => Promise<void> | void;
  now?: () => Date;
}

const MiB = 1024 * 1024;
// Memory held by a multipart upload is about partSize × (QUEUE_SIZE + 1): one part per
// uploader in flight plus the one being assembled.
const MAX_PART_SIZE = 64 * MiB;
const MIN_PART_SIZE = 5 * MiB;
const MAX_PARTS = 10_000;
const QUEUE_SIZE = 2;
const CHECK_TIMEOUT_MS = 20_000;

/** What the server answered: version, etag, and the checksum it verified (if it says). */
type PutResult = {
  versionId?: string;
  etag?: string;
  checksumSha256?: string;
  /** Ours, for a multipart upload: the composite SHA-256 of the parts as we streamed them. */
  composite?: string;
  partSize?: number;
};

export class S3Archive implements Archive {
  readonly #config: S3Config;
  readonly #client: S3Client;
  readonly #failpoint: (name: string) => Promise<void> | void;
  readonly #now: () => Date;

  constructor(config: S3Config, options: S3ArchiveOptions = {}) {
    this.#config = config;
    this.#client = options.client ?? createS3Client(config);
    this.#failpoint = options.failpoint ?? (() => {});
    this.#now = options.now ?? (() => new Date());
  }

  async store(key: string, content: ReportContent, options: ArchiveOptions = {}): Promise<ArchiveReceipt> {
    const { signal } = options;
    signal?.throwIfAborted();
    // Right before the object can become visible: the caller's last word (renew the lock,
    // record the intent), then the failpoint of the crash tests.
    const beforeCommit = async (kind: 'put' | 'complete') => {
      await options.beforeCommit?.({ kind, bucket: this.#config.bucket, key });
      await this.#failpoint('archive.after-lock-check');
    };
    // s3rver ignores If-None-Match, so existence is checked here as well as by the server.
    // Without s3:ListBucket, S3 answers a HEAD of a missing object with 403, not 404. Before the
    // put that is no reason to stop: the put carries If-None-Match: *, so S3 refuses it (412) if
    // the object exists after all, and a 403 that is a missing permission or a wrong secret fails
    // the put too, with S3's own error code in its body.
    const existing = await this.#head(key, signal, { forbiddenMayBeAbsent: true });
    if (existing) return this.#adopt(key, content, existing, signal);

    await this.#failpoint('archive.before-put');
    let put: PutResult;
    try {
      put =
        content.bytes > this.#config.multipartThreshold
          ? await this.#putInParts(key, content, signal, () => beforeCommit('complete'))
          : await this.#putOnce(key, content, signal, () => beforeCommit('put'));
    } catch (error) {
      if (!isPreconditionFailed(error)) throw this.#failure(error, 'PutObject', key, signal);
      // Another writer created the key between our HEAD and PUT: judge what it wrote.
      const raced = await this.#head(key, signal);
      if (!raced) {
        throw new EodError(
          'UNAVAILABLE',
          `archiving to ${this.#where(key)}: the server refused the put as the key exists (412), but HeadObject does not find it; retry later`,
          { bucket: this.#config.bucket, key },
        );
      }
      return this.#adopt(key, content, raced, signal);
    }
    await this.#failpoint('archive.after-put');

    // Cheap insurance that the object we return a receipt for is the one we meant to write.
    const stored = await this.#head(key, signal);
    const verdict = stored ? judge(stored, content) : undefined;
    if (verdict?.kind !== 'same') {
      throw new EodError(
        'CONTENT_MISMATCH',
        stored
          ? `archived ${this.#where(key)} but it reads back as ${describeSeen(verdict)}; expected sha256 ${content.sha256}, ${content.bytes} bytes`
          : `archived ${this.#where(key)} but HeadObject does not find it`,
        { bucket: this.#config.bucket, key, expectedSha256: content.sha256, expectedBytes: content.bytes },
      );
    }
    return {
      bucket: this.#config.bucket,
      key,
      ...optional('versionId', put.versionId ?? stored?.VersionId),
      ...optional('etag', put.etag ?? stored?.ETag),
      sha256: content.sha256,
      alreadyPresent: false,
      verifiedByServer: this.#serverVerified(key, content, put),
    };
  }

  /**
   * The checksum the server says it verified, compared with ours: the full-object SHA-256 of a
   * single put, or the composite SHA-256 of a multipart upload (S3 checks each part's SHA-256 as
   * it arrives; we hash the same parts in the same pass as the whole file). Null when the server
   * reports none (s3rver, some S3-compatible servers): our metadata is then the only record.
   */
  #serverVerified(key: string, content: ReportContent, put: PutResult): ServerChecksum | null {
    const reported = put.checksumSha256;
    if (reported === undefined) return null;
    const composite = /-\d+$/.test(reported);
    const expected = composite ? put.composite : Buffer.from(content.sha256, 'hex').toString('base64');
    if (reported !== expected) {
      throw new EodError(
        'CONTENT_MISMATCH',
        `archived ${this.#where(key)} but the server's ${composite ? 'composite' : 'full-object'} SHA-256 is ${reported}; ours is ${expected ?? 'unknown'}`,
        { bucket: this.#config.bucket, key, serverChecksum: reported, expectedChecksum: expected ?? null },
      );
    }
    return composite
      ? { algorithm: 'SHA256', type: 'COMPOSITE', checksum: reported, ...optional('partSize', put.partSize) }
      : { algorithm: 'SHA256', type: 'FULL_OBJECT', checksum: reported };
  }

  /**
   * The bucket answers with our credentials. HeadBucket needs s3:ListBucket, which the archive
   * itself does not (README, "S3 permissions"); when it is refused, a GET of a key that does not
   * exist tells more, because unlike a HEAD its answer has a body: AccessDenied means the
   * signature was accepted (S3 authenticates before it authorizes) and only permissions can be
   * missing, which cannot be checked without writing; any other code is a real failure.
   */
  /** See Archive.stage: parts now, the object only at `complete()`. */
  stage(key: string, content: ReportContent, signal?: AbortSignal): Promise<StagedArchive | null> {
    const { objectLock } = this.#config;
    return stageUpload(
      {
        client: this.#client,
        config: this.#config,
        failpoint: this.#failpoint,
        ...(objectLock ? { objectLockUntil: new Date(this.#now().getTime() + objectLock.retainFor) } : {}),
      },
      key,
      content,
      signal,
    );
  }

  /** See Archive.abortStale. */
  abortStale(key: string, signal?: AbortSignal): Promise<number> {
    return abortStaleUploads(this.#client, this.#config.bucket, key, signal).catch((error: unknown) => {
      throw this.#failure(error, 'ListMultipartUploads', key, signal);
    });
  }

  async check(): Promise<string> {
    const { bucket } = this.#config;
    const where = this.#config.endpoint ?? `AWS S3 (${this.#config.region})`;
    const fail = (error: unknown, operation: string | undefined): EodError => {
      const explained = explain(error, this.#config, operation);
      const { code, reason, facts } = explained;
      return s3Failure(`s3 bucket "${bucket}" at ${where}: ${reason} (${code})`, explained, facts, {
        notRetried: false,
      });
    };
    try {
      await this.#client.send(new HeadBucketCommand({ Bucket: bucket }), {
        abortSignal: AbortSignal.timeout(CHECK_TIMEOUT_MS),
      });
      return `s3 bucket "${bucket}" at ${where} ok`;
    } catch (error) {
      if (httpStatus(error) !== 403) throw fail(error, undefined);
    }
    const probe = `${this.#config.prefix.split('{')[0]}.eod-report-check-${Date.now()}`;
    try {
      const found = await this.#client.send(new GetObjectCommand({ Bucket: bucket, Key: probe }), {
        abortSignal: AbortSignal.timeout(CHECK_TIMEOUT_MS),
      });
      (found.Body as { destroy?: () => void } | undefined)?.destroy?.();
    } catch (error) {
      const { code } = explain(error, this.#config, 'GetObject');
      if (code !== 'AccessDenied' && code !== 'NoSuchKey') throw fail(error, 'GetObject');
    }
    return `s3 bucket "${bucket}" at ${where}: credentials accepted; no s3:ListBucket (HeadBucket answered 403), which the archive does without; s3:PutObject and s3:GetObject cannot be checked without writing`;
  }

  async #head(
    key: string,
    signal: AbortSignal | undefined,
    options: { forbiddenMayBeAbsent?: boolean } = {},
  ): Promise<HeadObjectCommandOutput | undefined> {
    try {
      // ChecksumMode returns the full-object checksum real S3 verified at upload (for SSE-KMS
      // objects this needs kms:Decrypt); s3rver has none and we rely on our metadata.
      return await this.#client.send(
        new HeadObjectCommand({ Bucket: this.#config.bucket, Key: key, ChecksumMode: 'ENABLED' }),
        { abortSignal: signal },
      );
    } catch (error) {
      const status = httpStatus(error);
      if (status === 404 || (status === 403 && options.forbiddenMayBeAbsent === true && !signal?.aborted))
        return undefined;
      throw this.#failure(error, 'HeadObject', key, signal);
    }
  }

  /**
   * An object already under our key (a crash after the put, another writer, an operator's
   * `aws s3 cp`) is ours when its bytes are: proven by a full-object SHA-256 the server verified,
   * or else by reading it back and hashing it. Metadata alone proves nothing (anyone can set it,
   * and a re-upload drops it). A conflict only when the bytes differ.
   */
  async #adopt(
    key: string,
    content: ReportContent,
    head: HeadObjectCommandOutput,
    signal: AbortSignal | undefined,
  ): Promise<ArchiveReceipt> {
    const receipt = (settledBy: ArchiveReceipt['settledBy'], verifiedByServer: ServerChecksum | null) => ({
      bucket: this.#config.bucket,
      key,
      ...optional('versionId', head.VersionId),
      ...optional('etag', head.ETag),
      sha256: content.sha256,
      alreadyPresent: true,
      settledBy,
      verifiedByServer,
    });
    if (head.ContentLength !== undefined && head.ContentLength !== content.bytes) {
      throw this.#conflict(key, content, { bytes: head.ContentLength });
    }
    const checksum = head.ChecksumSHA256;
    if (checksum !== undefined && head.ChecksumType !== 'COMPOSITE' && !/-\d+$/.test(checksum)) {
      const sha256 = Buffer.from(checksum, 'base64').toString('hex');
      if (sha256 !== content.sha256)
        throw this.#conflict(key, content, { sha256, bytes: head.ContentLength });
      return receipt('server-checksum', { algorithm: 'SHA256', type: 'FULL_OBJECT', checksum });
    }
    let read: { bytes: number; sha256: string };
    try {
      read = await hashObject(
        this.#client,
        { bucket: this.#config.bucket, key, ...optional('versionId', head.VersionId) },
        signal,
      );
    } catch (error) {
      throw this.#failure(error, 'GetObject', key, signal);
    }
    if (read.bytes !== content.bytes || read.sha256 !== content.sha256) {
      throw this.#conflict(key, content, read);
    }
    return receipt('read-back', null);
  }

  #conflict(key: string, content: ReportContent, seen: { sha256?: string; bytes?: number | undefined }) {
    return new EodError(
      'ARCHIVE_CONFLICT',
      `${this.#where(key)} already exists as ${describeSeen(seen)}; ours is sha256 ${content.sha256}, ${content.bytes} bytes; an archived object is never overwritten`,
      {
        bucket: this.#config.bucket,
        key,
        existingSha256: seen.sha256 ?? null,
        existingBytes: seen.bytes ?? null,
        sha256: content.sha256,
        bytes: content.bytes,
      },
    );
  }

  async #putOnce(
    key: string,
    content: ReportContent,
    signal: AbortSignal | undefined,
    beforeCommit: () => Promise<void>,
  ): Promise<PutResult> {
    await beforeCommit();
    // The http handler pipes the body with .pipe(), which does not end the request when the
    // body fails; without aborting it ourselves the request would hang until a socket timeout.
    const own = new AbortController();
    const abortSignal = signal ? AbortSignal.any([signal, own.signal]) : own.signal;
    let bodyError: Error | undefined;
    const { stream: body } = openVerified(content, this.#where(key), (error) => {
      bodyError ??= error;
      own.abort(error);
    });
    try {
      const out = await this.#client.send(
        new PutObjectCommand({
          ...this.#objectParams(key, content),
          Body: body,
          ContentLength: content.bytes,
          // A header (not a trailer) carrying the whole object's hash: real S3 rejects the put
          // with BadDigest when the bytes differ, and no aws-chunked framing is needed.
          ChecksumSHA256: Buffer.from(content.sha256, 'hex').toString('base64'),
          IfNoneMatch: '*',
        }),
        // A large body may take longer than requestTimeout; the socket's idle limit
        // (noProgressTimeout) bounds it instead.
        { abortSignal, requestTimeout: 0 },
      );
      return {
        ...optional('versionId', out.VersionId),
        ...optional('etag', out.ETag),
        ...optional('checksumSha256', out.ChecksumSHA256),
      };
    } catch (error) {
      throw bodyError ?? error;
    } finally {
      body.destroy();
    }
  }

  async #putInParts(
    key: string,
    content: ReportContent,
    signal: AbortSignal | undefined,
    beforeComplete: () => Promise<void>,
  ): Promise<PutResult> {
    let bodyError: Error | undefined;
    // A failing body ends lib-storage's read loop by itself, which then aborts the multipart
    // upload and waits for that; aborting from here would skip the cleanup.
    const partSize = partSizeFor(content.bytes, this.#config.multipartThreshold);
    const verified = openVerified(
      content,
      this.#where(key),
      (error) => {
        bodyError ??= error;
      },
      partSize,
    );
    const body = verified.stream;
    const abortController = new AbortController();
    const onAbort = () => abortController.abort(signal?.reason);
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      // Only the non-staged path uploads through lib-storage: loaded here, not with the archive.
      const { Upload } = await import('@aws-sdk/lib-storage');
      const upload = new Upload({
        client: withSignal(this.#client, abortController.signal, beforeComplete),
        params: {
          ...this.#objectParams(key, content),
          Body: body,
          ContentLength: content.bytes,
          // Per-part SHA-256 (verified by S3 on each part). A full-object SHA-256 would be
          // wrong here: lib-storage copies params into every UploadPart.
          ChecksumAlgorithm: 'SHA256',
          // lib-storage copies params into CompleteMultipartUpload too, which honours it.
          IfNoneMatch: '*',
        },
        partSize,
        queueSize: QUEUE_SIZE,
        leavePartsOnError: false,
        abortController,
      });
      const out = (await upload.done()) as { VersionId?: string; ETag?: string; ChecksumSHA256?: string };
      return {
        ...optional('versionId', out.VersionId),
        ...optional('etag', out.ETag),
        ...optional('checksumSha256', out.ChecksumSHA256),
        ...optional('composite', verified.composite()),
        partSize,
      };
    } catch (error) {
      if (signal?.aborted) throw signal.reason;
      throw bodyError ?? error;
    } finally {
      signal?.removeEventListener('abort', onAbort);
      body.destroy();
    }
  }

  #objectParams(key: string, content: ReportContent): Omit<PutObjectCommandInput, 'Body'> {
    const { bucket, sseKmsKeyId, objectLock } = this.#config;
    return {
      Bucket: bucket,
      Key: key,
      ContentType: 'text/csv; charset=utf-8',
      // Our own record of the full-object hash: multipart objects have only composite
      // checksums, and s3rver keeps none.
      Metadata: { sha256: content.sha256, rows: String(content.rows) },
      ...(sseKmsKeyId === undefined ? {} : { ServerSideEncryption: 'aws:kms', SSEKMSKeyId: sseKmsKeyId }),
      ...(objectLock === undefined
        ? {}
        : {
            ObjectLockMode: objectLock.mode,
            ObjectLockRetainUntilDate: new Date(this.#now().getTime() + objectLock.retainFor),
          }),
    };
  }

  #failure(error: unknown, operation: string, key: string, signal: AbortSignal | undefined): unknown {
    if (signal?.aborted) return signal.reason;
    if (isEodError(error)) return error;
    const explained = explain(error, this.#config, operation);
    const { code, reason, facts } = explained;
    return s3Failure(
      `archiving to ${this.#where(key)} failed (${operation}): ${code}: ${reason}`,
      explained,
      {
        ...facts,
        key,
      },
    );
  }

  #where(key: string): string {
    return `s3://${this.#config.bucket}/${key}`;
  }
}

/** What an existing object says about itself, compared with our content. */
interface Verdict {
  kind: 'same' | 'different' | 'unknown';
  sha256?: string;
  bytes?: number;
}

function judge(head: HeadObjectCommandOutput, content: ReportContent): Verdict {
  const hashes: string[] = [];
  const fromMetadata = head.Metadata?.sha256?.toLowerCase();
  if (fromMetadata !== undefined && /^[0-9a-f]{64}$/.test(fromMetadata)) hashes.push(fromMetadata);
  // Composite checksums (multipart: "<hash>-<parts>") are not a hash of the whole object.
  const checksum = head.ChecksumSHA256;
  if (checksum !== undefined && head.ChecksumType !== 'COMPOSITE' && !checksum.includes('-')) {
    hashes.push(Buffer.from(checksum, 'base64').toString('hex'));
  }
  const bytes = head.ContentLength;
  const sha256 = hashes.find((hash) => hash !== content.sha256) ?? hashes[0];
  if (sha256 === undefined) return { kind: 'unknown', ...optional('bytes', bytes) };
  const kind = sha256 === content.sha256 && bytes === content.bytes ? 'same' : 'different';
  return { kind, sha256, ...optional('bytes', bytes) };
}

function describeSeen(verdict: { sha256?: string; bytes?: number | undefined } | undefined): string {
  const size = verdict?.bytes === undefined ? 'unknown size' : `${verdict.bytes} bytes`;
  return `sha256 ${verdict?.sha256 ?? 'unknown'}, ${size}`;
}

/** Parts big enough to stay under S3's part count, small enough to bound memory. */
function partSizeFor(bytes: number, threshold: number): number {
  return Math.max(MIN_PART_SIZE, Math.min(MAX_PART_SIZE, threshold), Math.ceil(bytes / MAX_PARTS));
}

/**
 * lib-storage sends its requests without an abort signal, so an aborted run would keep
 * uploading parts in the background. This view of the client adds ours to every request but
 * the AbortMultipartUpload that cleans up after the abort, and awaits `beforeComplete` right
 * before the CompleteMultipartUpload that makes the object visible (a throw there aborts the
 * upload instead).
 */
function withSignal(client: S3Client, signal: AbortSignal, beforeComplete: () => Promise<void>): S3Client {
  const scoped = Object.create(client) as S3Client;
  const send = async (command: unknown, options?: Record<string, unknown>) => {
    if (command instanceof CompleteMultipartUploadCommand) await beforeComplete();
    return (client.send as (command: unknown, options?: Record<string, unknown>) => Promise<unknown>)(
      command,
      command instanceof AbortMultipartUploadCommand
        ? options
        : command instanceof UploadPartCommand
          ? // A part may take longer than requestTimeout; noProgressTimeout (socket idle) bounds it.
            { ...options, abortSignal: signal, requestTimeout: 0 }
          : { ...options, abortSignal: signal },
    );
  };
  scoped.send = send as S3Client['send'];
  return scoped;
}
