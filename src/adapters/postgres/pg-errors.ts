/**
 * What a user needs to hear when the database cannot be used at all: one place that turns the
 * driver's raw errors (a socket errno, a SQLSTATE on connect, an undefined table) into messages
 * that say "database", name the setting to look at (`database.url`), the value where it is not
 * secret, and what to do. Used at the CLI boundary and by `check`; step failures inside a run keep
 * the driver's error (its code decides retries).
 */
import { EodError } from '../../core/errors.js';
import { SQLSTATE, sqlState } from './sqlstate.js';

const SETTING = 'database.url (or DATABASE_URL)';

interface SocketError {
  code?: string;
  errno?: number;
  syscall?: string;
  address?: string;
  hostname?: string;
  port?: number;
  message: string;
}

const SOCKET_PROBLEMS: Readonly<Record<string, string>> = {
  ECONNREFUSED: 'connection refused; is PostgreSQL running and listening there?',
  ENOTFOUND: 'host name not found',
  EAI_AGAIN: 'host name lookup failed (DNS not answering)',
  ETIMEDOUT: 'no answer (timed out)',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  ECONNRESET: 'the connection was reset',
};

/**
 * An EodError explaining `error` when it is a database connection or schema problem, else
 * undefined. Codes: UNAVAILABLE (exit 1) when the server could not be reached or answered;
 * CONFIG_INVALID (exit 2) when the settings are wrong (password, database name, TLS); USAGE
 * (exit 2) when the tables are missing (`migrate` not run). Never includes the URL or password.
 */
export function explainDatabaseError(error: unknown): EodError | undefined {
  if (error instanceof EodError || typeof error !== 'object' || error === null) return undefined;
  const e = error as SocketError;
  const message = typeof e.message === 'string' ? e.message : '';
  const socketProblem = e.code === undefined ? undefined : SOCKET_PROBLEMS[e.code];
  if (socketProblem && (e.syscall === 'connect' || e.syscall === 'getaddrinfo' || e.code === 'ECONNRESET')) {
    const where = e.hostname ?? (e.address ? `${e.address}${e.port ? `:${e.port}` : ''}` : 'the server');
    return unavailable(
      `database: cannot connect to ${where} (${e.code}): ${socketProblem}; check ${SETTING}`,
      error,
    );
  }
  if (/timeout exceeded when trying to connect|connection timeout/i.test(message)) {
    return unavailable(
      `database: no answer while connecting (15 s); check ${SETTING} and the network`,
      error,
    );
  }
  if (/Connection terminated unexpectedly/i.test(message)) {
    return unavailable(`database: the server closed the connection: ${message}; check ${SETTING}`, error);
  }
  if (/does not support SSL/i.test(message)) {
    return config(
      `database: the server does not support TLS but ${SETTING} asks for it (sslmode); ${message}`,
      error,
    );
  }
  switch (sqlState(error)) {
    case '28P01':
    case '28000':
      return config(`database: ${message}; check the user and password in ${SETTING}`, error);
    case '3D000':
      return config(`database: ${message}; check the database name in ${SETTING}`, error);
    case '53300':
    case '57P03':
      return unavailable(`database: ${message}; try again later`, error);
    case SQLSTATE.UNDEFINED_TABLE:
      return new EodError(
        'USAGE',
        `database: ${message}: the eod-report tables are not there; run \`eod-report migrate\` first (or check the database name in ${SETTING})`,
        {},
        { cause: error },
      );
    default:
      return undefined;
  }
}

function unavailable(message: string, cause: unknown): EodError {
  return new EodError('UNAVAILABLE', message, {}, { cause });
}

function config(message: string, cause: unknown): EodError {
  return new EodError('CONFIG_INVALID', message, {}, { cause, retryable: false });
}
