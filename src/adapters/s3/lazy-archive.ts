/**
 * The S3 archive, with the AWS SDK loaded on first use rather than when the CLI starts. The SDK is
 * the largest part of start-up (about 120 ms of CPU on this 2-core host, issue 11), and `run` first
 * needs it once the report's query has produced its first byte (the one pass stages the upload
 * then): loaded there, it overlaps the SSH handshake and the query instead of holding back the
 * first SQL. Measured: loading it when the archive is created, before the query is sent, delayed
 * the query by the whole load.
 */
import type { S3Config } from '../../config/schema.js';
import type { Archive, ArchiveOptions, ReportContent } from '../../ports.js';
import type { S3Archive, S3ArchiveOptions } from './s3-archive.js';

/**
 * An Archive that behaves as `new S3Archive(config, options)`; the first method called loads the
 * module and builds the client, and every call waits for that. A failure to load or to build the
 * client is thrown by each call.
 */
export function lazyS3Archive(config: S3Config, options: S3ArchiveOptions = {}): Archive {
  let loading: Promise<S3Archive> | undefined;
  const load = () => {
    loading ??= import('./s3-archive.js').then(({ S3Archive }) => new S3Archive(config, options));
    return loading;
  };
  return {
    store: async (key: string, content: ReportContent, storeOptions?: ArchiveOptions) =>
      (await load()).store(key, content, storeOptions),
    stage: async (key: string, content: ReportContent, signal?: AbortSignal) =>
      (await load()).stage(key, content, signal),
    abortStale: async (key: string, signal?: AbortSignal) => (await load()).abortStale(key, signal),
    check: async () => (await load()).check(),
  };
}
