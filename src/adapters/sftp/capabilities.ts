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

export interface ServerCapabilities {
  /** Extensions announced in the server's SFTP VERSION packet. */
  extensions: readonly string[];
  posixRename: boolean;
  fsync: boolean;
  /** Bytes per WRITE request (limits@openssh.com or ssh2's default of about 32 KiB). */
  maxWriteLength: number;
}

export function capabilitiesOf(remote: RemoteFs): ServerCapabilities {
  const extensions = remote.extensions();
  return {
    extensions,
    posixRename: extensions.includes(POSIX_RENAME),
    fsync: extensions.includes(FSYNC),
    maxWriteLength: remote.maxWriteLength(),
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
  /** Bytes per write request: never more than the server takes in one request. */
  writeLength: number;
  /** Write requests awaiting an answer at once; 1 = strictly in order. */
  maxInFlight: number;
  /** Whether maxInFlight came from the config (then a pipelining failure is not retried in order). */
  maxInFlightConfigured: boolean;
}

/** Bytes awaiting the server's answer at once by default: OpenSSH's `sftp` keeps 64 × 32 KiB. */
export const DEFAULT_BYTES_IN_FLIGHT = 2 * 1024 * 1024;
const MAX_DEFAULT_IN_FLIGHT = 64;

export function planDelivery(
  config: SftpConfig,
  capabilities: ServerCapabilities,
  overrides: { writeSize?: number; maxInFlight?: number } = {},
): DeliveryPlan {
  const writeLength = Math.max(
    1,
    Math.min(overrides.writeSize ?? Number.POSITIVE_INFINITY, capabilities.maxWriteLength),
  );
  const configured = overrides.maxInFlight ?? config.maxInFlight;
  const maxInFlight =
    configured ??
    Math.max(1, Math.min(MAX_DEFAULT_IN_FLIGHT, Math.ceil(DEFAULT_BYTES_IN_FLIGHT / writeLength)));
  return {
    rename: config.atomicity === 'direct' ? 'direct' : capabilities.posixRename ? 'posix-rename' : 'rename',
    verify: config.verify,
    mode: config.fileMode,
    tempDirectory: config.tempDirectory ?? config.directory,
    writeLength,
    maxInFlight,
    maxInFlightConfigured: configured !== undefined,
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
