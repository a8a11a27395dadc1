import { createHash } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import ssh2 from 'ssh2';

export interface KeyFiles {
  privateKeyFile: string;
  publicKeyFile: string;
  /** The OpenSSH public key line, e.g. 'ssh-ed25519 AAAA… comment'. */
  publicKeyLine: string;
  privateKey: string;
  /** As `ssh-keygen -lf` prints it: 'SHA256:' + unpadded base64. */
  fingerprint: string;
}

/**
 * Writes a fresh ed25519 key pair in OpenSSH format as `<dir>/<name>` and `<dir>/<name>.pub`.
 * Generated in Node (not with ssh-keygen) so the in-process fallback works where OpenSSH is
 * absent. The private key is 0600 because sshd refuses host keys readable by others.
 */
export async function writeEd25519KeyPair(dir: string, name: string): Promise<KeyFiles> {
  const pair = ssh2.utils.generateKeyPairSync('ed25519', { comment: `eod-report-${name}` });
  const privateKeyFile = path.join(dir, name);
  const publicKeyFile = `${privateKeyFile}.pub`;
  const privateKey = pair.private.endsWith('\n') ? pair.private : `${pair.private}\n`;
  const publicKeyLine = pair.public.trim();
  await writeFile(privateKeyFile, privateKey, { mode: 0o600 });
  await writeFile(publicKeyFile, `${publicKeyLine}\n`, { mode: 0o644 });
  return {
    privateKeyFile,
    publicKeyFile,
    publicKeyLine,
    privateKey,
    fingerprint: fingerprintOf(publicKeyLine),
  };
}

/** SHA-256 fingerprint of an OpenSSH public key line, in `ssh-keygen -lf` notation. */
export function fingerprintOf(publicKeyLine: string): string {
  const blob = publicKeyLine.trim().split(/\s+/)[1];
  if (blob === undefined) throw new Error(`not an OpenSSH public key line: ${publicKeyLine}`);
  return fingerprintOfBlob(Buffer.from(blob, 'base64'));
}

/** SHA-256 fingerprint of a raw public key blob (what ssh2's `hostVerifier` receives). */
export function fingerprintOfBlob(blob: Buffer): string {
  return `SHA256:${createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')}`;
}
