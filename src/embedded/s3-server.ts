import { createHash, randomUUID } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { IncomingMessage, type Server } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { type Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';

export interface EmbeddedS3 {
  /** http://127.0.0.1:<port>; use path-style addressing. */
  endpoint: string;
  region: 'us-east-1';
  accessKeyId: 'S3RVER';
  secretAccessKey: 'S3RVER';
  /** Where s3rver keeps buckets and objects on disk. */
  directory: string;
  stop(): Promise<void>;
}

/**
 * Known behaviour of s3rver 3.7.1 (PRODUCT.md §9) that tests must not rely on:
 * - it ignores If-None-Match, so a conditional put overwrites like a plain one;
 * - a streamed PutObject with aws-chunked framing is stored with the framing, so clients must use
 *   `requestChecksumCalculation: 'WHEN_REQUIRED'`;
 * - it verifies no checksum and reports none (measured 2026-11-30: a wrong x-amz-checksum-sha256 or
 *   -crc64nvme on PutObject, UploadPart or a FULL_OBJECT CompleteMultipartUpload is accepted, and
 *   no response or HeadObject carries a checksum), so tests play real S3's answers themselves.
 * Its partial-object defect is fixed here, see `makePutObjectAtomic`.
 */
export async function startEmbeddedS3(options: {
  baseDir: string;
  buckets?: string[];
  log?: (line: string) => void;
}): Promise<EmbeddedS3> {
  const directory = path.join(options.baseDir, 's3');
  await mkdir(directory, { recursive: true });

  // Loaded here rather than imported at the top so importing this module has no side effects
  // (s3rver pulls in koa, winston and friends); it is CommonJS without type definitions.
  const S3rver = createRequire(import.meta.url)('s3rver') as S3rverConstructor;
  const server = new S3rver({
    // Port 0: the kernel picks a free port at listen time, so no race with other processes.
    port: 0,
    address: '127.0.0.1',
    silent: true,
    directory,
    configureBuckets: (options.buckets ?? []).map((name) => ({ name })),
  });
  makePutObjectAtomic(server.store);
  serveMultipartUploadListing(server);
  if (options.log) {
    const log = options.log;
    server.on('error', (error: Error) => log(`[s3rver] request failed: ${error.message}`));
  }

  let address: AddressInfo;
  try {
    address = await server.run();
  } catch (error) {
    throw new Error(
      `s3rver could not start on 127.0.0.1 (directory ${directory}): ${(error as Error).message}`,
    );
  }
  const endpoint = `http://127.0.0.1:${address.port}`;
  options.log?.(`[s3rver] listening on ${endpoint}, storing in ${directory}`);

  return {
    endpoint,
    region: 'us-east-1',
    accessKeyId: 'S3RVER',
    secretAccessKey: 'S3RVER',
    directory,
    stop: async () => {
      // close() alone waits for keep-alive sockets of SDK clients that may never be closed.
      server.httpServer?.closeAllConnections();
      await server.close();
    },
  };
}

/** The slice of s3rver's API used here (lib/s3rver.js, lib/stores/filesystem.js). */
interface S3rverConstructor {
  new (options: {
    port: number;
    address: string;
    silent: boolean;
    directory: string;
    configureBuckets: Array<{ name: string }>;
  }): S3rverInstance;
}

interface S3rverInstance {
  store: FilesystemStore;
  /** Koa's middleware list (s3rver extends Koa); composed when `run()` starts the server. */
  middleware: KoaMiddleware[];
  httpServer?: Server;
  run(): Promise<AddressInfo>;
  close(): Promise<void>;
  on(event: 'error', listener: (error: Error) => void): unknown;
}

interface StoredObject {
  bucket: string;
  key: string;
  content: Readable | Buffer;
  metadata: Record<string, string>;
}

interface KoaContext {
  method: string;
  path: string;
  query: Record<string, string | string[] | undefined>;
  status: number;
  body: unknown;
  type: string;
}
type KoaMiddleware = (ctx: KoaContext, next: () => Promise<void>) => Promise<void>;

interface FilesystemStore {
  getResourcePath(bucket: string, key: string | undefined, resource: string): string;
  putMetadata(bucket: string, key: string, metadata: Record<string, string>, md5: string): Promise<void>;
  putObject(object: StoredObject): Promise<{ size: number; md5: string }>;
}

/**
 * s3rver's FilesystemStore.putObject pipes the request body straight into the object's file, so
 * a client killed mid-upload leaves a truncated object that GET and LIST return (seen: 243 MB of
 * a 300 MB body). Real S3 never shows a partial object, and crash tests must not mistake this
 * artefact for a conflicting object. We replace the method on this server's store instance (the
 * package is not edited): the body goes to a temp file in the same directory, which is renamed
 * over the object's file only when the body arrived complete, and deleted otherwise. The temp
 * name does not end in s3rver's object suffix, so listings never show it. Multipart completion
 * calls `this.putObject` and so becomes atomic as well. Metadata and the md5 file are written
 * right after the rename, as s3rver does; that short window is harmless for tests.
 */
function makePutObjectAtomic(store: FilesystemStore): void {
  store.putObject = async (object: StoredObject) => {
    const objectPath = store.getResourcePath(object.bucket, object.key, 'object');
    await mkdir(path.dirname(objectPath), { recursive: true });
    const tempPath = `${objectPath}.upload-${randomUUID()}`;
    const md5 = createHash('md5');
    let size = 0;
    try {
      if (Buffer.isBuffer(object.content)) {
        md5.update(object.content);
        size = object.content.length;
        await writeFile(tempPath, object.content);
      } else {
        const measure = new Transform({
          transform(chunk: Buffer, _encoding, callback) {
            md5.update(chunk);
            size += chunk.length;
            callback(null, chunk);
          },
        });
        await pipeline(object.content, measure, createWriteStream(tempPath));
        // pipeline rejects when the socket closes early; `complete` double-checks that the
        // whole HTTP body arrived.
        if (object.content instanceof IncomingMessage && !object.content.complete) {
          throw new Error('request body ended before it was complete');
        }
      }
      await rename(tempPath, objectPath);
    } catch (error) {
      await rm(tempPath, { force: true });
      throw error;
    }
    const digest = md5.digest('hex');
    await store.putMetadata(object.bucket, object.key, object.metadata, digest);
    return { size, md5: digest };
  };
}

/**
 * s3rver 3.7.1 answers NotImplemented to ListMultipartUploads and 405 to AbortMultipartUpload,
 * so unfinished uploads could be neither found nor removed. This serves both (path-style
 * requests) from its own upload directories (`<bucket>/.../uploads/<uploadId>/key`), enough for
 * the run's cleanup of a crashed attempt's staged upload to be tested for real.
 */
function serveMultipartUploadListing(server: S3rverInstance): void {
  const store = server.store;
  const xml = (text: string) =>
    text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
  const uploadsDir = (bucket: string) => store.getResourcePath(bucket, undefined, 'uploads');
  server.middleware.unshift(async (ctx, next) => {
    const [, bucket, ...rest] = ctx.path.split('/');
    const key = rest.map((segment) => decodeURIComponent(segment)).join('/');
    if (ctx.method === 'GET' && bucket && key === '' && 'uploads' in ctx.query) {
      const dir = uploadsDir(bucket);
      const prefix = typeof ctx.query.prefix === 'string' ? ctx.query.prefix : '';
      const ids = await readdir(dir).catch(() => [] as string[]);
      const uploads: string[] = [];
      for (const id of ids.sort()) {
        const uploadKey = await readFile(path.join(dir, id, 'key'), 'utf8').catch(() => undefined);
        if (uploadKey === undefined || !uploadKey.startsWith(prefix)) continue;
        const initiated = (await stat(path.join(dir, id))).birthtime.toISOString();
        uploads.push(
          `<Upload><Key>${xml(uploadKey)}</Key><UploadId>${xml(id)}</UploadId><Initiated>${initiated}</Initiated></Upload>`,
        );
      }
      ctx.type = 'application/xml';
      ctx.body = `<?xml version="1.0" encoding="UTF-8"?><ListMultipartUploadsResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Bucket>${xml(bucket)}</Bucket><Prefix>${xml(prefix)}</Prefix><MaxUploads>1000</MaxUploads><IsTruncated>false</IsTruncated>${uploads.join('')}</ListMultipartUploadsResult>`;
      return;
    }
    const uploadId = ctx.query.uploadId;
    if (ctx.method === 'DELETE' && bucket && key !== '' && typeof uploadId === 'string') {
      const dir = path.join(uploadsDir(bucket), path.basename(uploadId));
      const uploadKey = await readFile(path.join(dir, 'key'), 'utf8').catch(() => undefined);
      if (uploadKey !== key) {
        ctx.status = 404;
        ctx.type = 'application/xml';
        ctx.body = `<?xml version="1.0" encoding="UTF-8"?><Error><Code>NoSuchUpload</Code><Message>The specified upload does not exist.</Message><UploadId>${xml(uploadId)}</UploadId></Error>`;
        return;
      }
      await rm(dir, { recursive: true, force: true });
      ctx.status = 204;
      return;
    }
    await next();
  });
}
