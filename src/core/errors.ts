/**
 * Errors with stable codes and the facts as fields. The CLI maps codes to exit codes; nothing
 * else needs to parse messages. Messages must never contain secrets: callers pass facts, not
 * connection strings.
 */
export type ErrorCode =
  | 'CONFIG_INVALID'
  | 'USAGE'
  | 'LOCK_HELD'
  | 'LEASE_LOST'
  | 'STEP_FAILED'
  | 'HOST_KEY_REJECTED'
  | 'REMOTE_CONFLICT'
  | 'ARCHIVE_CONFLICT'
  | 'CONTENT_MISMATCH'
  | 'SUBMISSION_UNCERTAIN'
  | 'NAMES_CHANGED'
  | 'SCHEMA_TOO_NEW'
  | 'MIGRATION_FAILED'
  | 'UNAVAILABLE'
  | 'QUERY_REFUSED'
  | 'DATABASE_UNAVAILABLE'
  | 'TIMEOUT'
  | 'SNAPSHOT_MISSING'
  | 'FAILPOINT';

/**
 * Codes whose failures another attempt cannot fix (a conflict with what is already there, a
 * rejected host key, a bad config): retrying them only delays the alert.
 */
const PERMANENT_CODES: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
  'REMOTE_CONFLICT',
  'ARCHIVE_CONFLICT',
  'HOST_KEY_REJECTED',
  'CONFIG_INVALID',
  'QUERY_REFUSED',
  // Only an operator who asked the regulator can settle these (eod-report resolve).
  'SUBMISSION_UNCERTAIN',
  'NAMES_CHANGED',
  'SNAPSHOT_MISSING',
]);

/** Whether a fresh attempt may succeed where this code failed; the default of `EodError.retryable`. */
export function isRetryableCode(code: ErrorCode): boolean {
  return !PERMANENT_CODES.has(code);
}

export interface EodErrorOptions extends ErrorOptions {
  /** Overrides the code's default (`isRetryableCode`) when one case of a code differs. */
  retryable?: boolean;
}

export class EodError extends Error {
  readonly code: ErrorCode;
  readonly facts: Readonly<Record<string, unknown>>;
  /** Whether the step may be attempted again (with backoff) after this failure. */
  readonly retryable: boolean;

  constructor(
    code: ErrorCode,
    message: string,
    facts: Record<string, unknown> = {},
    options?: EodErrorOptions,
  ) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'EodError';
    this.code = code;
    this.facts = Object.freeze({ ...facts });
    this.retryable = options?.retryable ?? isRetryableCode(code);
  }
}

/**
 * Whether another attempt may fix `error`: an EodError says so itself; anything else (a socket
 * error, a driver error) is assumed passing.
 */
export function isRetryable(error: unknown): boolean {
  return error instanceof EodError ? error.retryable : true;
}

export function isEodError(error: unknown, code?: ErrorCode): error is EodError {
  return error instanceof EodError && (code === undefined || error.code === code);
}

/** Turns anything thrown into an Error, so boundaries can rely on `.message`. */
export function coerceError(thrown: unknown): Error {
  if (thrown instanceof Error) return thrown;
  if (typeof thrown === 'string') return new Error(thrown);
  try {
    return new Error(`non-error thrown: ${JSON.stringify(thrown)}`);
  } catch {
    return new Error(`non-error thrown: ${String(thrown)}`);
  }
}

/** Exit codes of the CLI contract (PRODUCT.md §5). EX_TEMPFAIL (75) for a lock held elsewhere. */
export const EXIT = Object.freeze({ OK: 0, FAILED: 1, USAGE: 2, LOCK_HELD: 75 });

export function exitCodeFor(error: unknown): number {
  if (!(error instanceof EodError)) return EXIT.FAILED;
  switch (error.code) {
    case 'CONFIG_INVALID':
    case 'USAGE':
      return EXIT.USAGE;
    case 'LOCK_HELD':
      return EXIT.LOCK_HELD;
    default:
      return EXIT.FAILED;
  }
}
