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

/** Reads the stream slowly, as a throttled network transfer would: `bytesPerTick` every `tickMs`. */
async function readThrottled(stream: NodeJS.ReadableStream, bytesPerTick: number, tickMs: number) {
  const hash = createHash('sha256');
  let bytes = 0;
  for await (const chunk of stream) {
    const buf = chunk as Buffer;
    hash.update(buf);
    bytes += buf.length;
    await new Promise((resolve) => setTimeout(resolve, (tickMs * buf.length) / bytesPerTick));
  }
  return { bytes, sha256: hash.digest('hex') };
}

describe('renders under a role with statement_timeout and transaction_timeout', () => {
  let fx: Fixture;
  let limited: pg.Pool | undefined;

  beforeAll(async () => {
    fx = await createFixture('render_timeouts');
    await fx.pool.query(
      `CREATE TABLE big AS SELECT g AS id, repeat(md5(g::text), 3) AS filler FROM generate_series(1, 60000) g`,
    );
  });
  afterAll(async () => {
    await limited?.end();
    await fx?.close();
  });

  it('a 6 MB render read over several seconds completes with the captured bytes though the role allows 1 s per statement', async () => {
    const processRef = await findOrCreateProcess(fx.pool, 'big', '2026-01-05');
    const lease = await acquireLease(fx.pool, { name: 'big', holder: 'test', atMostForMs: 600_000 });
    if (!lease) throw new Error('lease not acquired');
    const capture = await new PostgresRowSource(fx.pool, 'test').capture({
      processId: processRef.processId,
      query: 'SELECT id, filler FROM big ORDER BY id',
      date: '2026-01-05',
      timezone: 'UTC',
      fence: { kind: 'lease', lockName: 'big', token: lease.token },
      facts: {},
    });
    expect(capture.bytes).toBeGreaterThan(6_000_000);

    // The DBA's settings for this role, in this database only (other test files are unaffected).
    const { rows } = await fx.pool.query<{ role: string; db: string }>(
      'SELECT current_user AS role, current_database() AS db',
    );
    const role = pg.escapeIdentifier(rows[0]?.role as string);
    const db = pg.escapeIdentifier(rows[0]?.db as string);
    await fx.pool.query(`ALTER ROLE ${role} IN DATABASE ${db} SET statement_timeout = '1s'`);
    await fx.pool.query(`ALTER ROLE ${role} IN DATABASE ${db} SET transaction_timeout = '1s'`);
    limited = new pg.Pool({ connectionString: fx.db.url, max: 2 });
    const seen = await limited.query<{ statement_timeout: string }>('SHOW statement_timeout');
    expect(seen.rows[0]?.statement_timeout).toBe('1s');

    const content = await new PostgresRowSource(limited, 'test').content(processRef.processId);
    const started = performance.now();
    // 64 KiB every 60 ms: about 6 s for the whole report, several times the role's limit.
    const read = await readThrottled(content.open(), 64 * 1024, 60);
    expect(performance.now() - started, 'the read really outlasted the role limit').toBeGreaterThan(1500);
    expect(read).toEqual({ bytes: capture.bytes, sha256: capture.sha256 });

    // The role's own limit still applies outside render transactions.
    await expect(limited.query('SELECT pg_sleep(2)')).rejects.toThrow(/(statement|transaction) timeout/);
  });
});
