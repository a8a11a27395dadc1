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
  const pair = generateParsableEd25519(`eod-report-${name}`);
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

/**
 * ssh2 1.17 writes about one ed25519 key in 300 that its own parser (and so its server) rejects as
 * "Malformed OpenSSH private key" (measured: 10 of 3000). Generate until the key parses.
 */
export function generateParsableEd25519(comment: string): { private: string; public: string } {
  for (let attempt = 1; ; attempt++) {
    const pair = ssh2.utils.generateKeyPairSync('ed25519', { comment });
    if (!(ssh2.utils.parseKey(pair.private) instanceof Error)) return pair;
    if (attempt === 20) throw new Error('could not generate a parsable ed25519 key with ssh2');
  }
}
