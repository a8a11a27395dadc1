/**
 * `rclone serve sftp` (Debian `rclone`; Go's pkg/sftp server over rclone's VFS) on 127.0.0.1,
 * serving the local file system at its real paths. Without a VFS write cache it refuses
 * out-of-order writes (`Illegal seek`), as measured (PRODUCT.md §9).
 */
import { access, chmod, constants, mkdir, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { freePort } from './free-port.js';
import type { EmbeddedSftp } from './sftp-server.js';
import { writeEd25519KeyPair } from './ssh-keys.js';
import { spawnSshServer } from './sshd.js';

export const RCLONE_PATH = '/usr/bin/rclone';

export interface RcloneOptions {
  baseDir: string;
  /** Directory name under baseDir (several rclones may share a baseDir). */
  name?: string;
  log?: (line: string) => void;
  /** `--vfs-cache-mode writes`: buffer writes locally, which allows out-of-order writes. */
  writeCache?: boolean;
  /** `--pass`: also accept this password for the user (the client key still works). */
  password?: string;
}

export async function rcloneAvailable(): Promise<boolean> {
  return access(RCLONE_PATH, constants.X_OK).then(
    () => true,
    () => false,
  );
}

export async function startRcloneSftp(options: RcloneOptions): Promise<EmbeddedSftp> {
  if (!(await rcloneAvailable())) {
    throw new Error(`rclone not found at ${RCLONE_PATH}; install the Debian package rclone`);
  }
  const name = options.name ?? 'rclone';
  const dir = path.join(options.baseDir, name);
  const root = path.join(options.baseDir, `${name}-root`);
  await mkdir(dir, { recursive: true });
  await mkdir(root, { recursive: true, mode: 0o755 });
  await chmod(root, 0o755);
  const hostKey = await writeEd25519KeyPair(dir, 'host_ed25519');
  const clientKey = await writeEd25519KeyPair(dir, 'client_ed25519');
  const authorizedKeys = path.join(dir, 'authorized_keys');
  await writeFile(authorizedKeys, `${clientKey.publicKeyLine}\n`, { mode: 0o600 });
  const username = os.userInfo().username;

  const port = await freePort();
  const args = [
    'serve',
    'sftp',
    '/',
    // No rclone.conf is read or written: everything is on the command line.
    '--config',
    '/dev/null',
    '--addr',
    `127.0.0.1:${port}`,
    '--key',
    hostKey.privateKeyFile,
    '--authorized-keys',
    authorizedKeys,
    '--user',
    username,
    '--cache-dir',
    path.join(dir, 'cache'),
    // Files and directories the tests create behind rclone's back must show at once.
    '--dir-cache-time',
    '0s',
    ...(options.writeCache ? ['--vfs-cache-mode', 'writes'] : []),
    ...(options.password === undefined ? [] : ['--pass', options.password]),
  ];
  const { stop } = await spawnSshServer({
    command: RCLONE_PATH,
    args,
    name,
    label: 'rclone serve sftp',
    port,
    ...(options.log && { log: options.log }),
  });
  return {
    kind: 'rclone',
    host: '127.0.0.1',
    port,
    username,
    privateKeyFile: clientKey.privateKeyFile,
    hostKeySha256: hostKey.fingerprint,
    root,
    stop,
  };
}
