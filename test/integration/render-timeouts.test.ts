/**
 * A role's statement_timeout (or transaction_timeout) must not cap the upload time (issue 9,
 * item 9): a render is one COPY held open while a slow consumer takes the bytes.
 */
import { createHash } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PostgresRowSource } from '../../src/adapters/postgres/postgres-row-source.js';
import { findOrCreateProcess } from '../../src/adapters/postgres/sql/processes.js';
import { acquireLease } from '../../src/adapters/postgres/sql/shedlock.js';
import { createFixture, type Fixture } from '../helpers/fixture.js';

/**
 * Reads like a transfer whose network stalls: the first chunk, then nothing for `stallMs`, then
 * the rest. The report is larger than what the socket and stream buffers hold, so the COPY is
 * still running, blocked on its consumer, through the stall.
 */
async function readWithStall(stream: NodeJS.ReadableStream, stallMs: number) {
  const hash = createHash('sha256');
  let bytes = 0;
  for await (const chunk of stream) {
    const buf = chunk as Buffer;
    if (bytes === 0) await new Promise((resolve) => setTimeout(resolve, stallMs));
    hash.update(buf);
    bytes += buf.length;
  }
  return { bytes, sha256: hash.digest('hex') };
}

describe('renders under a role with statement_timeout and transaction_timeout', () => {
  let fx: Fixture;

  beforeAll(async () => {
    fx = await createFixture('render_timeouts');
    await fx.pool.query(
      `CREATE TABLE big AS SELECT g AS id, repeat(md5(g::text), 2) AS filler FROM generate_series(1, 450000) g`,
    );
  });
  afterAll(async () => {
    await fx?.close();
  });

  it.each(['statement_timeout', 'transaction_timeout'])(
    'a 30 MB render whose consumer stalls 3 s completes with the captured bytes though the role has %s = 1s',
    async (setting) => {
      const processRef = await findOrCreateProcess(
        fx.pool,
        'big',
        setting === 'statement_timeout' ? '2026-01-05' : '2026-01-06',
      );
      const lease = await acquireLease(fx.pool, {
        name: `big-${setting}`,
        holder: 'test',
        atMostForMs: 600_000,
      });
      if (!lease) throw new Error('lease not acquired');
      const capture = await new PostgresRowSource(fx.pool, 'test').capture({
        processId: processRef.processId,
        query: 'SELECT id, filler FROM big ORDER BY id',
        date: '2026-01-05',
        timezone: 'UTC',
        fence: { kind: 'lease', lockName: `big-${setting}`, token: lease.token },
        facts: {},
      });
      expect(capture.bytes).toBeGreaterThan(30_000_000);

      // The DBA's setting for this role, in this database only (other test files are unaffected).
      const { rows } = await fx.pool.query<{ role: string; db: string }>(
        'SELECT current_user AS role, current_database() AS db',
      );
      const role = pg.escapeIdentifier(rows[0]?.role as string);
      const db = pg.escapeIdentifier(rows[0]?.db as string);
      await fx.pool.query(`ALTER ROLE ${role} IN DATABASE ${db} RESET ALL`);
      await fx.pool.query(`ALTER ROLE ${role} IN DATABASE ${db} SET ${setting} = '1s'`);
      const limited = new pg.Pool({ connectionString: fx.db.url, max: 2 });
      // A server-side timeout ends the connection (FATAL); the pool reports it here, not as a crash.
      limited.on('error', () => undefined);
      try {
        const seen = await limited.query(`SHOW ${setting}`);
        expect(seen.rows[0]?.[setting]).toBe('1s');

        const content = await new PostgresRowSource(limited, 'test').content(processRef.processId);
        const read = await readWithStall(content.open(), 3000);
        expect(read).toEqual({ bytes: capture.bytes, sha256: capture.sha256 });

        // The role's own limit still applies outside render transactions.
        await expect(limited.query('SELECT pg_sleep(2)')).rejects.toThrow(/(statement|transaction) timeout/);
      } finally {
        await limited.end();
        await fx.pool.query(`ALTER ROLE ${role} IN DATABASE ${db} RESET ALL`);
      }
    },
  );
});
