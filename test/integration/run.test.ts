import { readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parse } from 'csv-parse/sync';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createFixture, type Fixture, runCli, TRANSACTIONS_DDL } from '../helpers/fixture.js';
import { expectInvariants, oracleCsv } from '../helpers/invariants.js';

const QUERY = `SELECT id, booked_at, description, amount, settled, fx FROM transactions WHERE booked_on = $1::date ORDER BY id`;
const oracleQuery = (date: string) => QUERY.replace('$1::date', `'${date}'::date`);

describe('eod-report run (real PostgreSQL, OpenSSH sshd, s3rver; CLI as a child process)', () => {
  let fx: Fixture;
  let config: string;

  beforeAll(async () => {
    fx = await createFixture('run');
    await fx.pool.query(TRANSACTIONS_DDL);
    await fx.pool.query(
      'ALTER TABLE transactions ADD COLUMN settled BOOLEAN, ADD COLUMN fx DOUBLE PRECISION',
    );
    // Europe/London: 2026-03-29 is the day the clocks go forward (23 hours long).
    const rows: [number, string, string, string | null, string, boolean | null, number | null][] = [
      [
        1,
        '2026-03-29',
        '2026-03-29 00:00:00 Europe/London',
        'comma, inside',
        '1234567890123456.1234',
        true,
        0.1,
      ],
      [2, '2026-03-29', '2026-03-29 00:59:59.999 Europe/London', 'quote " inside', '-0.0001', false, 1e-7],
      [
        3,
        '2026-03-29',
        '2026-03-29 02:30:00 Europe/London',
        'line\nbreak',
        '-9999999999999999.9999',
        null,
        null,
      ],
      [4, '2026-03-29', '2026-03-29 12:00:00 Europe/London', 'crlf\r\ninside', '0.0000', true, Math.PI],
      [5, '2026-03-29', '2026-03-29 23:59:59.999999 Europe/London', '', '42.5000', true, -2.5],
      [6, '2026-03-29', '2026-03-29 23:59:59 Europe/London', null, '7.0000', false, 1e300],
      [7, '2026-03-29', '2026-03-29 08:00:00 Europe/London', 'Zürich — 東京 — مرحبا — 🚀', '1.0000', true, 0],
      [8, '2026-03-29', '2026-03-29 09:00:00 Europe/London', '"', '2.0000', true, 0],
      [9, '2026-03-29', '2026-03-29 10:00:00 Europe/London', '\\N', '3.0000', true, 0],
      [10, '2026-03-30', '2026-03-30 00:00:00 Europe/London', 'next day', '1.0000', true, 0],
      [11, '2026-03-28', '2026-03-28 23:59:59 Europe/London', 'previous day', '1.0000', true, 0],
    ];
    for (const r of rows) {
      await fx.pool.query('INSERT INTO transactions VALUES ($1, $2, $3::timestamptz, $4, $5, $6, $7)', r);
    }
    config = await fx.writeConfig({ report: { query: QUERY } });
  });
  afterAll(async () => {
    await fx?.close();
  });

  it('submits and archives byte-identical copies of PostgreSQL’s own CSV, and records the proof', async () => {
    const result = await runCli(['run', '--config', config, '--date', '2026-03-29'], fx.env);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/eod-tx 2026-03-29: complete/);

    const delivered = await expectInvariants(fx, {
      report: 'eod-tx',
      date: '2026-03-29',
      fileName: 'eod_20260329.csv',
      key: 'eod/2026/03/eod_20260329.csv',
    });
    const oracle = await oracleCsv(fx.pool, oracleQuery('2026-03-29'), 'Europe/London');
    expect(delivered.file.toString('utf8')).toBe(oracle.toString('utf8'));
    expect(delivered.file.equals(oracle)).toBe(true);

    const mode = (await import('node:fs')).statSync(path.join(fx.sftpDir, 'eod_20260329.csv')).mode & 0o777;
    expect(mode.toString(8)).toBe('640');

    const status = await runCli(['status', '--config', config, '--date', '2026-03-29', '--json'], fx.env);
    expect(status.code).toBe(0);
    const [timeline] = JSON.parse(status.stdout);
    expect(timeline.summary.state).toBe('complete');
    const byStatus = Object.fromEntries(
      timeline.events.map((e: { status: string; facts: object }) => [e.status, e.facts]),
    );
    expect(byStatus.ROWS_CREATED).toMatchObject({ rows: 9, bytes: delivered.file.length });
    expect(byStatus.REPORT_SUBMITTED).toMatchObject({
      remotePath: path.join(fx.sftpDir, 'eod_20260329.csv'),
      alreadyPresent: false,
    });
    expect(byStatus.REPORT_ARCHIVED).toMatchObject({
      bucket: fx.bucket,
      key: 'eod/2026/03/eod_20260329.csv',
      alreadyPresent: false,
    });
    const text = await runCli(['status', '--config', config, '--date', '2026-03-29'], fx.env);
    expect(text.stdout).toMatch(/COMPLETE/);
    expect(text.stdout).toMatch(/REPORT_ARCHIVED .* s3:\/\//);
  });

  it('parses back, with an independent CSV parser, to the database’s values', async () => {
    const csv = await readFile(path.join(fx.sftpDir, 'eod_20260329.csv'));
    const records: (string | null)[][] = parse(csv, {
      // PostgreSQL writes NULL as an unquoted empty field and '' as "": keep them apart.
      cast: (value, context) => (value === '' && !context.quoting ? null : value),
      relaxQuotes: false,
    });
    expect(records[0]).toEqual(['id', 'booked_at', 'description', 'amount', 'settled', 'fx']);
    const { rows } = await fx.pool.query(
      `SELECT id::text, to_char(booked_at AT TIME ZONE 'Europe/London', 'YYYY-MM-DD HH24:MI:SS.US') AS local_time,
              description, amount::text, settled, fx::text
       FROM transactions WHERE booked_on = '2026-03-29' ORDER BY id`,
    );
    expect(records.length - 1).toBe(rows.length);
    rows.forEach((row, i) => {
      const [id, bookedAt, description, amount, settled, fx] = records[i + 1] as (string | null)[];
      expect(id).toBe(row.id);
      expect(description).toBe(row.description);
      expect(amount).toBe(row.amount);
      expect(settled).toBe(row.settled === null ? null : row.settled ? 't' : 'f');
      if (row.fx === null) expect(fx).toBeNull();
      else expect(Number(fx)).toBe(Number(row.fx));
      // Rendered in the report's zone with its UTC offset: the local wall time must match.
      const local = (bookedAt ?? '').replace(/[+-]\d{2}(:\d{2})?$/, '');
      expect(Date.parse(`${local}Z`)).toBe(Date.parse(`${row.local_time}Z`));
    });
    // Around the DST change the offset in the file follows the zone: +00 before 01:00, +01 after.
    expect(csv.toString('utf8')).toMatch(/2026-03-29 00:59:59\.999\+00/);
    expect(csv.toString('utf8')).toMatch(/2026-03-29 02:30:00\+01/);
  });

  it('a second run finds the day complete, changes nothing and exits 0', async () => {
    const before = await fx.pool.query('SELECT count(*)::int AS n FROM end_of_day_reporting_event');
    const result = await runCli(['run', '--config', config, '--date', '2026-03-29'], fx.env);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/already complete/);
    const after = await fx.pool.query('SELECT count(*)::int AS n FROM end_of_day_reporting_event');
    expect(after.rows[0].n).toBe(before.rows[0].n);
  });

  it('a day without rows still submits a header-only file', async () => {
    const result = await runCli(['run', '--config', config, '--date', '2026-01-15'], fx.env);
    expect(result.code, result.stderr).toBe(0);
    const { file } = await expectInvariants(fx, {
      report: 'eod-tx',
      date: '2026-01-15',
      fileName: 'eod_20260115.csv',
      key: 'eod/2026/01/eod_20260115.csv',
    });
    expect(file.toString('utf8')).toBe('id,booked_at,description,amount,settled,fx\n');
  });

  it('bad usage: impossible date, not a date, unknown report → exit 2 with the reason', async () => {
    const impossible = await runCli(['run', '--config', config, '--date', '2026-02-30'], fx.env);
    expect(impossible.code).toBe(2);
    expect(impossible.stderr).toMatch(/--date: "2026-02-30" is not a calendar date; expected YYYY-MM-DD/);
    const word = await runCli(['run', '--config', config, '--date', 'yesterday'], fx.env);
    expect(word.code).toBe(2);
    const unknown = await runCli(
      ['run', '--config', config, '--report', 'nope', '--date', '2026-01-01'],
      fx.env,
    );
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/--report: unknown report "nope"; configured: eod-tx/);
  });

  const eventsOf = async (date: string) =>
    (
      await fx.pool.query(
        `SELECT e.status, e.failure_details, e.facts FROM end_of_day_reporting p JOIN end_of_day_reporting_event e USING (process_id)
         WHERE p.date = $1::date ORDER BY e.event_id`,
        [date],
      )
    ).rows as { status: string; failure_details: string | null; facts: Record<string, unknown> }[];

  it('a query the server refuses records ROWS_CREATION_FAILURE once (no retry: the same text fails again), exits 1 and delivers nothing', async () => {
    const bad = await fx.writeConfig({
      report: { query: 'SELECT no_such_column FROM transactions WHERE booked_on = $1::date' },
    });
    const result = await runCli(['run', '--config', bad, '--date', '2026-02-01'], fx.env);
    expect(result.code).toBe(1);
    expect(result.stdout).toMatch(/rows failed .*report query was refused.*no_such_column/);
    const events = await eventsOf('2026-02-01');
    expect(events.map((e) => e.status)).toEqual(['STARTED', 'ROWS_CREATION_FAILURE']);
    expect(events[1]?.failure_details).toMatch(/no_such_column/);
    expect((await readdir(fx.sftpDir)).filter((n) => n.includes('20260201'))).toEqual([]);
    expect((await fx.listObjects()).filter((k) => k.includes('20260201'))).toEqual([]);
  });

  it('a missing SFTP directory fails the submission clearly; nothing is archived', async () => {
    const bad = await fx.writeConfig({
      report: { sftp: { ...(fx.baseReport().sftp as object), directory: '/no/such/inbox' }, query: QUERY },
    });
    const result = await runCli(['run', '--config', bad, '--date', '2026-02-02'], fx.env);
    expect(result.code).toBe(1);
    const events = await eventsOf('2026-02-02');
    // Not retried: the directory will not appear by itself; the failure names the key to fix.
    expect(events.map((e) => e.status)).toEqual(['STARTED', 'ROWS_CREATED', 'REPORT_SUBMISSION_FAILURE']);
    expect(events[2]?.failure_details).toMatch(/\/no\/such\/inbox/);
    expect(result.stderr + result.stdout).toContain('reports[].sftp.directory');
    expect((await fx.listObjects()).filter((k) => k.includes('20260202'))).toEqual([]);
  });

  it('a host key that does not match the pin is refused, showing the offered fingerprint', async () => {
    const wrong = `SHA256:${'A'.repeat(43)}`;
    const bad = await fx.writeConfig({
      report: { sftp: { ...(fx.baseReport().sftp as object), hostKeySha256: wrong }, query: QUERY },
    });
    const result = await runCli(['run', '--config', bad, '--date', '2026-02-03'], fx.env);
    expect(result.code).toBe(1);
    const events = await eventsOf('2026-02-03');
    // Not retried: a changed host key is not a passing fault.
    expect(events.map((e) => e.status)).toEqual(['STARTED', 'ROWS_CREATED', 'REPORT_SUBMISSION_FAILURE']);
    expect(events[2]?.failure_details).toMatch(/SHA256:/);
    expect((await readdir(fx.sftpDir)).filter((n) => n.includes('20260203'))).toEqual([]);
  });

  it('a different file already under the final name is never touched', async () => {
    const theirs = path.join(fx.sftpDir, 'eod_20260204.csv');
    await writeFile(theirs, 'somebody else’s file\n');
    const result = await runCli(['run', '--config', config, '--date', '2026-02-04'], fx.env);
    expect(result.code).toBe(1);
    expect(await readFile(theirs, 'utf8')).toBe('somebody else’s file\n');
    const events = await eventsOf('2026-02-04');
    expect(events.map((e) => e.status)).toEqual(['STARTED', 'ROWS_CREATED', 'REPORT_SUBMISSION_FAILURE']);
    expect((await readdir(fx.sftpDir)).filter((n) => n.endsWith('.part'))).toEqual([]);
    expect((await fx.listObjects()).filter((k) => k.includes('20260204'))).toEqual([]);
  });

  it('a missing bucket fails the archive once (not retried) after a successful submission', async () => {
    const bad = await fx.writeConfig({
      report: { s3: { ...(fx.baseReport().s3 as object), bucket: 'no-such-bucket-eod' }, query: QUERY },
    });
    const result = await runCli(['run', '--config', bad, '--date', '2026-02-05'], fx.env);
    expect(result.code).toBe(1);
    const events = await eventsOf('2026-02-05');
    expect(events.map((e) => e.status)).toEqual([
      'STARTED',
      'ROWS_CREATED',
      'REPORT_SUBMITTED',
      'REPORT_ARCHIVING_FAILURE',
    ]);
    expect(events[3]?.failure_details).toMatch(/no-such-bucket-eod/);
    // The next run with the bucket fixed archives without submitting again.
    const fixed = await runCli(['run', '--config', config, '--date', '2026-02-05'], fx.env);
    expect(fixed.code, fixed.stderr).toBe(0);
    await expectInvariants(fx, {
      report: 'eod-tx',
      date: '2026-02-05',
      fileName: 'eod_20260205.csv',
      key: 'eod/2026/02/eod_20260205.csv',
    });
  });
});
