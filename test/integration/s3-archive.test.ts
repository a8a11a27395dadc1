import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { GetObjectCommand, HeadObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createS3Client } from '../../src/adapters/s3/client.js';
import { S3Archive } from '../../src/adapters/s3/s3-archive.js';
import { PART_BYTES } from '../../src/adapters/s3/staged-upload.js';
import type { S3Config } from '../../src/config/schema.js';
import { EodError } from '../../src/core/errors.js';
import { type EmbeddedS3, startEmbeddedS3 } from '../../src/embedded/s3-server.js';
import type { ReportContent } from '../../src/ports.js';
import { memoryContent } from '../helpers/memory-content.js';

const MiB = 1024 * 1024;
const BUCKET = 'eod-archive';

let s3: EmbeddedS3;
let baseDir: string;
const savedEnv = { id: process.env.AWS_ACCESS_KEY_ID, secret: process.env.AWS_SECRET_ACCESS_KEY };

beforeAll(async () => {
  baseDir = await mkdtemp(join(tmpdir(), 's3-archive-test-'));
  s3 = await startEmbeddedS3({ baseDir, buckets: [BUCKET] });
  // The standard credential chain, exactly as an operator would configure it.
  process.env.AWS_ACCESS_KEY_ID = s3.accessKeyId;
  process.env.AWS_SECRET_ACCESS_KEY = s3.secretAccessKey;
});

afterAll(async () => {
  await s3?.stop();
  restoreEnv('AWS_ACCESS_KEY_ID', savedEnv.id);
  restoreEnv('AWS_SECRET_ACCESS_KEY', savedEnv.secret);
  if (baseDir) await rm(baseDir, { recursive: true, force: true });
});

function restoreEnv(name: string, value: string | undefined): void {
  if (value === undefined) delete process.env[name];
  else process.env[name] = value;
}

function s3Config(overrides: Partial<S3Config> = {}): S3Config {
  return {
    bucket: BUCKET,
    prefix: '',
    region: s3.region,
    endpoint: s3.endpoint,
    forcePathStyle: true,
    connectTimeout: 10_000,
    requestTimeout: 60_000,
    noProgressTimeout: 120_000,
    multipartThreshold: 4 * 1024 ** 3,
    ...overrides,
  };
}

interface Sent {
  command: string;
  method: string;
  query: Record<string, unknown>;
  headers: Record<string, string>;
}

/** A client that records every request it sends, as it goes on the wire (after signing). */
function recordingClient(config: S3Config): { client: S3Client; sent: Sent[] } {
  const client = createS3Client(config);
  const sent: Sent[] = [];
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const request = args.request as {
        method: string;
        query: Record<string, unknown>;
        headers: Record<string, string>;
      };
      sent.push({
        command: context.commandName ?? '?',
        method: request.method,
        query: { ...request.query },
        headers: { ...request.headers },
      });
      return next(args);
    },
    { step: 'finalizeRequest', name: 'recordRequests', priority: 'low' },
  );
  return { client, sent };
}

const sha256 = (data: Buffer) => createHash('sha256').update(data).digest();

/**
 * Plays what real S3 answers and s3rver does not: the checksum it verified. A single put echoes
 * the full-object SHA-256 header; a multipart completion gives the composite of the parts'
 * SHA-256 headers (in part order) as `<base64>-<parts>`.
 */
function answerChecksumsAsS3(client: S3Client, sent: Sent[], options: { tamper?: boolean } = {}): void {
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const result = await next(args);
      const output = result.output as unknown as Record<string, unknown>;
      if (context.commandName === 'PutObjectCommand') {
        output.ChecksumSHA256 = headersOf(sent, 'PutObjectCommand')['x-amz-checksum-sha256'];
        output.ChecksumType = 'FULL_OBJECT';
      }
      if (context.commandName === 'CompleteMultipartUploadCommand') {
        const parts = sent
          .filter((r) => r.command === 'UploadPartCommand')
          .sort((a, b) => Number(a.query.partNumber) - Number(b.query.partNumber))
          .map((r) => Buffer.from(r.headers['x-amz-checksum-sha256'] ?? '', 'base64'));
        if (options.tamper) parts.reverse();
        output.ChecksumSHA256 = `${sha256(Buffer.concat(parts)).toString('base64')}-${parts.length}`;
        output.ChecksumType = 'COMPOSITE';
      }
      return result;
    },
    { step: 'initialize', name: 'answerChecksumsAsS3' },
  );
}

function headersOf(sent: Sent[], command: string): Record<string, string> {
  const request = sent.find((r) => r.command === command);
  if (!request) throw new Error(`no ${command} was sent`);
  return request.headers;
}

function uniqueKey(name: string): string {
  return `test/${randomUUID()}/${name}`;
}

async function getBytes(client: S3Client, key: string, bucket = BUCKET): Promise<Buffer> {
  const out = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  if (!out.Body) throw new Error(`GetObject ${key} returned no body`);
  return Buffer.from(await out.Body.transformToByteArray());
}

async function headStatus(client: S3Client, key: string): Promise<number> {
  try {
    const out = await client.send(new HeadObjectCommand({ Bucket: BUCKET, Key: key }));
    return out.$metadata.httpStatusCode ?? 0;
  } catch (error) {
    return (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode ?? -1;
  }
}

/** Declares `full` but its stream fails after `after` bytes, as a broken database cursor would. */
function failingContent(full: Buffer, after: number): ReportContent {
  const good = memoryContent(full);
  return {
    rows: good.rows,
    bytes: good.bytes,
    sha256: good.sha256,
    open(): Readable {
      async function* failing(): AsyncGenerator<Buffer> {
        for (let offset = 0; offset < after; offset += 64 * 1024) {
          yield full.subarray(offset, Math.min(after, offset + 64 * 1024));
        }
        throw new Error('cursor broke after 1 MiB');
      }
      return Readable.from(failing(), { objectMode: false });
    },
  };
}

async function rejection(promise: Promise<unknown>): Promise<EodError> {
  const error = await promise.then(
    () => undefined,
    (thrown: unknown) => thrown,
  );
  expect(error, 'expected a rejection').toBeInstanceOf(EodError);
  return error as EodError;
}

describe('S3Archive against s3rver', () => {
  it('stores the exact bytes with our sha256 metadata and returns a receipt', async () => {
    const config = s3Config();
    const { client } = recordingClient(config);
    const archive = new S3Archive(config, { client });
    const bytes = Buffer.from('id,amount\n1,10.00\n2,"a, b"\n');
    const content = memoryContent(bytes);
    const key = uniqueKey('eod_20240102.csv');

    const receipt = await archive.store(key, content);

    expect(receipt).toMatchObject({ bucket: BUCKET, key, sha256: content.sha256, alreadyPresent: false });
    expect(receipt.etag).toBeTruthy();
    expect((await getBytes(client, key)).equals(bytes)).toBe(true);
    const head = await client.send(new HeadObjectCommand({ Bucket: BUCKET, Key: key }));
    expect(head.Metadata?.sha256).toBe(content.sha256);
    expect(head.Metadata?.rows).toBe('0');
    expect(head.ContentType).toBe('text/csv; charset=utf-8');
    expect(head.ContentLength).toBe(bytes.length);
  });

  it('sends If-None-Match: * and the full-object SHA-256 as a header, not an aws-chunked trailer', async () => {
    const config = s3Config();
    const { client, sent } = recordingClient(config);
    const content = memoryContent(randomBytes(300 * 1024));
    const key = uniqueKey('headers.csv');

    await new S3Archive(config, { client }).store(key, content);

    const puts = sent.filter((r) => r.command === 'PutObjectCommand');
    expect(puts).toHaveLength(1);
    const headers = headersOf(sent, 'PutObjectCommand');
    expect(headers['if-none-match']).toBe('*');
    expect(headers['x-amz-checksum-sha256']).toBe(Buffer.from(content.sha256, 'hex').toString('base64'));
    expect(headers['x-amz-meta-sha256']).toBe(content.sha256);
    expect(headers['content-length']).toBe(String(content.bytes));
    expect(headers['content-encoding']).toBeUndefined();
    expect(headers['x-amz-trailer']).toBeUndefined();
    expect(sent.map((r) => r.command)).toEqual([
      'HeadObjectCommand',
      'PutObjectCommand',
      'HeadObjectCommand',
    ]);
  });

  it('a staged upload of 23 MiB signs each part with its own SHA-256, reuses its part buffers and completes byte-identical', async () => {
    const config = s3Config();
    const { client, sent } = recordingClient(config);
    const archive = new S3Archive(config, { client });
    const bytes = randomBytes(23 * MiB);
    const key = uniqueKey('staged.csv');

    const staged = await archive.stage(key, memoryContent(bytes));
    if (!staged) throw new Error('nothing staged');
    await staged.complete();

    // Five parts through three buffers: a buffer reused while its part was still in flight would
    // show as wrong bytes here.
    expect((await getBytes(client, key)).equals(bytes)).toBe(true);
    const parts = sent.filter((r) => r.command === 'UploadPartCommand');
    expect(parts).toHaveLength(Math.ceil(bytes.length / PART_BYTES));
    for (const part of parts) {
      const n = Number(part.query.partNumber);
      const body = bytes.subarray((n - 1) * PART_BYTES, n * PART_BYTES);
      // The hash SigV4 signs is the one computed for ChecksumSHA256, not a second pass by the SDK.
      expect(part.headers['x-amz-content-sha256']).toBe(sha256(body).toString('hex'));
      expect(part.headers['x-amz-checksum-sha256']).toBe(sha256(body).toString('base64'));
    }
  });

  it('sends SSE-KMS and Object Lock parameters when configured', async () => {
    const now = new Date('2024-01-02T00:30:00Z');
    const config = s3Config({
      sseKmsKeyId: 'arn:aws:kms:eu-west-2:111122223333:key/test',
      objectLock: { mode: 'COMPLIANCE', retainFor: 7 * 24 * 3600 * 1000 },
    });
    const { client, sent } = recordingClient(config);
    const key = uniqueKey('locked.csv');

    await new S3Archive(config, { client, now: () => now }).store(key, memoryContent(Buffer.from('a\n1\n')));

    const headers = headersOf(sent, 'PutObjectCommand');
    expect(headers['x-amz-server-side-encryption']).toBe('aws:kms');
    expect(headers['x-amz-server-side-encryption-aws-kms-key-id']).toBe(config.sseKmsKeyId);
    expect(headers['x-amz-object-lock-mode']).toBe('COMPLIANCE');
    expect(new Date(headers['x-amz-object-lock-retain-until-date'] ?? 'missing').toISOString()).toBe(
      '2024-01-09T00:30:00.000Z',
    );
  });

  it('a second store of the same content is recognised and does not write again', async () => {
    const config = s3Config();
    const { client, sent } = recordingClient(config);
    const archive = new S3Archive(config, { client });
    const content = memoryContent(randomBytes(100 * 1024));
    const key = uniqueKey('twice.csv');

    const first = await archive.store(key, content);
    const before = await client.send(new HeadObjectCommand({ Bucket: BUCKET, Key: key }));
    sent.length = 0;
    const second = await archive.store(key, content);
    const after = await client.send(new HeadObjectCommand({ Bucket: BUCKET, Key: key }));

    expect(second).toMatchObject({
      bucket: BUCKET,
      key,
      sha256: content.sha256,
      alreadyPresent: true,
      // s3rver reports no checksum, so the object is read back and hashed rather than trusted.
      settledBy: 'read-back',
      verifiedByServer: null,
    });
    expect(second.etag).toBe(first.etag);
    expect(sent.map((r) => r.command)).toEqual([
      'HeadObjectCommand',
      'GetObjectCommand',
      'HeadObjectCommand',
    ]);
    expect(after.ETag).toBe(before.ETag);
    expect(after.LastModified).toEqual(before.LastModified);
  });

  it.each([
    ['with our metadata', (other: Buffer) => ({ sha256: memoryContent(other).sha256 })],
    ['without any sha256', () => undefined],
  ])('refuses to overwrite an existing object with other content (%s)', async (_label, metadata) => {
    const config = s3Config();
    const { client } = recordingClient(config);
    const key = uniqueKey('conflict.csv');
    const other = Buffer.from('id,amount\n1,99.99\n');
    await client.send(
      new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: other, Metadata: metadata(other) ?? {} }),
    );
    const ours = memoryContent(Buffer.from('id,amount\n1,10.00\n'));

    const error = await rejection(new S3Archive(config, { client }).store(key, ours));

    expect(error.code).toBe('ARCHIVE_CONFLICT');
    expect(error.message).toContain(`s3://${BUCKET}/${key}`);
    expect(error.message).toContain(ours.sha256);
    // Read back and hashed: the message names what is really there, metadata or not.
    expect(error.message).toContain(
      `already exists as sha256 ${memoryContent(other).sha256}, ${other.length} bytes`,
    );
    expect((await getBytes(client, key)).equals(other)).toBe(true);
  });

  it('adopts an object re-uploaded without our metadata (aws s3 cp) when its bytes are ours, by reading it back', async () => {
    const config = s3Config();
    const { client, sent } = recordingClient(config);
    const key = uniqueKey('recopied.csv');
    const bytes = Buffer.from('id,amount\n1,10.00\n2,20.00\n');
    await client.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: bytes }));
    const before = await client.send(new HeadObjectCommand({ Bucket: BUCKET, Key: key }));
    expect(before.Metadata?.sha256).toBeUndefined();
    sent.length = 0;

    const receipt = await new S3Archive(config, { client }).store(key, memoryContent(bytes));

    expect(receipt).toMatchObject({ alreadyPresent: true, settledBy: 'read-back', verifiedByServer: null });
    expect(sent.map((r) => r.command)).toEqual(['HeadObjectCommand', 'GetObjectCommand']);
    const after = await client.send(new HeadObjectCommand({ Bucket: BUCKET, Key: key }));
    expect(after.ETag).toBe(before.ETag);
    expect(after.LastModified).toEqual(before.LastModified);
  });

  it('does not trust metadata: other bytes of the same size under our sha256 metadata are a conflict', async () => {
    const config = s3Config();
    const { client } = recordingClient(config);
    const key = uniqueKey('forged.csv');
    const ours = memoryContent(Buffer.from('id,amount\n1,10.00\n'));
    const forged = Buffer.from('id,amount\n1,90.00\n');
    await client.send(
      new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: forged, Metadata: { sha256: ours.sha256 } }),
    );

    const error = await rejection(new S3Archive(config, { client }).store(key, ours));

    expect(error.code).toBe('ARCHIVE_CONFLICT');
    expect(error.facts).toMatchObject({ existingSha256: memoryContent(forged).sha256, existingBytes: 18 });
    expect((await getBytes(client, key)).equals(forged)).toBe(true);
  });

  it('an existing object of another size is a conflict without downloading it', async () => {
    const config = s3Config();
    const { client, sent } = recordingClient(config);
    const key = uniqueKey('longer.csv');
    await client.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: Buffer.from('id\n1\n2\n') }));
    sent.length = 0;

    const error = await rejection(
      new S3Archive(config, { client }).store(key, memoryContent(Buffer.from('id\n1\n'))),
    );

    expect(error.code).toBe('ARCHIVE_CONFLICT');
    expect(error.message).toContain('already exists as sha256 unknown, 7 bytes');
    expect(sent.map((r) => r.command)).toEqual(['HeadObjectCommand']);
  });

  it('judges what another writer put when the conditional put answers 412', async () => {
    const config = s3Config();
    const content = memoryContent(Buffer.from('id\n1\n'));
    const otherBytes = Buffer.from('id\n2\n');
    for (const [theirs, expected] of [
      [content, 'alreadyPresent'],
      [memoryContent(otherBytes), 'ARCHIVE_CONFLICT'],
    ] as const) {
      const { client } = recordingClient(config);
      const key = uniqueKey('raced.csv');
      // s3rver ignores If-None-Match, so play the other writer and real S3's answer here.
      client.middlewareStack.add(
        (next, context) => async (args) => {
          if (context.commandName !== 'PutObjectCommand') return next(args);
          const writer = createS3Client(config);
          await writer.send(
            new PutObjectCommand({
              Bucket: BUCKET,
              Key: key,
              Body: theirs === content ? Buffer.from('id\n1\n') : otherBytes,
              Metadata: { sha256: theirs.sha256 },
            }),
          );
          throw Object.assign(new Error('At least one of the pre-conditions you specified did not hold'), {
            name: 'PreconditionFailed',
            $metadata: { httpStatusCode: 412 },
          });
        },
        { step: 'finalizeRequest', name: 'otherWriter' },
      );
      const archive = new S3Archive(config, { client });
      if (expected === 'alreadyPresent') {
        await expect(archive.store(key, content)).resolves.toMatchObject({ alreadyPresent: true });
      } else {
        const error = await rejection(archive.store(key, content));
        expect(error.code).toBe('ARCHIVE_CONFLICT');
        expect((await getBytes(client, key)).equals(otherBytes)).toBe(true);
      }
    }
  });

  it('names the bucket and the S3 error code when the bucket does not exist', async () => {
    const config = s3Config({ bucket: 'no-such-archive' });
    const archive = new S3Archive(config);

    const stored = await rejection(archive.store(uniqueKey('x.csv'), memoryContent(Buffer.from('a\n'))));
    expect(stored.message).toMatch(/NoSuchBucket: bucket "no-such-archive" does not exist/);
    expect(stored.message).toContain('s3://no-such-archive/');
    expect(stored.facts).toMatchObject({ bucket: 'no-such-archive', s3Code: 'NoSuchBucket' });
    expect(stored.message).toMatch(/; create it or correct reports\[\]\.s3\.bucket; not retried$/);
    expect(stored.retryable, 'another attempt finds no bucket either').toBe(false);

    const checked = await rejection(archive.check());
    expect(checked.message).toContain(
      'bucket "no-such-archive" does not exist (NoSuchBucket); create it or correct reports[].s3.bucket',
    );
    expect(checked.message).not.toContain(s3.secretAccessKey);
  });

  it('check() reports the bucket and endpoint', async () => {
    await expect(new S3Archive(s3Config()).check()).resolves.toBe(
      `s3 bucket "${BUCKET}" at ${s3.endpoint} ok`,
    );
  });

  it('uploads large content in parts, byte-identical, with If-None-Match on completion', async () => {
    const config = s3Config({ multipartThreshold: 5 * MiB });
    const { client, sent } = recordingClient(config);
    const bytes = randomBytes(12 * MiB);
    const content = memoryContent(bytes);
    const key = uniqueKey('big.csv');

    const receipt = await new S3Archive(config, { client }).store(key, content);

    expect(receipt.alreadyPresent).toBe(false);
    // s3rver verifies no checksum and reports none: recorded as such, never invented.
    expect(receipt.verifiedByServer).toBeNull();
    expect((await getBytes(client, key)).equals(bytes)).toBe(true);
    const head = await client.send(new HeadObjectCommand({ Bucket: BUCKET, Key: key }));
    expect(head.Metadata?.sha256).toBe(content.sha256);
    const commands = sent.map((r) => r.command);
    expect(commands.filter((c) => c === 'UploadPartCommand')).toHaveLength(3);
    const complete = sent.find((r) => r.command === 'CompleteMultipartUploadCommand');
    expect(complete?.headers['if-none-match']).toBe('*');
    const create = sent.find((r) => r.command === 'CreateMultipartUploadCommand');
    expect(create?.headers['x-amz-checksum-algorithm']).toBe('SHA256');
    expect(create?.headers['x-amz-meta-sha256']).toBe(content.sha256);
    for (const part of sent.filter((r) => r.command === 'UploadPartCommand')) {
      // Per-part checksums only: the full-object hash must not leak into the parts.
      expect(part.headers['x-amz-checksum-sha256']).toBeTruthy();
      expect(part.headers['x-amz-checksum-sha256']).not.toBe(
        Buffer.from(content.sha256, 'hex').toString('base64'),
      );
    }
  });

  it.each([
    ['multipart: composite of the parts', 5 * MiB, 12 * MiB, 'COMPOSITE'],
    ['single put: full-object SHA-256', 4 * 1024 ** 3, 1 * MiB, 'FULL_OBJECT'],
  ] as const)(
    'records the checksum the server verified, as real S3 reports it (%s)',
    async (_label, threshold, size, type) => {
      const config = s3Config({ multipartThreshold: threshold });
      const { client, sent } = recordingClient(config);
      answerChecksumsAsS3(client, sent);
      const bytes = randomBytes(size);
      const key = uniqueKey('checksummed.csv');

      const receipt = await new S3Archive(config, { client }).store(key, memoryContent(bytes));

      const partSize = 5 * MiB;
      const expected =
        type === 'COMPOSITE'
          ? `${sha256(Buffer.concat([0, 1, 2].map((i) => sha256(bytes.subarray(i * partSize, (i + 1) * partSize))))).toString('base64')}-3`
          : sha256(bytes).toString('base64');
      expect(receipt.verifiedByServer).toEqual({
        algorithm: 'SHA256',
        type,
        checksum: expected,
        ...(type === 'COMPOSITE' ? { partSize } : {}),
      });
    },
  );

  it('fails when the server reports a composite checksum other than the parts we streamed', async () => {
    const config = s3Config({ multipartThreshold: 5 * MiB });
    const { client, sent } = recordingClient(config);
    answerChecksumsAsS3(client, sent, { tamper: true });
    const key = uniqueKey('bad-composite.csv');

    const error = await rejection(
      new S3Archive(config, { client }).store(key, memoryContent(randomBytes(11 * MiB))),
    );

    expect(error.code).toBe('CONTENT_MISMATCH');
    expect(error.message).toContain("the server's composite SHA-256 is");
  });

  it.each([
    ['single put', 4 * 1024 ** 3, 4 * MiB, 1 * MiB],
    ['multipart', 5 * MiB, 12 * MiB, 6 * MiB],
  ])('a content stream failing mid-way leaves no object (%s)', async (_label, threshold, size, after) => {
    const config = s3Config({ multipartThreshold: threshold });
    const { client } = recordingClient(config);
    const key = uniqueKey('broken.csv');

    const error = await rejection(
      new S3Archive(config, { client }).store(key, failingContent(randomBytes(size), after)),
    );

    expect(error.message).toContain('cursor broke after 1 MiB');
    expect(error.message).toContain(`s3://${BUCKET}/${key}`);
    expect(await headStatus(client, key)).toBe(404);
  });

  it('content that does not match its declared sha256 is never stored', async () => {
    const config = s3Config();
    const { client } = recordingClient(config);
    const key = uniqueKey('lying.csv');
    const declared = memoryContent(Buffer.from('id\n1\n'));
    const lying: ReportContent = { ...declared, open: () => memoryContent(Buffer.from('id\n2\n')).open() };

    const error = await rejection(new S3Archive(config, { client }).store(key, lying));

    expect(error.code).toBe('CONTENT_MISMATCH');
    expect(await headStatus(client, key)).toBe(404);
  });

  it('calls its failpoints around the put; a crash after the put resumes as already present', async () => {
    const config = s3Config();
    const key = uniqueKey('failpoint.csv');
    const content = memoryContent(Buffer.from('id\n7\n'));
    const seen: string[] = [];
    const crashing = new S3Archive(config, {
      failpoint: (name) => {
        seen.push(name);
        if (name === 'archive.after-put') throw new EodError('FAILPOINT', name);
      },
    });

    const error = await rejection(crashing.store(key, content));
    expect(error.code).toBe('FAILPOINT');
    expect(seen).toEqual(['archive.before-put', 'archive.after-lock-check', 'archive.after-put']);

    await expect(new S3Archive(config).store(key, content)).resolves.toMatchObject({ alreadyPresent: true });
  });

  it('honours the abort signal mid-upload and leaves no object', async () => {
    const config = s3Config();
    const { client } = recordingClient(config);
    const key = uniqueKey('aborted.csv');
    const bytes = randomBytes(2 * MiB);
    const good = memoryContent(bytes);
    const controller = new AbortController();
    const slow: ReportContent = {
      ...good,
      open: () =>
        Readable.from(
          (async function* () {
            yield bytes.subarray(0, MiB);
            controller.abort(new Error('shutting down'));
            await new Promise((resolve) => setTimeout(resolve, 200));
            yield bytes.subarray(MiB);
          })(),
          { objectMode: false },
        ),
    };

    await expect(
      new S3Archive(config, { client }).store(key, slow, { signal: controller.signal }),
    ).rejects.toThrow('shutting down');
    expect(await headStatus(client, key)).toBe(404);
  });
});
