import type { OtherSftpKind } from '../../src/embedded/other-sftp-servers.js';
import type { EmbeddedS3 } from '../../src/embedded/s3-server.js';
import type { EmbeddedSftp } from '../../src/embedded/sftp-server.js';

/** What the global setup hands to every test file; plain data, since it crosses processes. */
export type ProvidedSftp = Omit<EmbeddedSftp, 'stop'>;
export type ProvidedS3 = Omit<EmbeddedS3, 'stop'>;

declare module 'vitest' {
  export interface ProvidedContext {
    /** Superuser URL to the database 'postgres' of the shared test server. */
    pgAdminUrl: string;
    sftp: ProvidedSftp;
    s3: ProvidedS3;
    /** SFTP servers besides OpenSSH, or why one could not be started (never on CI). */
    otherSftp: Record<OtherSftpKind, ProvidedSftp | { missing: string }>;
  }
}
