/**
 * Which PostgreSQL errors mean "the database is not there right now" (a restart, a dropped
 * connection, a control statement past its statement_timeout) rather than "this statement is
 * wrong". The run waits for the former and records the failure once the database is back.
 */
import { EodError } from '../../core/errors.js';
import { sqlState } from './sqlstate.js';

/** SQLSTATEs of a server going away or not ready yet, and of a statement cancelled by a timeout. */
const UNAVAILABLE_STATES = new Set(['57P01', '57P02', '57P03', '57014', '53300', '25P03']);
const UNAVAILABLE_ERRNO = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH']);
// node-postgres reports a lost socket with these messages and no code.
const UNAVAILABLE_MESSAGE =
  /Connection terminated|connection error and is not queryable|timeout exceeded when trying to connect|Client was closed and is not queryable/i;

export function isDatabaseUnavailable(error: unknown): boolean {
  if (error instanceof EodError) return error.code === 'DATABASE_UNAVAILABLE';
  const state = sqlState(error);
  if (state !== undefined && (state.startsWith('08') || UNAVAILABLE_STATES.has(state))) return true;
  if (state !== undefined && UNAVAILABLE_ERRNO.has(state)) return true;
  return error instanceof Error && UNAVAILABLE_MESSAGE.test(error.message);
}

/**
 * `error` as EodError DATABASE_UNAVAILABLE (message: what we were doing and the server's words)
 * when the database is unreachable or a control statement timed out; otherwise unchanged.
 */
export function databaseError(error: unknown, doing: string): unknown {
  if (error instanceof EodError || !isDatabaseUnavailable(error)) return error;
  const reason = error instanceof Error ? error.message : String(error);
  const timedOut = sqlState(error) === '57014';
  return new EodError(
    'DATABASE_UNAVAILABLE',
    `PostgreSQL unavailable while ${doing}: ${reason}${timedOut ? ' (database.statementTimeout)' : ''}`,
    { sqlState: sqlState(error), doing },
    { cause: error },
  );
}

/** Runs `work`, turning an unavailable database into EodError DATABASE_UNAVAILABLE. */
export async function withDatabase<T>(doing: string, work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    throw databaseError(error, doing);
  }
}
