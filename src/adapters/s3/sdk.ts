/**
 * The classes of the AWS SDK's S3 client that the adapter uses as values, loaded with require().
 * The package is CommonJS, bundled into one 270 KB file: imported from ESM, Node reads that file
 * twice more before running it (to detect its module format, then to list its exports with
 * cjs-module-lexer), about 50 ms of CPU per process on this 2-core host (issue 11). require()
 * returns the same module instance that an `import` of the package gets, so `instanceof` holds
 * across both. Types still come from `import type … from '@aws-sdk/client-s3'`.
 */
import { createRequire } from 'node:module';

const sdk = createRequire(import.meta.url)('@aws-sdk/client-s3') as typeof import('@aws-sdk/client-s3');

export const {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  PutObjectCommand,
  S3Client,
  UploadPartCommand,
} = sdk;
/** The client's instance type, under the same name as its class (as the package exports it). */
export type S3Client = import('@aws-sdk/client-s3').S3Client;
