/**
 * CopyOut against a real PostgreSQL: the same bytes and row count as pg-copy-streams' `to`,
 * server errors before and during the COPY reported with their SQLSTATE and the connection left
 * usable, notices inside the COPY passed over, and back-pressure that holds the server back.
 */
import { createHash } from 'node:crypto';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type pg from 'pg';
import { to as copyTo } from 'pg-copy-streams';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { copyOut } from '../../src/adapters/postgres/copy-out.js';
import { createFixture, type Fixture } from '../helpers/fixture.js';

/** Rows with quotes, separators, newlines, non-ASCII, NULLs and a few fields over 64 KiB. */
const VARIED = `COPY (SELECT g AS id,
    CASE WHEN g % 7 = 0 THEN NULL ELSE 'row "' || g || '", with, commas' END AS label,
    CASE WHEN g % 1000 = 0 THEN repeat('é€x' || E'\\n', 30000) ELSE 'ünïcødé ' || g END AS note,
    g * 1.25 AS amount
  FROM generate_series(1, 200000) AS g ORDER BY g) TO STDOUT (FORMAT csv, HEADER)`;

async function digestOf(stream: NodeJS.ReadableStream): Promise<{ sha256: string; bytes: number }> {
  const hash = createHash('sha256');
  let bytes = 0;
  await pipeline(
    stream,
    new Writable({
      write(chunk: Buffer, _encoding, callback) {
        hash.update(chunk);
        bytes += chunk.length;
        callback();
      },
    }),
  );
  return { sha256: hash.digest('hex'), bytes };
}

describe('CopyOut on PostgreSQL', () => {
  let fx: Fixture;
  let client: pg.PoolClient;

  beforeAll(async () => {
    fx = await createFixture('copy_out');
    client = await fx.pool.connect();
  });
  afterAll(async () => {
    client?.release();
    await fx?.close();
  });

  it('gives the same bytes and row count as pg-copy-streams, and the connection goes on', async () => {
    const ours = client.query(copyOut(VARIED));
    const mine = await digestOf(ours);
    const theirs = client.query(copyTo(VARIED));
    const reference = await digestOf(theirs);
    expect(mine.bytes).toBeGreaterThan(10_000_000);
    expect(mine).toEqual(reference);
    expect(ours.rowCount).toBe(200_000);
    expect(ours.rowCount).toBe(theirs.rowCount);
    const { rows } = await client.query<{ one: number }>('SELECT 1 AS one');
    expect(rows[0]?.one).toBe(1);
  });

  it('fails with the server error (SQLSTATE 22012) when a row fails mid-COPY, and the connection is usable after', async () => {
    const failing = client.query(
      copyOut(
        'COPY (SELECT g, 1 / (g - 150000) AS inverse FROM generate_series(1, 200000) AS g) TO STDOUT (FORMAT csv)',
      ),
    );
    let received = 0;
    const error = await pipeline(
      failing,
      new Writable({
        write(chunk: Buffer, _encoding, callback) {
          received += chunk.length;
          callback();
        },
      }),
    ).then(
      () => null,
      (e: unknown) => e as { code?: string; message: string },
    );
    expect(error?.code).toBe('22012');
    expect(error?.message).toMatch(/division by zero/);
    expect(received).toBeGreaterThan(1_000_000);
    const { rows } = await client.query<{ n: string }>('SELECT count(*) AS n FROM generate_series(1, 10)');
    expect(rows[0]?.n).toBe('10');
  });

  it('fails with the server error (SQLSTATE 42P01) when the query cannot start, and the connection is usable after', async () => {
    const error = await digestOf(client.query(copyOut('COPY (SELECT * FROM no_such_table) TO STDOUT'))).then(
      () => null,
      (e: unknown) => e as { code?: string },
    );
    expect(error?.code).toBe('42P01');
    const { rows } = await client.query<{ one: number }>('SELECT 1 AS one');
    expect(rows[0]?.one).toBe(1);
  });

  it('passes over notices raised inside the COPY: the bytes are those of the same rows without them', async () => {
    await client.query(`CREATE OR REPLACE FUNCTION pg_temp.noisy(g int) RETURNS int LANGUAGE plpgsql AS $$
      BEGIN IF g % 500 = 0 THEN RAISE NOTICE 'row %', g; END IF; RETURN g; END $$`);
    const noisy = await digestOf(
      client.query(
        copyOut('COPY (SELECT pg_temp.noisy(g) AS g FROM generate_series(1, 20000) AS g) TO STDOUT'),
      ),
    );
    const quiet = await digestOf(
      client.query(copyOut('COPY (SELECT g FROM generate_series(1, 20000) AS g) TO STDOUT')),
    );
    expect(noisy).toEqual(quiet);
  });

  it('holds the server back while the consumer waits: it buffers about one socket read, not the report', async () => {
    const copy = client.query(
      copyOut("COPY (SELECT g, repeat('x', 200) FROM generate_series(1, 300000) AS g) TO STDOUT", {
        highWaterMark: 64 * 1024,
      }),
    );
    let most = 0;
    let stalled = false;
    let bytes = 0;
    await pipeline(
      copy,
      new Writable({
        highWaterMark: 16 * 1024,
        write(chunk: Buffer, _encoding, callback) {
          bytes += chunk.length;
          most = Math.max(most, copy.readableLength);
          if (stalled) return callback();
          stalled = true;
          // A consumer stalled for half a second with about 60 MB still to come from the server.
          setTimeout(() => {
            most = Math.max(most, copy.readableLength);
            callback();
          }, 500);
        },
      }),
    );
    expect(copy.rowCount).toBe(300_000);
    expect(bytes).toBeGreaterThan(60_000_000);
    // The high-water mark plus at most one socket read (64 KiB on Linux) of room.
    expect(most).toBeGreaterThan(0);
    expect(most).toBeLessThan(64 * 1024 + 256 * 1024);
  });
});
