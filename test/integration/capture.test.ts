/**
 * Row capture (PRODUCT.md §3 step 3, issue 11): the rendered CSV bytes themselves are stored in
 * chunks with ROWS_CREATED; every read streams them back, checked against size and SHA-256.
 * Real PostgreSQL; the oracle is PostgreSQL's own COPY of the query.
 */
import { createHash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LeaseLock } from '../../src/adapters/lock/lease-lock.js';
import { PostgresRowSource } from '../../src/adapters/postgres/postgres-row-source.js';
import { PostgresRunStore } from '../../src/adapters/postgres/postgres-run-store.js';
import { isEodError } from '../../src/core/errors.js';
import type { HeldLock, ReportContent } from '../../src/ports.js';
import { createFixture, type Fixture, TRANSACTIONS_DDL } from '../helpers/fixture.js';
import { oracleCsv } from '../helpers/invariants.js';

const QUERY =
  'SELECT id, booked_at, description, amount FROM transactions WHERE booked_on = $1::date ORDER BY id';

async function readAll(content: ReportContent): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const piece of content.open()) parts.push(piece as Buffer);
  return Buffer.concat(parts);
}

describe('row capture stores the rendered bytes (real PostgreSQL)', () => {
  let fx: Fixture;
  let rows: PostgresRowSource;
  let store: PostgresRunStore;
  let held: HeldLock;
  let day = 0;

  beforeAll(async () => {
    fx = await createFixture('capture');
    await fx.pool.query(TRANSACTIONS_DDL);
    await fx.pool.query(
      `INSERT INTO transactions
       SELECT d * 100000 + g, day, day + g * interval '2 seconds', repeat('x', 40) || ', "quoted" ' || g, g / 7.0
       FROM generate_series(1, 9) AS d, LATERAL (SELECT ('2026-06-01'::date + d - 1) AS day) AS days,
            generate_series(1, 20000) AS g`,
    );
    rows = new PostgresRowSource(fx.pool, 'capture-test');
    store = new PostgresRunStore(fx.pool, 'capture-test');
    const lock = new LeaseLock(fx.pool, {
      instanceId: 'capture-test',
      atMostForMs: 120_000,
      atLeastForMs: 0,
      renewEveryMs: 30_000,
      safetyMarginMs: 10_000,
    });
    const acquired = await lock.tryAcquire('eod-report:capture');
    if (!acquired) throw new Error('could not take the test lock');
    held = acquired;
  });
  afterAll(async () => {
    await held?.release();
    await fx?.close();
  });

  async function capture(query: string, report = 'cap') {
    day++;
    const date = `2026-06-${String(day).padStart(2, '0')}`;
    const process = await store.findOrCreateProcess(report, date);
    const result = await rows.capture({
      processId: process.processId,
      query,
      date,
      timezone: 'Europe/London',
      fence: held.fence,
      facts: { attempt: 1 },
    });
    return { date, processId: process.processId, result };
  }

  it('stores the rendered CSV in chunks with ROWS_CREATED; reads give PostgreSQL’s own bytes', async () => {
    const { date, processId, result } = await capture(QUERY);
    const oracle = await oracleCsv(fx.pool, QUERY.replace('$1::date', `'${date}'::date`), 'Europe/London');
    expect(result.bytes).toBe(oracle.length);
    expect(result.sha256).toBe(createHash('sha256').update(oracle).digest('hex'));
    expect(result.rows).toBe(20000);
    const { rows: stored } = await fx.pool.query(
      `SELECT count(*)::int AS chunks, sum(length(data))::bigint AS bytes
       FROM end_of_day_reporting_content WHERE process_id = $1`,
      [processId],
    );
    expect(stored[0]).toEqual({ chunks: Math.ceil(oracle.length / 8000), bytes: String(oracle.length) });
    expect(result.event.facts).toMatchObject({ content: { chunks: stored[0].chunks, chunkBytes: 8000 } });
    const content = await rows.content(processId);
    expect((await readAll(content)).equals(oracle)).toBe(true);
    expect((await readAll(content)).equals(oracle), 'a second read gives the same bytes').toBe(true);
  });

  it('stores chunks with no row trigger: a foreign key’s RI check re-read every chunk before commit (migration 0014)', async () => {
    // Each AFTER ROW trigger fetches its new row again at the end of the COPY: for a 320 MB report,
    // 40,000 pages read back from the file system, checksummed, before ROWS_CREATED can commit.
    const { rows: triggers } = await fx.pool.query(
      `SELECT tgname FROM pg_trigger WHERE tgrelid = 'end_of_day_reporting_content'::regclass`,
    );
    expect(triggers).toEqual([]);
    const { processId, result } = await capture(QUERY);
    const { rows: events } = await fx.pool.query(
      `SELECT count(*)::int AS n FROM end_of_day_reporting_event WHERE process_id = $1 AND status = 'ROWS_CREATED'`,
      [processId],
    );
    expect(events[0].n, 'the chunks are committed with the event whose own key checks the process').toBe(1);
    expect(result.rows).toBe(20000);
  });

  it('binds the date as PostgreSQL binds $1: an untyped $1, $1 in literals and comments untouched', async () => {
    const query = `SELECT id, '$1' AS literal, $1::date AS report_date /* $1 */ FROM transactions
                   WHERE booked_on = $1 -- not $1
                   ORDER BY id`;
    const { date, processId } = await capture(query);
    const literal = query
      .replace('AS literal, $1::date AS', `AS literal, '${date}'::date AS`)
      .replace('booked_on = $1 --', `booked_on = '${date}'::date --`);
    const expected = await oracleCsv(fx.pool, literal, 'Europe/London');
    const got = await readAll(await rows.content(processId));
    expect(got.toString()).toBe(expected.toString());
    expect(got.toString()).toContain(`$1,${date}`);
  });

  it('captures what COPY renders: a column named eod_report_line_no and an anonymous ROW() column', async () => {
    const query = `SELECT id AS eod_report_line_no, ROW(id, description), amount FROM transactions
                   WHERE booked_on = $1::date ORDER BY id LIMIT 50`;
    const { date, processId } = await capture(query);
    const expected = await oracleCsv(fx.pool, query.replace('$1::date', `'${date}'::date`), 'Europe/London');
    expect((await readAll(await rows.content(processId))).equals(expected)).toBe(true);
  });

  it('a removed chunk is refused before reading (SNAPSHOT_MISSING); an altered one fails the read (CONTENT_MISMATCH)', async () => {
    const removed = await capture(QUERY);
    await fx.pool.query('DELETE FROM end_of_day_reporting_content WHERE process_id = $1 AND chunk_no = 3', [
      removed.processId,
    ]);
    const gap = await rows.content(removed.processId).catch((error: unknown) => error);
    expect(isEodError(gap, 'SNAPSHOT_MISSING'), String(gap)).toBe(true);

    const altered = await capture(QUERY);
    await fx.pool.query(
      `UPDATE end_of_day_reporting_content SET data = set_byte(data, 10, get_byte(data, 10) # 1)
       WHERE process_id = $1 AND chunk_no = 5`,
      [altered.processId],
    );
    const flipped = await readAll(await rows.content(altered.processId)).catch((error: unknown) => error);
    expect(isEodError(flipped, 'CONTENT_MISMATCH'), String(flipped)).toBe(true);
  });

  it('a reader that stops early gives its connection back (no statement left waiting)', async () => {
    const { processId } = await capture(QUERY);
    const content = await rows.content(processId);
    for (let i = 0; i < 3; i++) {
      const stream = content.open();
      await new Promise<void>((resolve) => stream.once('data', () => resolve()));
      stream.pause();
      await sleep(100); // let back-pressure stop the COPY mid-stream
      stream.destroy();
    }
    for (let i = 0; i < 50 && fx.pool.totalCount - fx.pool.idleCount > 0; i++) await sleep(100);
    expect(fx.pool.totalCount - fx.pool.idleCount, 'connections still checked out').toBe(0);
    // and the pool still serves a full read
    expect((await readAll(content)).length).toBe(content.bytes);
  });

  it('still reads a process captured by an earlier version (a row snapshot table)', async () => {
    day++;
    const date = `2026-06-${String(day).padStart(2, '0')}`;
    const process = await store.findOrCreateProcess('legacy', date);
    await fx.pool.query(
      `CREATE TABLE end_of_day_reporting_rows.rows_${process.processId} AS
       SELECT row_number() OVER () AS eod_report_line_no, q.* FROM (${QUERY.replace('$1::date', `'${date}'::date`)}) q`,
    );
    const oracle = await oracleCsv(fx.pool, QUERY.replace('$1::date', `'${date}'::date`), 'Europe/London');
    await store.appendEvent(
      process.processId,
      {
        status: 'ROWS_CREATED',
        facts: {
          rows: 20000,
          bytes: oracle.length,
          sha256: createHash('sha256').update(oracle).digest('hex'),
          columns: ['id', 'booked_at', 'description', 'amount'],
          settings: {
            TimeZone: 'Europe/London',
            DateStyle: 'ISO, YMD',
            IntervalStyle: 'postgres',
            extra_float_digits: '1',
            bytea_output: 'hex',
            client_encoding: 'UTF8',
          },
        },
      },
      held.fence,
    );
    expect((await readAll(await rows.content(process.processId))).equals(oracle)).toBe(true);
  });
});
