/**
 * Issue 8 items 3 and 4 with real child processes, sshd, s3rver and PostgreSQL: names decided once
 * per process, intent recorded before the rename, SUBMISSION_UNCERTAIN when a resume cannot prove
 * the outcome (a regulator that collects files), and `eod-report resolve`.
 */

import { readdir, unlink } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CliResult, createFixture, type Fixture, runCli, TRANSACTIONS_DDL } from '../helpers/fixture.js';
import { expectInvariants, fixtureNames, oracleCsv } from '../helpers/invariants.js';

const QUERY =
  'SELECT id, booked_at, description, amount FROM transactions WHERE booked_on = $1::date ORDER BY id';

describe('names decided once, intent before the rename, resolve', () => {
  let fx: Fixture;
  let config: string;
  let webhook: Server;
  const alerts: string[] = [];
  let day = 0;
  const nextDate = () => `2026-07-${String(++day).padStart(2, '0')}`;
  const names = (date: string) => fixtureNames(date);
  const env = (failpoint?: string) => ({
    ...fx.env,
    EOD_INSTANCE_ID: 'names-test',
    USER: 'operator-jane',
    ...(failpoint ? { EOD_FAILPOINT: failpoint } : {}),
  });
  const lock = { strategy: 'lease', atMostFor: '3s', atLeastFor: '0s', renewEvery: '1s' };
  const writeConfig = (report: Record<string, unknown> = {}) =>
    fx.writeConfig({
      top: {
        lock,
        monitoring: { alertWebhookUrl: `http://127.0.0.1:${(webhook.address() as AddressInfo).port}/hook` },
      },
      report: { query: QUERY, ...report },
    });

  async function run(date: string, cfg = config, failpoint?: string): Promise<CliResult> {
    for (let i = 0; i < 40; i++) {
      const result = await runCli(['run', '--config', cfg, '--date', date], env(failpoint));
      if (result.code !== 75) return result;
      await sleep(250);
    }
    throw new Error('lock never became free');
  }
  const resolve = (date: string, ...flags: string[]) =>
    runCli(['resolve', '--config', config, '--report', 'eod-tx', '--date', date, ...flags], env());
  const finals = async (fileName: string) =>
    (await readdir(fx.sftpDir)).filter((n) => n.startsWith(fileName));
  async function crashAfterRename(date: string): Promise<void> {
    const killed = await run(date, config, 'sftp.after-rename:kill');
    expect(killed.signal, killed.stderr).toBe('SIGKILL');
  }
  const journalKinds = async (date: string) =>
    (
      await fx.pool.query(
        `SELECT kind FROM end_of_day_reporting_journal JOIN end_of_day_reporting USING (process_id)
         WHERE date = $1 ORDER BY journal_id`,
        [date],
      )
    ).rows.map((r) => r.kind);

  beforeAll(async () => {
    fx = await createFixture('names-intent');
    await fx.pool.query(TRANSACTIONS_DDL);
    await fx.pool.query(
      `INSERT INTO transactions
       SELECT d * 100000 + g, day, day + g * interval '2 seconds', 'tx ' || g, g / 7.0
       FROM generate_series(1, 12) AS d, LATERAL (SELECT ('2026-07-01'::date + d - 1) AS day) AS days,
            generate_series(1, 2000) AS g`,
    );
    webhook = createServer((req, res) => {
      let body = '';
      req.on('data', (d: Buffer) => {
        body += d.toString();
      });
      req.on('end', () => {
        alerts.push(body);
        res.end('ok');
      });
    });
    await new Promise<void>((r) => webhook.listen(0, '127.0.0.1', r));
    config = await writeConfig();
  });
  afterAll(async () => {
    webhook?.close();
    await fx?.close();
  });

  for (const [what, change] of [
    ['fileName', { fileName: 'eod_{yyyy}{MM}{dd}_v2.csv' }],
    ['sftp.directory', { sftp: { directory: 'SUBDIR' } }],
    ['s3.prefix', { s3: { prefix: 'archive/{yyyy}/' } }],
  ] as const) {
    it(`crash after the rename, then ${what} changed: exit 1 NAMES_CHANGED naming both; still one file; restoring the config completes`, async () => {
      const date = nextDate();
      const { fileName } = names(date);
      await crashAfterRename(date);
      expect(await finals(fileName)).toEqual([fileName]);

      const base = fx.baseReport() as { sftp: Record<string, unknown>; s3: Record<string, unknown> };
      const report: Record<string, unknown> = { ...change };
      if ('sftp' in change) report.sftp = { ...base.sftp, directory: path.join(fx.sftpDir, 'v2') };
      if ('s3' in change) report.s3 = { ...base.s3, ...change.s3 };
      const changed = await writeConfig(report);
      const refused = await run(date, changed);
      expect(refused.code, refused.stderr).toBe(1);
      const said = refused.stdout + refused.stderr;
      expect(said).toMatch(/NAMES_CHANGED|names were decided/);
      expect(said).toContain(`${fileName}`); // the recorded name
      expect(said).toMatch(/restore the config/);
      expect(said).toMatch(/eod-report resolve/);
      // Nothing was sent under the new name: exactly the one file of the first attempt.
      expect(await finals(fileName.replace('.csv', ''))).toEqual([fileName]);
      expect(await fx.listObjects()).not.toContain(names(date).key.replace('eod/', 'archive/'));

      const restored = await run(date);
      expect(restored.code, restored.stderr).toBe(0);
      await expectInvariants(fx, names(date));
    });
  }

  it('intent recorded, regulator collected the file: SUBMISSION_UNCERTAIN, exit 1, alert, no second upload; resolve --submitted, then the next run archives', async () => {
    const date = nextDate();
    const { fileName, key } = names(date);
    await crashAfterRename(date);
    expect(await journalKinds(date)).toEqual(['names', 'submit-intent']);
    // The regulator's inbox takes the file away.
    await unlink(path.join(fx.sftpDir, fileName));

    const uncertain = await run(date);
    expect(uncertain.code, uncertain.stderr).toBe(1);
    expect(uncertain.stdout + uncertain.stderr).toMatch(/SUBMISSION_UNCERTAIN/);
    expect(await finals(fileName), 'no second upload').toEqual([]);
    expect(alerts.some((a) => a.includes('submission uncertain') && a.includes(date))).toBe(true);

    // Runs again: still uncertain, still nothing sent, no SFTP needed.
    const again = await run(date);
    expect(again.code).toBe(1);
    expect(await finals(fileName)).toEqual([]);

    const status = await runCli(['status', '--config', config, '--date', date], env());
    expect(status.stdout).toMatch(/SUBMISSION_UNCERTAIN/);

    const noReason = await resolve(date, '--submitted');
    expect(noReason.code).toBe(2);
    const resolved = await resolve(date, '--submitted', '--reason', 'regulator confirmed receipt, ticket 42');
    expect(resolved.code, resolved.stderr).toBe(0);
    const { rows } = await fx.pool.query(
      `SELECT facts FROM end_of_day_reporting_journal JOIN end_of_day_reporting USING (process_id)
       WHERE date = $1 AND kind = 'resolved'`,
      [date],
    );
    expect(rows[0].facts).toMatchObject({
      submitted: true,
      reason: 'regulator confirmed receipt, ticket 42',
      osUser: expect.any(String),
      instance: 'names-test',
    });

    const archived = await run(date);
    expect(archived.code, archived.stderr).toBe(0);
    expect(await finals(fileName), 'still no second upload').toEqual([]);
    const object = await fx.getObject(key);
    expect(
      object.equals(await oracleCsv(fx.pool, QUERY.replace('$1::date', `'${date}'::date`), 'Europe/London')),
    ).toBe(true);
    const events = await fx.pool.query(
      `SELECT status, facts FROM end_of_day_reporting_event JOIN end_of_day_reporting USING (process_id)
       WHERE date = $1 AND status IN ('REPORT_SUBMITTED', 'REPORT_ARCHIVED') ORDER BY event_id`,
      [date],
    );
    expect(events.rows.map((r) => r.status)).toEqual(['REPORT_SUBMITTED', 'REPORT_ARCHIVED']);
    expect(events.rows[0].facts).toMatchObject({
      resolved: true,
      reason: 'regulator confirmed receipt, ticket 42',
    });
  });

  it('resolve --not-submitted: the next run uploads exactly once and completes', async () => {
    const date = nextDate();
    const { fileName } = names(date);
    await crashAfterRename(date);
    await unlink(path.join(fx.sftpDir, fileName));
    expect((await run(date)).code).toBe(1);
    expect(await finals(fileName)).toEqual([]);

    const resolved = await resolve(date, '--not-submitted', '--reason', 'regulator has no file for this day');
    expect(resolved.code, resolved.stderr).toBe(0);
    expect(
      (await resolve(date, '--not-submitted', '--reason', 'twice')).code,
      'no intent left, but allowed',
    ).toBe(0);

    const uploaded = await run(date);
    expect(uploaded.code, uploaded.stderr).toBe(0);
    await expectInvariants(fx, names(date));
    expect(await journalKinds(date)).toEqual([
      'names',
      'submit-intent',
      'submission-uncertain',
      'resolved',
      'resolved',
      'names',
      'submit-intent',
      'archive-intent',
    ]);
    // Already submitted: nothing left to resolve.
    expect((await resolve(date, '--submitted', '--reason', 'late')).code).toBe(2);
  });

  for (const [stage, failpoint] of [
    ['after the intent, before the rename', 'sftp.after-lock-check'],
    ['mid-upload, before any intent', 'sftp.mid-upload'],
  ] as const) {
    it(`crash ${stage}, fileName changed, resolve --not-submitted: the next run removes the old name's .part and delivers once under the new name`, async () => {
      const date = nextDate();
      const old = names(date);
      const killed = await run(date, config, `${failpoint}:kill`);
      expect(killed.signal, killed.stderr).toBe('SIGKILL');
      const leftover = (await readdir(fx.sftpDir)).filter((n) => n.startsWith(`${old.fileName}.`));
      expect(leftover, 'the killed attempt left its temporary file').toHaveLength(1);
      expect(leftover[0]).toMatch(/\.\d+\.part$/);

      const changed = await writeConfig({ fileName: 'eod_{yyyy}{MM}{dd}_v2.csv' });
      const refused = await run(date, changed);
      expect(refused.code, refused.stderr).toBe(1);
      expect(refused.stdout + refused.stderr).toMatch(/names were decided/);
      const resolved = await resolve(date, '--not-submitted', '--reason', 'renamed before anything was sent');
      expect(resolved.code, resolved.stderr).toBe(0);

      const uploaded = await run(date, changed);
      expect(uploaded.code, uploaded.stderr).toBe(0);
      const v2 = {
        ...old,
        fileName: old.fileName.replace('.csv', '_v2.csv'),
        key: old.key.replace('.csv', '_v2.csv'),
      };
      const delivered = await expectInvariants(fx, v2);
      const oracle = await oracleCsv(fx.pool, QUERY.replace('$1::date', `'${date}'::date`), 'Europe/London');
      expect(delivered.file.equals(oracle)).toBe(true);
      expect(
        (await readdir(fx.sftpDir)).filter((n) => n.startsWith(old.fileName.replace('.csv', ''))),
        'only the new final file; the old name has neither a final nor a temporary file',
      ).toEqual([v2.fileName]);
    });
  }

  it("crash after the intent, before the rename: the resume sees the intent's temporary file and uploads once, no uncertainty", async () => {
    const date = nextDate();
    const killed = await run(date, config, 'sftp.after-lock-check:kill');
    expect(killed.signal).toBe('SIGKILL');
    const resumed = await run(date);
    expect(resumed.code, resumed.stderr).toBe(0);
    await expectInvariants(fx, names(date));
    expect(await journalKinds(date)).toEqual([
      'names',
      'submit-intent',
      'not-renamed',
      'submit-intent',
      'archive-intent',
    ]);
  });
});
