import pg from 'pg';

// DATE must stay the ISO string PostgreSQL sends: parsing it into a JS Date would shift it by the
// client's time zone. BIGINT ids stay strings (they can exceed 2^53).
const DATE_OID = 1082;

export function createPool(url: string, options: { max: number; applicationName: string }): pg.Pool {
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
    types,
  });
  // An idle client that loses its server emits 'error' on the pool; without a listener Node would
  // crash the process. The next checkout reconnects.
  pool.on('error', () => undefined);
  return pool;
}
