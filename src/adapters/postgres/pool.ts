import pg from 'pg';

// DATE must stay the ISO string PostgreSQL sends: parsing it into a JS Date would shift it by the
// client's time zone. BIGINT ids stay strings (they can exceed 2^53).
const DATE_OID = 1082;

/**
 * The pool every command uses. `statementTimeoutMs` (0 = none) is sent at connection start, so it
 * bounds every control statement (events, leases, alerts); the long statements (capture, renders)
 * lift it for their own transaction. Throws nothing itself; connection errors surface on use.
 */
export function createPool(
  url: string,
  options: { max: number; applicationName: string; statementTimeoutMs?: number },
): pg.Pool {
  const types = {
    getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
      oid === DATE_OID
        ? (value: string) => value
        : pg.types.getTypeParser(oid, format)) as typeof pg.types.getTypeParser,
  };
  const pool = new pg.Pool({
    connectionString: url,
    max: options.max,
    application_name: options.applicationName,
    connectionTimeoutMillis: 15_000,
    keepAlive: true,
    ...(options.statementTimeoutMs ? { statement_timeout: options.statementTimeoutMs } : {}),
    types,
  });
  // An idle client that loses its server emits 'error' on the pool; without a listener Node would
  // crash the process. The next checkout reconnects.
  pool.on('error', () => undefined);
  // A client checked out of the pool has no listener of the pool's: a server restart while it runs
  // a query emits 'error' on the client itself ("Connection terminated unexpectedly"), which
  // killed the process. The query's own promise rejects as well, so the run sees the failure.
  pool.on('connect', (client) => {
    client.on('error', () => undefined);
  });
  return pool;
}
