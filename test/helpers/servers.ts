import { inject } from 'vitest';
import type { OtherSftpKind } from '../../src/embedded/other-sftp-servers.js';
import type { ProvidedS3, ProvidedSftp } from '../harness/provided.js';

/** The shared SFTP server started by the global setup. */
export function sftpServer(): ProvidedSftp {
  return inject('sftp');
}

/** The shared S3 server started by the global setup. */
export function s3Server(): ProvidedS3 {
  return inject('s3');
}

/** One of the SFTP servers besides OpenSSH; throws what is missing when the harness could not start it. */
export function otherSftpServer(kind: OtherSftpKind): ProvidedSftp {
  const server = inject('otherSftp')[kind];
  if ('missing' in server) throw new Error(server.missing);
  return server;
}
