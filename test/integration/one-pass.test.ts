/**
 * The one-pass run (issue 11): one render per attempt feeds the capture, the SFTP upload and the
 * S3 parts; the S3 object exists only after REPORT_SUBMITTED; a failed submission aborts the
 * staged upload; a crashed attempt's staged upload is aborted on resume. The CLI as a child
 * process against real PostgreSQL, OpenSSH sshd and s3rver.
 */
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { ListMultipartUploadsCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createFixture, type Fixture, runCli, TRANSACTIONS_DDL } from '../helpers/fixture.js';
import { expectInvariants, fixtureNames, oracleCsv } from '../helpers/invariants.js';
import { s3Server } from '../helpers/servers.js';

const QUERY =
  'SELECT id, booked_at, description, amount FROM transactions WHERE booked_on = $1::date ORDER BY id';

describe('one pass: render once, feed capture, SFTP and S3 at the same time', () => {
  let fx: Fixture;
  let config: string;
  let day = 0;
  const nextDate = () => `2026-07-${String(++day).padStart(2, '0')}`;
  const names = (date: string) => fixtureNames(date);
  const uploadsFor = async (key: string) =>
    (
      (await fx.s3.send(new ListMultipartUploadsCommand({ Bucket: fx.bucket, Prefix: key }))).Uploads ?? []
    ).filter((u) => u.Key === key);
  const contentReads = async () => {
    const { rows } = await fx.pool.query<{ reads: string }>(
      `SELECT coalesce(seq_scan, 0) + coalesce(idx_scan, 0) AS reads FROM pg_stat_user_tables
       WHERE relname = 'end_of_day_reporting_content'`,
    );
    return Number(rows[0]?.reads ?? 0);
  };

  beforeAll(async () => {
    fx = await createFixture('one_pass');
    await fx.pool.query(TRANSACTIONS_DDL);
    // ~10 MB a day: two S3 parts of 8 MiB.
    await fx.pool.query(
      `INSERT INTO transactions
       SELECT d * 1000000 + g, day, day + g * interval '1 second', repeat('x', 60) || ', "quoted" ' || g, g / 7.0
       FROM generate_series(1, 6) AS d, LATERAL (SELECT ('2026-07-01'::date + d - 1) AS day) AS days,
            generate_series(1, 100000) AS g`,
    );
    config = await fx.writeConfig({ report: { query: QUERY } });
  });
  afterAll(async () => {
    await fx?.close();
  });

  it('submits and archives from the one render: the stored capture is never read back', async () => {
    const date = nextDate();
    const readsBefore = await contentReads();
    const run = await runCli(['run', '--config', config, '--date', date], fx.env, { timeoutMs: 120_000 });
    expect(run.code, run.stderr).toBe(0);
    const delivered = await expectInvariants(fx, names(date));
    expect(delivered.file.length).toBeGreaterThan(8 * 1024 * 1024);
    expect(
      delivered.file.equals(
        await oracleCsv(fx.pool, QUERY.replace('$1::date', `'${date}'::date`), 'Europe/London'),
      ),
    ).toBe(true);
    const { rows } = await fx.pool.query(
      `SELECT e.status, e.facts FROM end_of_day_reporting_event e JOIN end_of_day_reporting p USING (process_id)
       WHERE p.date = $1 ORDER BY e.event_id`,
      [date],
    );
    expect(rows.map((r) => r.status)).toEqual([
      'STARTED',
      'ROWS_CREATED',
      'REPORT_SUBMITTED',
      'REPORT_ARCHIVED',
    ]);
    expect(rows[3].facts).toMatchObject({ attempt: 1, alreadyPresent: false });
    // Statistics of the CLI's sessions are flushed when they disconnect.
    await new Promise((resolve) => setTimeout(resolve, 1000));
    expect(await contentReads(), 'no read of the stored chunks: SFTP and S3 were fed by the render').toBe(
      readsBefore,
    );
    expect(await uploadsFor(names(date).key)).toEqual([]);
  }, 180_000);

  it('no S3 object before REPORT_SUBMITTED: killed after the rename, the staged upload is not an object and is aborted on resume', async () => {
    const date = nextDate();
    const { key } = names(date);
    const killed = await runCli(
      ['run', '--config', config, '--date', date],
      {
        ...fx.env,
        EOD_INSTANCE_ID: 'a',
        EOD_FAILPOINT: 'submit.before-event:kill',
      },
      { timeoutMs: 150_000 },
    );
    expect(killed.signal, killed.stderr).toBe('SIGKILL');
    expect(
      (await fx.listObjects()).filter((k) => k === key),
      'archive only after a recorded submission',
    ).toEqual([]);
    expect((await uploadsFor(key)).length, 'the staged parts are there, not completed').toBe(1);

    // The lease of the killed holder lapses after lock.atMostFor; take it over from the table.
    await fx.pool.query(`UPDATE shedlock SET lock_until = now() WHERE name = 'eod-report:eod-tx'`);
    const resumed = await runCli(['run', '--config', config, '--date', date], {
      ...fx.env,
      EOD_INSTANCE_ID: 'b',
    });
    expect(resumed.code, resumed.stderr).toBe(0);
    await expectInvariants(fx, names(date));
    expect(await uploadsFor(key), 'our stale multipart upload was aborted').toEqual([]);
  }, 180_000);

  it('a failed submission aborts the staged upload and creates no object', async () => {
    const date = nextDate();
    const { key } = names(date);
    const broken = await fx.writeConfig({
      report: { query: QUERY, sftp: { ...(fx.baseReport().sftp as object), directory: '/no/such/inbox' } },
    });
    const run = await runCli(['run', '--config', broken, '--date', date], fx.env);
    expect(run.code, run.stderr).toBe(1);
    expect((await fx.listObjects()).filter((k) => k === key)).toEqual([]);
    expect(await uploadsFor(key)).toEqual([]);
    const { rows } = await fx.pool.query(
      `SELECT e.status FROM end_of_day_reporting_event e JOIN end_of_day_reporting p USING (process_id)
       WHERE p.date = $1 ORDER BY e.event_id`,
      [date],
    );
    // A missing inbox directory is not retried (it names reports[].sftp.directory): one failure.
    expect(rows.map((r) => r.status)).toEqual(['STARTED', 'ROWS_CREATED', 'REPORT_SUBMISSION_FAILURE']);
  }, 180_000);

  it('a query that fails part-way leaves nothing behind: no temporary file in the inbox, no part on the S3 server', async () => {
    // s3rver keeps each part as a file under the upload's directory; ListMultipartUploads cannot
    // see a part that landed after the abort, the disk can.
    const uploadsDir = path.join(s3Server().directory, fx.bucket, '._S3rver_uploads');
    const uploadDirs = async () => (await readdir(uploadsDir).catch(() => [] as string[])).sort();
    const before = await uploadDirs();
    // Right after the header (ORDER BY: every row is computed before the first is sent), and
    // about 30 MB in, with several S3 parts in flight when the division by zero comes.
    const failing = async (failAt: number, order = '') =>
      fx.writeConfig({
        report: {
          query: `SELECT g, 1 / (g - ${failAt}) AS inverse, repeat('w', 200) AS pad FROM generate_series(1, 200000) AS g WHERE $1::date IS NOT NULL ${order}`,
        },
        top: { retry: { attempts: 1 } },
      });
    for (const [date, config] of [
      [nextDate(), await failing(5000, 'ORDER BY g')],
      [nextDate(), await failing(120_000)],
      [nextDate(), await failing(120_000)],
    ] as const) {
      const run = await runCli(['run', '--config', config, '--date', date], fx.env);
      expect(run.code, run.stdout + run.stderr).toBe(1);
      expect(run.stdout).toMatch(/division by zero/);
      const inbox = await readdir(fx.sftpDir);
      expect(
        inbox.filter((f) => f.includes(names(date).fileName)),
        'no temporary file left',
      ).toEqual([]);
      expect(await uploadsFor(names(date).key)).toEqual([]);
      expect(await uploadDirs(), 'no part of an aborted upload is left on the server').toEqual(before);
    }
  }, 180_000);
});
