import type { S3Config } from '../../config/schema.js';
import { S3Client } from './sdk.js';

/**
 * One client per archive config. Credentials are deliberately absent: the SDK's default chain
 * (environment, profiles, SSO, instance/container roles) is what operators expect, and keeps
 * secrets out of our config and out of anything we could print.
 *
 * Deadlines (PRODUCT.md §9: requestTimeout alone only logs a warning, so throwOnRequestTimeout):
 * connectTimeout for the TCP connection, requestTimeout for each whole request (the ones carrying
 * the report's bytes lift it per request, see s3-archive.ts), and noProgressTimeout as the socket's
 * idle limit, which bounds an upload that stopped moving or an answer that never comes.
 */
export function createS3Client(config: S3Config): S3Client {
  return new S3Client({
    region: config.region,
    ...(config.endpoint === undefined ? {} : { endpoint: config.endpoint }),
    forcePathStyle: config.forcePathStyle,
    // With the SDK default (WHEN_SUPPORTED) a streamed PutObject is sent aws-chunked with a
    // trailing CRC32; s3rver stores that framing as the object's bytes. We send our own
    // full-object SHA-256 as a header instead (known before uploading), which real S3 verifies,
    // so nothing is lost by only computing checksums where an operation requires one.
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    // The options of the SDK's own NodeHttpHandler, which builds it from them.
    requestHandler: {
      connectionTimeout: config.connectTimeout,
      requestTimeout: config.requestTimeout,
      throwOnRequestTimeout: true,
      socketTimeout: config.noProgressTimeout,
    },
  });
}
