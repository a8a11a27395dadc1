import { mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { DeleteObjectCommand, HeadObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createFixture, type Fixture, runCli, TRANSACTIONS_DDL } from '../helpers/fixture.js';

const DATES = ['2024-01-02', '2024-01-03', '2024-01-04', '2024-01-05', '2024-01-06', '2024-01-07'];
const keyOf = (date: string) =>
  `eod/${date.slice(0, 4)}/${date.slice(5, 7)}/eod_${date.replaceAll('-', '')}.csv`;
const fileOf = (date: string) => `eod_${date.replaceAll('-', '')}.csv`;

describe('eod-report verify (real PostgreSQL, OpenSSH sshd, s3rver; CLI as a child process)', () => {
  let fx: Fixture;
  let config: string;

  const verify = (...args: string[]) => runCli(['verify', '--config', config, ...args], fx.env);
  const lineOf = (stdout: string, date: string) =>
    stdout.split('\n').find((l) => l.includes(` ${date} `)) ?? '';

  /** Replaces the archived object through the S3 API, keeping our metadata (as a careful forger would). */
  async function replaceObject(date: string, body: Buffer): Promise<void> {
    const key = keyOf(date);
    const head = await fx.s3.send(new HeadObjectCommand({ Bucket: fx.bucket, Key: key }));
    await fx.s3.send(
      new PutObjectCommand({ Bucket: fx.bucket, Key: key, Body: body, Metadata: head.Metadata ?? {} }),
    );
  }

  beforeAll(async () => {
    fx = await createFixture('verify');
    await fx.pool.query(TRANSACTIONS_DDL);
    let id = 0;
    for (const date of DATES) {
      for (let i = 0; i < 50; i++) {
        await fx.pool.query(
          "INSERT INTO transactions VALUES ($1, $2::date, $2::date + interval '9 hours', $3, $4)",
          [++id, date, `payment ${id}`, (id * 1.25).toFixed(4)],
        );
      }
    }
    config = await fx.writeConfig();
    for (const date of DATES) {
      const run = await runCli(['run', '--config', config, '--date', date], fx.env);
      expect(run.code, run.stderr).toBe(0);
    }
  }, 180_000);
  afterAll(async () => {
    await fx?.close();
  });

  it('prints one OK line per day with what was sent, when, by whom and where, and exits 0 when every copy matches', async () => {
    const result = await verify('--report', 'eod-tx', '--date', DATES[0] as string);
    expect(result.code, result.stderr + result.stdout).toBe(0);
    const lines = result.stdout.trim().split('\n');
    expect(lines).toHaveLength(1);
    const line = lines[0] as string;
    expect(line).toMatch(/^eod-tx 2024-01-02 OK: 50 rows, \d+ bytes, sha256 [0-9a-f]{64}; sent 20\d\d-/);
    const { port } = fx.baseReport().sftp as { port: number };
    expect(line).toContain(
      `to 127.0.0.1:${port}${path.join(fx.sftpDir, fileOf(DATES[0] as string))}: matches`,
    );
    expect(line).toContain(`to s3://${fx.bucket}/${keyOf(DATES[0] as string)}: matches`);
    expect(line).toMatch(/sent \S+ by \S+ to /);

    // What the archive server verified is part of the proof; s3rver verifies and reports none.
    const { rows } = await fx.pool.query(
      `SELECT e.facts FROM end_of_day_reporting_event e JOIN end_of_day_reporting p USING (process_id)
       WHERE p.date = $1 AND e.status = 'REPORT_ARCHIVED'`,
      [DATES[0]],
    );
    expect(rows[0]?.facts).toHaveProperty('verifiedByServer', null);
  });

  it('catches a tampered archive (same size, other bytes): exit 1, the line names the S3 copy and how it differs', async () => {
    const date = DATES[1] as string;
    const original = await fx.getObject(keyOf(date));
    const tampered = Buffer.from(original);
    const at = tampered.lastIndexOf('1');
    tampered[at] = '7'.charCodeAt(0);
    await replaceObject(date, tampered);

    const result = await verify('--date', date);
    expect(result.code, result.stderr).toBe(1);
    const line = lineOf(result.stdout, date);
    expect(line).toMatch(/^eod-tx 2024-01-03 MISMATCH: /);
    expect(line).toMatch(
      new RegExp(
        `s3://${fx.bucket}/${keyOf(date)}: MISMATCH \\(content differs: same size \\(${original.length} bytes\\); sha256 [0-9a-f]{64}, recorded [0-9a-f]{64}\\)`,
      ),
    );
    // The regulator's copy is untouched and says so.
    expect(line).toMatch(/eod_20240103\.csv: matches/);
    // Kept for the closing note and the README example.
    await mkdir('test-output', { recursive: true });
    await writeFile(
      'test-output/verify-tampered.txt',
      `$ eod-report verify --date ${date}\n${result.stdout}exit ${result.code}\n`,
    );
  });

  it('catches a truncated archive: exit 1, the line says how many bytes are left', async () => {
    const date = DATES[2] as string;
    const original = await fx.getObject(keyOf(date));
    const half = Math.floor(original.length / 2);
    await replaceObject(date, original.subarray(0, half));

    const result = await verify('--date', date);
    expect(result.code).toBe(1);
    expect(lineOf(result.stdout, date)).toContain(
      `s3://${fx.bucket}/${keyOf(date)}: MISMATCH (truncated: ${half} of ${original.length} bytes;`,
    );
  });

  it('reports a collected regulator file as "not readable at regulator", distinct from a mismatch, and exits 0', async () => {
    const date = DATES[3] as string;
    await rm(path.join(fx.sftpDir, fileOf(date)));

    const result = await verify('--date', date);
    expect(result.code, result.stdout).toBe(0);
    const line = lineOf(result.stdout, date);
    expect(line).toMatch(/^eod-tx 2024-01-05 OK: /);
    expect(line).toContain(
      `${fileOf(date)}: not readable at regulator (file absent: collected or moved by the regulator)`,
    );
    expect(line).toContain(`${keyOf(date)}: matches`);
    expect(line).not.toContain('MISMATCH');
  });

  it('catches a changed file at the regulator and a deleted archive (missing copy): exit 1', async () => {
    const date = DATES[4] as string;
    await writeFile(path.join(fx.sftpDir, fileOf(date)), 'id,amount\n1,999\n');
    const gone = DATES[5] as string;
    await fx.s3.send(new DeleteObjectCommand({ Bucket: fx.bucket, Key: keyOf(gone) }));

    const result = await verify('--since', date);
    expect(result.code).toBe(1);
    expect(lineOf(result.stdout, date)).toMatch(
      new RegExp(`^eod-tx ${date} MISMATCH: .*${fileOf(date)}: MISMATCH \\(truncated: 16 of \\d+ bytes;`),
    );
    expect(lineOf(result.stdout, gone)).toMatch(
      new RegExp(
        `^eod-tx ${gone} MISSING: .*${keyOf(gone)}: MISSING \\(NoSuchKey: the object is not in the bucket\\)`,
      ),
    );
    expect(result.stdout.trim().split('\n')).toHaveLength(2);
  });

  it('--since covers every recorded day, one line each, oldest first; --json gives the same verdicts', async () => {
    const text = await verify('--since', DATES[0] as string);
    expect(text.code).toBe(1);
    const lines = text.stdout.trim().split('\n');
    expect(lines.map((l) => l.split(' ').slice(0, 3).join(' '))).toEqual([
      'eod-tx 2024-01-02 OK:',
      'eod-tx 2024-01-03 MISMATCH:',
      'eod-tx 2024-01-04 MISMATCH:',
      'eod-tx 2024-01-05 OK:',
      'eod-tx 2024-01-06 MISMATCH:',
      'eod-tx 2024-01-07 MISSING:',
    ]);

    const json = await verify('--since', DATES[0] as string, '--json');
    expect(json.code).toBe(1);
    const days = JSON.parse(json.stdout) as {
      date: string;
      ok: boolean;
      summary: string;
      content: { rows: number; sha256: string };
      submitted: { at: string; instanceId: string; remotePath: string };
      archived: { bucket: string; key: string };
      copies: { regulator: { state: string }; archive: { state: string; read?: { bytes: number } } };
    }[];
    expect(days.map((d) => [d.date, d.summary, d.copies.regulator.state, d.copies.archive.state])).toEqual([
      ['2024-01-02', 'OK', 'match', 'match'],
      ['2024-01-03', 'MISMATCH', 'match', 'mismatch'],
      ['2024-01-04', 'MISMATCH', 'match', 'mismatch'],
      ['2024-01-05', 'OK', 'not-readable', 'match'],
      ['2024-01-06', 'MISMATCH', 'mismatch', 'match'],
      ['2024-01-07', 'MISSING', 'match', 'missing'],
    ]);
    expect(days[0]?.content.rows).toBe(50);
    expect(days[0]?.submitted.remotePath).toBe(path.join(fx.sftpDir, fileOf(DATES[0] as string)));
    expect(days[0]?.archived).toMatchObject({ bucket: fx.bucket, key: keyOf(DATES[0] as string) });
  });

  it('--archive-only checks S3 alone; a date with no process is NOT_RUN (exit 1)', async () => {
    const only = await verify('--date', DATES[4] as string, '--archive-only');
    expect(only.code).toBe(0);
    expect(only.stdout).toContain('not checked (--archive-only)');

    const none = await verify('--date', '2023-12-31');
    expect(none.code).toBe(1);
    expect(none.stdout.trim()).toBe('eod-tx 2023-12-31 NOT_RUN: no process recorded for this date');
  });

  it('honours sftp.verify of an inbox that cannot be read: stat compares the size, none does not ask', async () => {
    const base = fx.baseReport();
    const withVerify = async (verify: string) =>
      fx.writeConfig({ report: { sftp: { ...(base.sftp as object), verify } } });

    const stat = await runCli(
      ['verify', '--config', await withVerify('stat'), '--date', DATES[0] as string],
      fx.env,
    );
    expect(stat.code, stat.stdout + stat.stderr).toBe(0);
    expect(stat.stdout).toContain(
      ': size matches, content not readable at regulator (sftp.verify: stat, size only)',
    );
    // A changed size is caught even without reading (2024-01-06's file was replaced by a short one).
    const short = await runCli(
      ['verify', '--config', await withVerify('stat'), '--date', DATES[4] as string],
      fx.env,
    );
    expect(short.code).toBe(1);
    expect(short.stdout).toMatch(/MISMATCH \(truncated: 16 of \d+ bytes; sftp\.verify: stat, size only\)/);

    const none = await runCli(
      ['verify', '--config', await withVerify('none'), '--date', DATES[0] as string],
      fx.env,
    );
    expect(none.code).toBe(0);
    expect(none.stdout).toContain(': not readable at regulator (sftp.verify: none, not asked)');
  });

  it('exits 2 on bad usage, naming the option', async () => {
    const neither = await verify();
    expect(neither.code).toBe(2);
    expect(neither.stderr).toContain('verify needs exactly one of --date YYYY-MM-DD or --since YYYY-MM-DD');
    const both = await verify('--date', '2024-01-02', '--since', '2024-01-01');
    expect(both.code).toBe(2);
    const bad = await verify('--since', '2024-13-01');
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--since: "2024-13-01" is not a calendar date');
    const unknown = await verify('--report', 'nope', '--date', '2024-01-02');
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('--report: unknown report "nope"');
  });
});
