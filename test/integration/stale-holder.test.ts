/**
 * Issue 8 item 1: a holder paused right after its last lock check (the `:stop` failpoint, a real
 * SIGSTOP) past its lease, while another instance takes over. Real child processes, real sshd and
 * S3. Whatever the interleaving, the regulator never sees a final file other than a complete,
 * verified one, and the stale holder's rename is refused or harmless.
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCli } from '../helpers/child.js';
import { type CliResult, createFixture, type Fixture, runCli, TRANSACTIONS_DDL } from '../helpers/fixture.js';
import { expectInvariants, fixtureNames, oracleCsv } from '../helpers/invariants.js';

const QUERY =
  'SELECT id, booked_at, description, amount FROM transactions WHERE booked_on = $1::date ORDER BY id';

describe('a stale holder paused after its last lock check', () => {
  let fx: Fixture;
  let config: string;
  let day = 0;
  const nextDate = () => `2026-06-${String(++day).padStart(2, '0')}`;
  const names = (date: string) => fixtureNames(date);
  const env = (instance: string, failpoint?: string) => ({
    ...fx.env,
    EOD_INSTANCE_ID: instance,
    ...(failpoint ? { EOD_FAILPOINT: failpoint } : {}),
  });
  const args = (date: string) => ['run', '--config', config, '--date', date];

  async function runUntilNotLocked(date: string, instance: string, failpoint?: string): Promise<CliResult> {
    for (let i = 0; i < 40; i++) {
      const result = await runCli(args(date), env(instance, failpoint));
      if (result.code !== 75) return result;
      await sleep(250);
    }
    throw new Error('lock never became free');
  }

  const expected = (date: string) =>
    oracleCsv(fx.pool, QUERY.replace('$1::date', `'${date}'::date`), 'Europe/London');

  beforeAll(async () => {
    fx = await createFixture('stale-holder');
    await fx.pool.query(TRANSACTIONS_DDL);
    // ~3 MB a day: an upload is still running when the mid-upload failpoint fires.
    await fx.pool.query(
      `INSERT INTO transactions
       SELECT d * 100000 + g, day, day + g * interval '2 seconds', repeat('x', 40) || ', "quoted" ' || g, g / 7.0
       FROM generate_series(1, 6) AS d, LATERAL (SELECT ('2026-06-01'::date + d - 1) AS day) AS days,
            generate_series(1, 30000) AS g`,
    );
    config = await fx.writeConfig({
      top: { lock: { strategy: 'lease', atMostFor: '3s', atLeastFor: '0s', renewEvery: '1s' } },
      report: { query: QUERY },
    });
  });
  afterAll(async () => {
    await fx?.close();
  });

  it("sftp: B takes over and completes; A resumes and its rename is refused; the file is B's, complete", async () => {
    const date = nextDate();
    const { fileName } = names(date);
    const a = startCli(args(date), env('a', 'sftp.after-lock-check:stop'));
    await a.waitFor('failpoint sftp.after-lock-check reached');
    await a.waitStopped();
    // A's own temporary file carries its fencing token and is complete.
    const temporaries = (await readdir(fx.sftpDir)).filter((n) => n.startsWith(`${fileName}.`));
    expect(temporaries).toHaveLength(1);
    expect(temporaries[0]).toMatch(new RegExp(`^${fileName.replace('.', '\\.')}\\.[0-9]+\\.part$`));
    try {
      const b = await runUntilNotLocked(date, 'b');
      expect(b.code, b.stderr).toBe(0);
    } finally {
      a.child.kill('SIGCONT');
    }
    const before = await stat(path.join(fx.sftpDir, fileName));
    const aExit = await a.exit;
    expect(aExit.code, a.stderr()).toBe(1);
    expect(a.stderr()).toMatch(/lock|lease/i);
    const after = await stat(path.join(fx.sftpDir, fileName));
    expect([after.ino, after.mtimeMs, after.size], 'A did not touch the final file').toEqual([
      before.ino,
      before.mtimeMs,
      before.size,
    ]);
    const delivered = await expectInvariants(fx, names(date));
    expect(delivered.file.equals(await expected(date))).toBe(true);
    const { rows } = await fx.pool.query(
      `SELECT status, instance_id FROM end_of_day_reporting_event JOIN end_of_day_reporting USING (process_id)
       WHERE date = $1 AND status = 'REPORT_SUBMITTED'`,
      [date],
    );
    expect(rows).toEqual([{ status: 'REPORT_SUBMITTED', instance_id: 'b' }]);
  });

  it('sftp: B is mid-upload when A resumes: A cannot publish anything, no final file until B or C completes', async () => {
    const date = nextDate();
    const { fileName } = names(date);
    const a = startCli(args(date), env('a', 'sftp.after-lock-check:stop'));
    await a.waitFor('failpoint sftp.after-lock-check reached');
    await a.waitStopped();
    let b: ReturnType<typeof startCli> | undefined;
    try {
      await sleep(3500); // A's lease (3 s) lapses while it is stopped
      b = startCli(args(date), env('b', 'sftp.mid-upload:hang'));
      await b.waitFor('failpoint sftp.mid-upload reached');
    } finally {
      a.child.kill('SIGCONT');
    }
    const aExit = await a.exit;
    expect(aExit.code, a.stderr()).toBe(1);
    const listed = await readdir(fx.sftpDir);
    expect(
      listed.filter((n) => n === fileName),
      'no final file while B is still uploading',
    ).toEqual([]);
    // Only B's own, partial temporary file is there: A's was removed by B, so A renamed nothing.
    const temporaries = listed.filter((n) => n.startsWith(`${fileName}.`));
    expect(temporaries).toHaveLength(1);
    expect((await stat(path.join(fx.sftpDir, temporaries[0] as string))).size).toBeLessThan(
      (await expected(date)).length,
    );
    b?.child.kill('SIGKILL');
    await b?.exit;
    const c = await runUntilNotLocked(date, 'c');
    expect(c.code, c.stderr).toBe(0);
    const delivered = await expectInvariants(fx, names(date));
    expect(delivered.file.equals(await expected(date))).toBe(true);
  });

  it('s3: B takes over and archives; A resumes after its last lock check and cannot record anything', async () => {
    const date = nextDate();
    const a = startCli(args(date), env('a', 'archive.after-lock-check:stop'));
    await a.waitFor('failpoint archive.after-lock-check reached');
    await a.waitStopped();
    try {
      const b = await runUntilNotLocked(date, 'b');
      expect(b.code, b.stderr).toBe(0);
    } finally {
      a.child.kill('SIGCONT');
    }
    const aExit = await a.exit;
    expect(aExit.code, a.stderr()).toBe(1);
    const delivered = await expectInvariants(fx, names(date));
    expect(delivered.object.equals(await expected(date)), 'the object is complete and ours').toBe(true);
    const { rows } = await fx.pool.query(
      `SELECT status, instance_id FROM end_of_day_reporting_event JOIN end_of_day_reporting USING (process_id)
       WHERE date = $1 AND status IN ('REPORT_SUBMITTED', 'REPORT_ARCHIVED') ORDER BY event_id`,
      [date],
    );
    expect(rows.find((r) => r.status === 'REPORT_ARCHIVED')?.instance_id).toBe('b');
    const file = await readFile(path.join(fx.sftpDir, names(date).fileName));
    expect(file.equals(delivered.file)).toBe(true);
  });
});
