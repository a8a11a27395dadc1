import { startInProcessSftp } from './sftp-in-process.js';
import { SSHD_PATH, sshdAvailable, startOpenSshSftp } from './sshd.js';

export { startInProcessSftp };

export interface EmbeddedSftp {
  kind: 'openssh' | 'in-process' | 'proftpd' | 'rclone' | 'gesftpserver';
  host: '127.0.0.1';
  port: number;
  username: string;
  privateKeyFile: string;
  /** Exactly as `ssh-keygen -lf` prints it: 'SHA256:' + unpadded base64. */
  hostKeySha256: string;
  /** Absolute local directory; also the absolute remote path to use as the SFTP `directory`. */
  root: string;
  stop(): Promise<void>;
}

export interface EmbeddedSftpOptions {
  baseDir: string;
  /** Fail instead of falling back when OpenSSH is missing (always so when env CI is set). */
  requireOpenSsh?: boolean;
  log?: (line: string) => void;
}

/**
 * The real OpenSSH sshd when installed; otherwise an in-process ssh2 server, announced loudly so
 * nobody mistakes a run against the fallback for one against OpenSSH. CI must use OpenSSH.
 */
export async function startEmbeddedSftp(options: EmbeddedSftpOptions): Promise<EmbeddedSftp> {
  if (await sshdAvailable()) return startOpenSshSftp(options);
  if (options.requireOpenSsh === true || process.env.CI) {
    throw new Error(`OpenSSH sshd not found at ${SSHD_PATH}; install the Debian package openssh-server`);
  }
  options.log?.(
    `[sftp] OpenSSH sshd not found at ${SSHD_PATH}; using the in-process ssh2 SFTP server instead ` +
      '(install openssh-server to test against OpenSSH)',
  );
  return startInProcessSftp(options);
}
