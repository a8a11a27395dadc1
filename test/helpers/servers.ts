import { inject } from 'vitest';
import type { ProvidedS3, ProvidedSftp } from '../harness/provided.js';

/** The shared SFTP server started by the global setup. */
export function sftpServer(): ProvidedSftp {
  return inject('sftp');
}

/** The shared S3 server started by the global setup. */
export function s3Server(): ProvidedS3 {
  return inject('s3');
}
