/**
 * ProFTPD with mod_sftp (Debian `proftpd-core` + `proftpd-mod-crypto`) on 127.0.0.1, for testing
 * delivery against an SFTP server that is not OpenSSH. Config lines measured to work here as
 * root and as a normal user; quirks of regulators' servers are config switches (PRODUCT.md §9).
 */
import { access, chmod, constants, mkdir, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { freePort } from './free-port.js';
import type { EmbeddedSftp } from './sftp-server.js';
import { writeEd25519KeyPair } from './ssh-keys.js';
import { spawnSshServer } from './sshd.js';

export const PROFTPD_PATH = '/usr/sbin/proftpd';
export const PROFTPD_MOD_SFTP = '/usr/lib/proftpd/mod_sftp.so';

/** A directory with SFTP commands denied (ProFTPD `<Limit …> DenyAll` inside `<Directory>`). */
export interface ProftpdLimit {
  /** Absolute path; the directory and everything below it. */
  directory: string;
  /** ProFTPD command groups/names, e.g. ['SITE_CHMOD'] or ['READ', 'STAT', 'LIST']. */
  deny: readonly string[];
}

export interface ProftpdOptions {
  baseDir: string;
  /** Directory name under baseDir (several ProFTPDs may share a baseDir). */
  name?: string;
  log?: (line: string) => void;
  /** false: `SFTPExtensions -posixRename` (a server with plain SFTP v3 rename only). */
  posixRename?: boolean;
  limits?: readonly ProftpdLimit[];
  /** More proftpd.conf lines. */
  extraConfig?: readonly string[];
}

/** The Debian package that is missing for ProFTPD mod_sftp, or undefined when both are there. */
export async function proftpdMissingPackage(): Promise<string | undefined> {
  const present = (file: string) =>
    access(file, constants.R_OK).then(
      () => true,
      () => false,
    );
  if (!(await present(PROFTPD_PATH))) return 'proftpd-core';
  if (!(await present(PROFTPD_MOD_SFTP))) return 'proftpd-mod-crypto';
  return undefined;
}

/** RFC 4716 public key block: mod_sftp reads authorized keys only in this format. */
export function rfc4716(publicKeyLine: string): string {
  const blob = publicKeyLine.trim().split(/\s+/)[1] ?? '';
  const lines = blob.match(/.{1,70}/g) ?? [];
  return ['---- BEGIN SSH2 PUBLIC KEY ----', ...lines, '---- END SSH2 PUBLIC KEY ----', ''].join('\n');
}

export async function startProftpdSftp(options: ProftpdOptions): Promise<EmbeddedSftp> {
  const missing = await proftpdMissingPackage();
  if (missing !== undefined) {
    throw new Error(`ProFTPD mod_sftp is not installed; install the Debian package ${missing}`);
  }
  const name = options.name ?? 'proftpd';
  const dir = path.join(options.baseDir, name);
  const root = path.join(options.baseDir, `${name}-root`);
  await mkdir(dir, { recursive: true });
  await mkdir(root, { recursive: true, mode: 0o755 });
  await chmod(root, 0o755);

  const hostKey = await writeEd25519KeyPair(dir, 'host_ed25519');
  const clientKey = await writeEd25519KeyPair(dir, 'client_ed25519');
  const authorizedKeys = path.join(dir, 'authorized_keys');
  await writeFile(authorizedKeys, rfc4716(clientKey.publicKeyLine), { mode: 0o600 });

  // Our own user database: the login maps to the uid/gid running the tests, so files land as
  // ours. mod_auth_file refuses world-readable files.
  const user = os.userInfo();
  const group = user.gid === 0 ? 'root' : `g${user.gid}`;
  const passwdFile = path.join(dir, 'passwd');
  const groupFile = path.join(dir, 'group');
  await writeFile(passwdFile, `${user.username}:x:${user.uid}:${user.gid}::${root}:/bin/sh\n`, {
    mode: 0o600,
  });
  await writeFile(groupFile, `${group}:x:${user.gid}:\n`, { mode: 0o600 });

  const port = await freePort();
  const logFile = path.join(dir, 'proftpd.log');
  const configFile = path.join(dir, 'proftpd.conf');
  const asRoot = user.uid === 0;
  const limits = (options.limits ?? []).flatMap((limit) => [
    `<Directory ${limit.directory}>`,
    `  <Limit ${limit.deny.join(' ')}>`,
    '    DenyAll',
    '  </Limit>',
    '</Directory>',
  ]);
  await writeFile(
    configFile,
    [
      'ModulePath /usr/lib/proftpd',
      'LoadModule mod_sftp.c',
      'ServerType standalone',
      'ServerName eod-test',
      'DefaultServer on',
      'DefaultAddress 127.0.0.1',
      `Port ${port}`,
      `PidFile ${path.join(dir, 'proftpd.pid')}`,
      `ScoreboardFile ${path.join(dir, 'scoreboard')}`,
      'DelayTable none',
      'WtmpLog off',
      'UseReverseDNS off',
      'TransferLog none',
      `SystemLog ${logFile}`,
      `User ${user.username}`,
      `Group ${group}`,
      ...(asRoot ? ['RootLogin on'] : []),
      'AuthOrder mod_auth_file.c',
      `AuthUserFile ${passwdFile}`,
      `AuthGroupFile ${groupFile}`,
      'RequireValidShell off',
      'UseFtpUsers off',
      'SFTPEngine on',
      `SFTPLog ${path.join(dir, 'sftp.log')}`,
      `SFTPHostKey ${hostKey.privateKeyFile}`,
      'SFTPAuthMethods publickey',
      `SFTPAuthorizedUserKeys file:${authorizedKeys}`,
      // No chroot: remote paths are local absolute paths, as with the OpenSSH harness server.
      'Umask 022',
      'AllowOverwrite on',
      ...(options.posixRename === false ? ['SFTPExtensions -posixRename'] : []),
      ...limits,
      ...(options.extraConfig ?? []),
      '',
    ].join('\n'),
  );

  const { stop } = await spawnSshServer({
    command: PROFTPD_PATH,
    args: ['--nodaemon', '--config', configFile],
    name,
    label: `ProFTPD (${PROFTPD_PATH})`,
    port,
    logFile,
    ...(options.log && { log: options.log }),
  });
  return {
    kind: 'proftpd',
    host: '127.0.0.1',
    port,
    username: user.username,
    privateKeyFile: clientKey.privateKeyFile,
    hostKeySha256: hostKey.fingerprint,
    root,
    stop,
  };
}
