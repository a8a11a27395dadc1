/**
 * The SFTP servers besides OpenSSH that delivery is tested against (issue 10): ProFTPD mod_sftp,
 * `rclone serve sftp` (no write cache, its default) and gesftpserver as the SFTP subsystem of an
 * sshd. Each comes from a Debian package; a start failure names the package to install.
 */
import { access, constants } from 'node:fs/promises';
import { startProftpdSftp } from './proftpd.js';
import { startRcloneSftp } from './rclone.js';
import type { EmbeddedSftp } from './sftp-server.js';
import { startOpenSshSftp } from './sshd.js';

export const GESFTPSERVER_PATH = '/usr/libexec/gesftpserver';

export type OtherSftpKind = 'proftpd' | 'rclone' | 'gesftpserver';
export const OTHER_SFTP_KINDS: readonly OtherSftpKind[] = ['proftpd', 'rclone', 'gesftpserver'];

export interface OtherSftpOptions {
  baseDir: string;
  log?: (line: string) => void;
}

export async function startGesftpserver(
  options: OtherSftpOptions & { name?: string },
): Promise<EmbeddedSftp> {
  const present = await access(GESFTPSERVER_PATH, constants.X_OK).then(
    () => true,
    () => false,
  );
  if (!present)
    throw new Error(
      `gesftpserver not found at ${GESFTPSERVER_PATH}; install the Debian package gesftpserver`,
    );
  return startOpenSshSftp({
    ...options,
    name: options.name ?? 'gesftpserver',
    kind: 'gesftpserver',
    subsystem: GESFTPSERVER_PATH,
  });
}

export function startOtherSftp(kind: OtherSftpKind, options: OtherSftpOptions): Promise<EmbeddedSftp> {
  switch (kind) {
    case 'proftpd':
      return startProftpdSftp(options);
    case 'rclone':
      return startRcloneSftp(options);
    case 'gesftpserver':
      return startGesftpserver(options);
  }
}
