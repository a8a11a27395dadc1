import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import type pg from 'pg';
import { to as copyTo } from 'pg-copy-streams';
import { expect } from 'vitest';
import type { Fixture } from './fixture.js';

/**
 * PostgreSQL's own CSV for a query, under the documented session settings, written here
 * independently of the product's code: the oracle of PRODUCT.md §3.
 */
export async function oracleCsv(pool: pg.Pool, query: string, timezone: string): Promise<Buffer> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    await client.query(`SET LOCAL TimeZone = '${timezone}'`);
    await client.query(`SET LOCAL DateStyle = 'ISO, YMD'`);
    await client.query(`SET LOCAL IntervalStyle = 'postgres'`);
    await client.query('SET LOCAL extra_float_digits = 1');
    const chunks: Buffer[] = [];
    const stream = client.query(copyTo(`COPY (${query}) TO STDOUT (FORMAT csv, HEADER)`));
    for await (const chunk of stream) chunks.push(chunk as Buffer);
    await client.query('COMMIT');
    return Buffer.concat(chunks);
  } finally {
    client.release();
  }
}

/**
 * The report, file name and S3 key that the fixture's default report (file name
 * "eod_{yyyy}{MM}{dd}.csv", prefix "eod/{yyyy}/{MM}/") delivers for `date`.
 */
export function fixtureNames(
  date: string,
  report = 'eod-tx',
): { report: string; date: string; fileName: string; key: string } {
  const compact = date.replaceAll('-', '');
  return {
    report,
    date,
    fileName: `eod_${compact}.csv`,
    key: `eod/${date.slice(0, 4)}/${date.slice(5, 7)}/eod_${compact}.csv`,
  };
}

export interface Delivered {
  file: Buffer;
  object: Buffer;
  processId: string;
}

/** Exactly one final file and one object, byte-identical; one of each success event; no `.part`. */
export async function expectInvariants(
  fx: Fixture,
  o: { report: string; date: string; fileName: string; key: string },
): Promise<Delivered> {
  const names = await readdir(fx.sftpDir);
  expect(
    names.filter((n) => n.endsWith('.part')),
    'no .part file is left behind',
  ).toEqual([]);
  expect(names.filter((n) => n === o.fileName)).toEqual([o.fileName]);
  const objects = await fx.listObjects();
  expect(objects.filter((k) => k.endsWith(o.fileName))).toEqual([o.key]);
  const file = await readFile(path.join(fx.sftpDir, o.fileName));
  const object = await fx.getObject(o.key);
  expect(object.equals(file), 'the archive is byte-identical to the submitted file').toBe(true);

  const { rows } = await fx.pool.query(
    `SELECT p.process_id, e.status, e.facts FROM end_of_day_reporting p
     JOIN end_of_day_reporting_event e USING (process_id)
     WHERE p.report = $1 AND p.date = $2::date ORDER BY e.event_id`,
    [o.report, o.date],
  );
  const successes = rows.filter((r) =>
    ['ROWS_CREATED', 'REPORT_SUBMITTED', 'REPORT_ARCHIVED'].includes(r.status),
  );
  expect(successes.map((r) => r.status)).toEqual(['ROWS_CREATED', 'REPORT_SUBMITTED', 'REPORT_ARCHIVED']);
  const sha256 = createHash('sha256').update(file).digest('hex');
  for (const s of successes) expect(s.facts.sha256, `${s.status} records the file's sha256`).toBe(sha256);
  return { file, object, processId: rows[0].process_id };
}
