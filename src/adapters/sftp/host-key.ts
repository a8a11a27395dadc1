/**
 * SFTP host key pinning (PRODUCT.md §7). The server's key must match a configured SHA-256
 * fingerprint or an entry of a known_hosts file; there is no trust-on-first-use and no prompt.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { SftpConfig } from '../../config/schema.js';
import { EodError } from '../../core/errors.js';

/** `SHA256:` + unpadded base64 of the key blob's SHA-256, as `ssh-keygen -lf` prints it. */
export function fingerprintSha256(keyBlob: Buffer): string {
  return `SHA256:${createHash('sha256').update(keyBlob).digest('base64').replace(/=+$/, '')}`;
}

/** The config accepts a trailing `=`; ssh-keygen never prints one. Compare without it. */
export function normalizeFingerprint(text: string): string {
  return text.trim().replace(/=+$/, '');
}

/** The key type written inside an SSH public key blob (its first string), or undefined. */
export function keyBlobType(keyBlob: Buffer): string | undefined {
  if (keyBlob.length < 4) return undefined;
  const length = keyBlob.readUInt32BE(0);
  if (length === 0 || length > 64 || 4 + length > keyBlob.length) return undefined;
  return keyBlob.toString('latin1', 4, 4 + length);
}

export interface KnownHostsEntry {
  marker: 'revoked' | 'cert-authority' | undefined;
  /** The host field as written: a comma list of patterns, or one `|1|salt|hash`. */
  hosts: string;
  keyType: string;
  keyBlob: Buffer;
  fingerprint: string;
  line: number;
}

/**
 * Parses OpenSSH known_hosts text. Comments, blank lines and malformed lines are skipped (as
 * ssh does); a line whose base64 blob does not carry the key type it claims is malformed.
 */
export function parseKnownHosts(text: string): KnownHostsEntry[] {
  const entries: KnownHostsEntry[] = [];
  const lines = text.split(/\r?\n/);
  lines.forEach((raw, index) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const fields = line.split(/\s+/);
    let marker: KnownHostsEntry['marker'];
    if (fields[0]?.startsWith('@')) {
      const name = fields.shift();
      if (name === '@revoked') marker = 'revoked';
      else if (name === '@cert-authority') marker = 'cert-authority';
      else return;
    }
    const [hosts, keyType, base64] = fields;
    if (hosts === undefined || keyType === undefined || base64 === undefined) return;
    if (!/^[A-Za-z0-9+/]+={0,2}$/.test(base64)) return;
    const keyBlob = Buffer.from(base64, 'base64');
    if (keyBlobType(keyBlob) !== keyType) return;
    entries.push({
      marker,
      hosts,
      keyType,
      keyBlob,
      fingerprint: fingerprintSha256(keyBlob),
      line: index + 1,
    });
  });
  return entries;
}

/** The name ssh looks up: `host` on port 22, `[host]:port` otherwise (lower-cased, like ssh). */
export function knownHostsName(host: string, port: number): string {
  const name = host.toLowerCase();
  return port === 22 ? name : `[${name}]:${port}`;
}

function globToRegExp(pattern: string): RegExp {
  const body = pattern
    .replace(/[.+^${}()|[\]\\]/g, '\\$&')
    .replace(/\*/g, '.*')
    .replace(/\?/g, '.');
  return new RegExp(`^${body}$`, 'i');
}

function hashedMatches(field: string, name: string): boolean {
  const [, magic, salt, hash] = field.split('|');
  if (magic !== '1' || salt === undefined || hash === undefined) return false;
  const expected = Buffer.from(hash, 'base64');
  const actual = createHmac('sha1', Buffer.from(salt, 'base64')).update(name).digest();
  return expected.length === actual.length && timingSafeEqual(expected, actual);
}

/** Whether an entry's host field names `host:port`; a matching `!pattern` excludes it, as in ssh. */
export function entryMatchesHost(entry: Pick<KnownHostsEntry, 'hosts'>, host: string, port: number): boolean {
  const name = knownHostsName(host, port);
  if (entry.hosts.startsWith('|')) return hashedMatches(entry.hosts, name);
  let matched = false;
  for (const pattern of entry.hosts.split(',')) {
    if (pattern === '') continue;
    const negated = pattern.startsWith('!');
    if (globToRegExp(negated ? pattern.slice(1) : pattern).test(name)) {
      if (negated) return false;
      matched = true;
    }
  }
  return matched;
}

export interface HostKeyPin {
  fingerprint: string;
  /** Where the pin comes from, for error messages: a config path or `file:line`. */
  source: string;
  keyType?: string;
}

export interface HostKeyPins {
  host: string;
  port: number;
  accepted: HostKeyPin[];
  revoked: HostKeyPin[];
  /** What was consulted, for the message when nothing matches. */
  sources: string[];
}

type PinConfig = Pick<SftpConfig, 'host' | 'port' | 'hostKeySha256' | 'knownHostsFile'>;

/** Collects the pins for one server from the config (and its known_hosts file, read now). */
export async function loadHostKeyPins(config: PinConfig): Promise<HostKeyPins> {
  const pins: HostKeyPins = { host: config.host, port: config.port, accepted: [], revoked: [], sources: [] };
  if (config.hostKeySha256 !== undefined) {
    const source = 'reports[].sftp.hostKeySha256';
    pins.accepted.push({ fingerprint: normalizeFingerprint(config.hostKeySha256), source });
    pins.sources.push(source);
  }
  if (config.knownHostsFile !== undefined) {
    const file = config.knownHostsFile;
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (error) {
      const reason = (error as NodeJS.ErrnoException).code ?? 'unreadable';
      throw new EodError(
        'HOST_KEY_REJECTED',
        `SFTP known_hosts file ${file} (reports[].sftp.knownHostsFile) cannot be read (${reason}); refusing to connect without a pinned host key`,
        { host: config.host, port: config.port, knownHostsFile: file },
        { cause: error },
      );
    }
    pins.sources.push(`${file} (entries for ${knownHostsName(config.host, config.port)})`);
    for (const entry of parseKnownHosts(text)) {
      // A CA line does not pin a host key, and we do not accept host certificates.
      if (entry.marker === 'cert-authority' || !entryMatchesHost(entry, config.host, config.port)) continue;
      const pin = { fingerprint: entry.fingerprint, source: `${file}:${entry.line}`, keyType: entry.keyType };
      (entry.marker === 'revoked' ? pins.revoked : pins.accepted).push(pin);
    }
  }
  return pins;
}

/**
 * ssh2 negotiates the host key algorithm before we see the key. When the pins say which key
 * types we know (known_hosts), offer those first, like ssh does, so a server with several keys
 * presents one we can check. Undefined means: keep ssh2's default order.
 */
export function preferredHostKeyAlgorithms(pins: HostKeyPins): string[] | undefined {
  const all = [
    'ssh-ed25519',
    'ecdsa-sha2-nistp256',
    'ecdsa-sha2-nistp384',
    'ecdsa-sha2-nistp521',
    'rsa-sha2-512',
    'rsa-sha2-256',
    'ssh-rsa',
  ];
  const known = new Set(pins.accepted.map((pin) => pin.keyType).filter((type) => type !== undefined));
  if (known.size === 0) return undefined;
  const usable = (algorithm: string) => known.has(algorithm.startsWith('rsa-sha2-') ? 'ssh-rsa' : algorithm);
  return [...all.filter(usable), ...all.filter((algorithm) => !usable(algorithm))];
}

function describeEndpoint(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

function describePins(pins: HostKeyPin[]): string {
  return pins.map((pin) => `${pin.fingerprint} (${pin.source})`).join(', ');
}

/** The verdict on one offered key: undefined when accepted, else the refusal to throw. */
export function judgeHostKey(pins: HostKeyPins, keyBlob: Buffer): EodError | undefined {
  const offered = fingerprintSha256(keyBlob);
  const offeredType = keyBlobType(keyBlob) ?? 'unknown type';
  const endpoint = describeEndpoint(pins.host, pins.port);
  const facts = {
    host: pins.host,
    port: pins.port,
    offered,
    offeredType,
    expected: pins.accepted.map((pin) => pin.fingerprint),
  };
  const revoked = pins.revoked.filter((pin) => pin.fingerprint === offered);
  if (revoked.length > 0) {
    return new EodError(
      'HOST_KEY_REJECTED',
      `SFTP host key of ${endpoint} is revoked: server offered ${offered} (${offeredType}), marked @revoked in ${revoked.map((pin) => pin.source).join(', ')}`,
      facts,
    );
  }
  if (pins.accepted.some((pin) => pin.fingerprint === offered)) return undefined;
  const expected =
    pins.accepted.length > 0
      ? `expected ${describePins(pins.accepted)}`
      : `no pinned key found in ${pins.sources.join(', ') || 'the configuration'}`;
  return new EodError(
    'HOST_KEY_REJECTED',
    `SFTP host key of ${endpoint} is not pinned: server offered ${offered} (${offeredType}), ${expected}`,
    facts,
  );
}

/**
 * A stateful check for one connection: ssh2 reports a refused key only as a generic handshake
 * error, so the verifier remembers its own verdict for the caller to throw instead.
 */
export class HostKeyCheck {
  offered: string | undefined;
  rejection: EodError | undefined;

  constructor(readonly pins: HostKeyPins) {}

  /** For ssh2's `hostVerifier`: true only for a pinned, unrevoked key. Never auto-accepts. */
  readonly verify = (keyBlob: Buffer): boolean => {
    this.offered = fingerprintSha256(keyBlob);
    this.rejection = judgeHostKey(this.pins, keyBlob);
    return this.rejection === undefined;
  };
}
