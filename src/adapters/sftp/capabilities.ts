/**
 * What the regulator's server can do (from what it announced) and what the delivery will do
 * there, decided once per connection from the server and the config (PRODUCT.md §3.2). The plan
 * is logged once per connection and recorded in the submission's proof.
 */
import type { SftpConfig } from '../../config/schema.js';
import type { DeliveryProof } from '../../ports.js';
import type { RemoteFs } from './remote-fs.js';

export const POSIX_RENAME = 'posix-rename@openssh.com';
export const FSYNC = 'fsync@openssh.com';
export const LIMITS = 'limits@openssh.com';

/**
 * Write length tried first on servers that announce no limits: what OpenSSH's sftp-server
 * announces (256 KiB messages). ProFTPD and rclone take it; with ssh2's 32 KiB default each
 * request costs enough that ProFTPD ran at half of `sftp put`'s speed (measured, bench).
 */
export const LARGE_WRITE_LENGTH = 261_120;

export interface ServerCapabilities {
  /** Extensions announced in the server's SFTP VERSION packet. */
  extensions: readonly string[];
  posixRename: boolean;
  fsync: boolean;
  /** Bytes per WRITE request the server announced (limits@openssh.com), if it did. */
  announcedWriteLength?: number;
  /** ssh2's conservative length for servers that announce none (about 32 KiB). */
  defaultWriteLength: number;
}

export function capabilitiesOf(remote: RemoteFs): ServerCapabilities {
  const extensions = remote.extensions();
  return {
    extensions,
    posixRename: extensions.includes(POSIX_RENAME),
    fsync: extensions.includes(FSYNC),
    ...(extensions.includes(LIMITS) ? { announcedWriteLength: remote.maxWriteLength() } : {}),
    defaultWriteLength: remote.maxWriteLength(),
  };
}

/**
 * How the temporary file becomes the final one: `posix-rename` (atomic), `rename` (plain SFTP v3
 * RENAME after confirming the final name is absent; most servers refuse an existing target),
 * `direct` (no temporary file: the final name is written, `sftp.atomicity: direct`).
 */
export type RenameMethod = 'posix-rename' | 'rename' | 'direct';

export interface DeliveryPlan {
  rename: RenameMethod;
  verify: SftpConfig['verify'];
  /** Mode set with SETSTAT, or null for none (the server's default). */
  mode: number | null;
  /** Directory of the temporary file (`tempDirectory`, else `directory`). */
  tempDirectory: string;
  /** Bytes per write request: never more than the server announced. */
  writeLength: number;
  /** Write requests awaiting an answer at once; 1 = strictly in order. */
  maxInFlight: number;
  /** What to try when the server refuses a write: shorter writes, then writes in order. */
  fallbacks: Array<{ writeLength: number; maxInFlight: number }>;
}

/** Bytes awaiting the server's answer at once by default: OpenSSH's `sftp` keeps 64 × 32 KiB. */
export const DEFAULT_BYTES_IN_FLIGHT = 2 * 1024 * 1024;
const MAX_DEFAULT_IN_FLIGHT = 64;

export function planDelivery(
  config: SftpConfig,
  capabilities: ServerCapabilities,
  overrides: { writeSize?: number; maxInFlight?: number } = {},
): DeliveryPlan {
  const requested = overrides.writeSize ?? config.writeSize;
  const cap = capabilities.announcedWriteLength;
  // Announced limits are the truth; otherwise a large write first, ssh2's default if refused.
  const lengths =
    requested !== undefined
      ? [cap === undefined ? requested : Math.min(requested, cap)]
      : cap !== undefined
        ? [cap]
        : [LARGE_WRITE_LENGTH, capabilities.defaultWriteLength];
  const configured = overrides.maxInFlight ?? config.maxInFlight;
  const inFlightFor = (length: number) =>
    configured ?? Math.max(1, Math.min(MAX_DEFAULT_IN_FLIGHT, Math.ceil(DEFAULT_BYTES_IN_FLIGHT / length)));
  const [first = capabilities.defaultWriteLength, ...rest] = lengths.map((length) => Math.max(1, length));
  const fallbacks = rest.map((length) => ({ writeLength: length, maxInFlight: inFlightFor(length) }));
  const last = rest.at(-1) ?? first;
  // In order as the last resort (rclone without a write cache), unless maxInFlight was chosen.
  if (configured === undefined) fallbacks.push({ writeLength: last, maxInFlight: 1 });
  return {
    rename: config.atomicity === 'direct' ? 'direct' : capabilities.posixRename ? 'posix-rename' : 'rename',
    verify: config.verify,
    mode: config.fileMode,
    tempDirectory: config.tempDirectory ?? config.directory,
    writeLength: first,
    maxInFlight: inFlightFor(first),
    fallbacks,
  };
}

/** The plan as facts for the log line and the proof (modes in octal, as users write them). */
export function describePlan(
  plan: DeliveryPlan,
): Pick<DeliveryProof, 'rename' | 'verify' | 'mode' | 'tempDirectory' | 'writeLength' | 'maxInFlight'> {
  return {
    rename: plan.rename,
    verify: plan.verify,
    mode: formatMode(plan.mode),
    tempDirectory: plan.tempDirectory,
    writeLength: plan.writeLength,
    maxInFlight: plan.maxInFlight,
  };
}

export function formatMode(mode: number | null | undefined): string | null {
  return mode === null || mode === undefined ? null : `0${(mode & 0o777).toString(8).padStart(3, '0')}`;
}
