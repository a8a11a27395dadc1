/**
 * Refusals that another attempt cannot change are not retried (issue 10: "never retry a refusal
 * that cannot change"): the server rejects the SFTP credentials, S3 does not know the access key
 * or none is configured, the archive bucket does not exist. Each fails its step once, names the
 * key to fix and never prints the secret. An EOD_FAILPOINT that names no point is refused at start.
 * Real sshd, s3rver and PostgreSQL through the real CLI.
 */
import { mkdir, mkdtemp, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KNOWN_FAILPOINTS } from '../../src/app/failpoints.js';
import { startRcloneSftp } from '../../src/embedded/rclone.js';
import type { EmbeddedSftp } from '../../src/embedded/sftp-server.js';
import { createFixture, type Fixture, runCli, TRANSACTIONS_DDL } from '../helpers/fixture.js';
import { expectInvariants, fixtureNames } from '../helpers/invariants.js';

const RIGHT_PASSWORD = 'Right-pass-51d0';

describe('permanent refusals', () => {
  let fx: Fixture;
  let baseDir: string;
  // A server that takes passwords and checks them (the harness's sshd takes keys only).
  let withPassword: EmbeddedSftp;
  beforeAll(async () => {
    baseDir = await mkdtemp(path.join(os.tmpdir(), 'eod-refusals-'));
    withPassword = await startRcloneSftp({ baseDir, name: 'rclone-pass', password: RIGHT_PASSWORD });
    fx = await createFixture('refusals');
    await fx.pool.query(TRANSACTIONS_DDL);
    await fx.pool.query(
      `INSERT INTO transactions
       SELECT g, DATE '2026-04-01' + (g % 6), TIMESTAMPTZ '2026-04-01 10:00:00+00' + g * interval '1 minute',
              'refusal ' || g, g / 4.0
       FROM generate_series(1, 600) g`,
    );
  });
  afterAll(async () => {
    await fx?.close();
    await withPassword?.stop();
    if (baseDir) await rm(baseDir, { recursive: true, force: true });
  });

  // Three attempts allowed: a refusal that is retried shows up as three failure events.
  const top = { retry: { attempts: 3, initialDelay: '100ms', maxDelay: '200ms' } };

  // failure_details is a summary (at most 255 characters); the whole message is in the facts.
  const events = async (date: string) =>
    (
      await fx.pool.query<{ status: string; failure_details: string | null; message: string | null }>(
        `SELECT e.status, e.failure_details, e.facts->'error'->>'message' AS message FROM end_of_day_reporting p
         JOIN end_of_day_reporting_event e USING (process_id)
         WHERE p.report = 'eod-tx' AND p.date = $1::date ORDER BY e.event_id`,
        [date],
      )
    ).rows;

  it('a wrong SFTP password on a server that checks passwords (rclone --pass): the submission fails once (not retried), naming the keys, never the password; the right one then delivers', async () => {
    const date = '2026-04-06';
    const directory = path.join(withPassword.root, 'inbox');
    await mkdir(directory, { recursive: true });
    const password = 'Wrong-pass-03b7@regulator';
    const sftp = {
      host: withPassword.host,
      port: withPassword.port,
      username: withPassword.username,
      hostKeySha256: withPassword.hostKeySha256,
      directory,
    };
    const config = await fx.writeConfig({ top, report: { sftp: { ...sftp, password } } });
    const result = await runCli(['run', '--config', config, '--date', date], fx.env);
    expect(result.code, result.stderr.slice(-2000)).toBe(1);
    const recorded = await events(date);
    const failures = recorded.filter((e) => e.status === 'REPORT_SUBMISSION_FAILURE');
    expect(failures, 'one attempt, not three').toHaveLength(1);
    expect(failures[0]?.message).toMatch(
      /^SFTP authentication failed for \S+@127\.0\.0\.1:\d+ \(tried: password, keyboard-interactive\); check reports\[\]\.sftp\.username, reports\[\]\.sftp\.password; not retried$/,
    );
    for (const text of [result.stdout, result.stderr, JSON.stringify(recorded)])
      expect(text).not.toContain(password);
    expect(await readdir(directory)).toEqual([]);

    const right = await fx.writeConfig({ top, report: { sftp: { ...sftp, password: RIGHT_PASSWORD } } });
    const fixed = await runCli(['run', '--config', right, '--date', date], fx.env);
    expect(fixed.code, fixed.stderr.slice(-2000)).toBe(0);
    expect(await readdir(directory)).toEqual([fixtureNames(date).fileName]);
  });

  it('SFTP credentials the server refuses (OpenSSH sshd, keys only, given a password): the submission fails once (not retried), naming reports[].sftp.username and .password, never the password', async () => {
    const date = '2026-04-01';
    const password = 'Wrong-pass-7c1e@regulator';
    const base = fx.baseReport() as { sftp: Record<string, unknown> };
    const { privateKeyFile: _key, ...sftp } = base.sftp;
    const config = await fx.writeConfig({ top, report: { sftp: { ...sftp, password } } });
    const result = await runCli(['run', '--config', config, '--date', date], fx.env);
    expect(result.code, result.stderr.slice(-2000)).toBe(1);
    const recorded = await events(date);
    const failures = recorded.filter((e) => e.status === 'REPORT_SUBMISSION_FAILURE');
    expect(failures, 'one attempt, not three').toHaveLength(1);
    expect(failures[0]?.message).toMatch(
      /^SFTP authentication failed for \S+@127\.0\.0\.1:\d+ \(tried: password, keyboard-interactive\); check reports\[\]\.sftp\.username, reports\[\]\.sftp\.password; not retried$/,
    );
    expect(result.stdout.split('\n')[0]).toMatch(/SFTP authentication failed .*reports\[\]\.sftp\.password/);
    for (const text of [result.stdout, result.stderr, JSON.stringify(recorded)])
      expect(text).not.toContain(password);
    expect(await readdir(fx.sftpDir)).toEqual([]);
  });

  it('an S3 access key the server does not know: the archive fails once (not retried), naming AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, never the secret', async () => {
    const date = '2026-04-02';
    const secret = 'Not-the-secret-2f9a';
    const config = await fx.writeConfig({ top });
    const env = { ...fx.env, AWS_ACCESS_KEY_ID: 'AKIAUNKNOWNKEY000000', AWS_SECRET_ACCESS_KEY: secret };
    const result = await runCli(['run', '--config', config, '--date', date], env);
    expect(result.code, result.stderr.slice(-2000)).toBe(1);
    const recorded = await events(date);
    expect(recorded.map((e) => e.status)).toEqual([
      'STARTED',
      'ROWS_CREATED',
      'REPORT_SUBMITTED',
      'REPORT_ARCHIVING_FAILURE',
    ]);
    expect(recorded[3]?.message).toMatch(
      /^archiving to s3:\/\/\S+ failed \(\w+\): InvalidAccessKeyId: the server does not know the access key id; fix AWS_ACCESS_KEY_ID\/AWS_SECRET_ACCESS_KEY \(or AWS_PROFILE, the instance role\); not retried$/,
    );
    expect(result.stdout.split('\n')[0]).toContain('fix AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY');
    for (const text of [result.stdout, result.stderr, JSON.stringify(recorded)])
      expect(text).not.toContain(secret);
    // With the right credentials the next run archives, without submitting again.
    const fixed = await runCli(['run', '--config', config, '--date', date], fx.env);
    expect(fixed.code, fixed.stderr.slice(-2000)).toBe(0);
    await expectInvariants(fx, fixtureNames(date));
  });

  it('no S3 credentials at all: the archive fails once (not retried), naming where credentials come from', async () => {
    const date = '2026-04-03';
    const config = await fx.writeConfig({ top });
    const env = { ...fx.env, AWS_ACCESS_KEY_ID: '', AWS_SECRET_ACCESS_KEY: '' };
    const result = await runCli(['run', '--config', config, '--date', date], env);
    expect(result.code, result.stderr.slice(-2000)).toBe(1);
    const recorded = await events(date);
    const failures = recorded.filter((e) => e.status === 'REPORT_ARCHIVING_FAILURE');
    expect(failures, 'one attempt, not three').toHaveLength(1);
    expect(failures[0]?.message).toMatch(
      /CredentialsProviderError: no AWS credentials found \(set AWS_ACCESS_KEY_ID\/AWS_SECRET_ACCESS_KEY, AWS_PROFILE, or use an instance role\); not retried$/,
    );
  });

  it('an archive bucket that does not exist: the archive fails once (not retried), naming reports[].s3.bucket and its value', async () => {
    const date = '2026-04-04';
    const base = fx.baseReport() as { s3: Record<string, unknown> };
    const config = await fx.writeConfig({
      top,
      report: { s3: { ...base.s3, bucket: 'eod-archive-typo' } },
    });
    const result = await runCli(['run', '--config', config, '--date', date], fx.env);
    expect(result.code, result.stderr.slice(-2000)).toBe(1);
    const recorded = await events(date);
    expect(recorded.map((e) => e.status)).toEqual([
      'STARTED',
      'ROWS_CREATED',
      'REPORT_SUBMITTED',
      'REPORT_ARCHIVING_FAILURE',
    ]);
    expect(recorded[3]?.message).toMatch(
      /^archiving to s3:\/\/eod-archive-typo\/\S+ failed \(\w+\): NoSuchBucket: bucket "eod-archive-typo" does not exist; create it or correct reports\[\]\.s3\.bucket; not retried$/,
    );
    expect(recorded[3]?.failure_details, 'the summary names the key too').toContain('reports[].s3.bucket');
    expect(result.stdout.split('\n')[0]).toContain(
      'bucket "eod-archive-typo" does not exist; create it or correct reports[].s3.bucket',
    );
    // The corrected bucket is taken (no archive was ever made under the wrong one).
    const fixed = await runCli(['run', '--config', await fx.writeConfig({ top }), '--date', date], fx.env);
    expect(fixed.code, fixed.stderr.slice(-2000)).toBe(0);
    await expectInvariants(fx, fixtureNames(date));
  });

  it('an EOD_FAILPOINT that names no failpoint: exit 2 at start listing the known ones, nothing recorded', async () => {
    const date = '2026-04-05';
    const config = await fx.writeConfig({ top });
    const result = await runCli(['run', '--config', config, '--date', date], {
      ...fx.env,
      EOD_FAILPOINT: 'sftp.before-renam:kill',
    });
    expect(result.code, result.stderr.slice(-2000)).toBe(2);
    expect(result.stderr.split('\n')[0]).toBe(
      `error: EOD_FAILPOINT: unknown failpoint "sftp.before-renam" in "sftp.before-renam:kill"; expected one of ${KNOWN_FAILPOINTS.join(', ')}`,
    );
    expect(await events(date)).toEqual([]);
    const badAction = await runCli(['run', '--config', config, '--date', date], {
      ...fx.env,
      EOD_FAILPOINT: 'sftp.before-rename:explode',
    });
    expect(badAction.code).toBe(2);
    expect(badAction.stderr.split('\n')[0]).toMatch(
      /^error: EOD_FAILPOINT: unknown action in "sftp\.before-rename:explode"; expected <point>:<kill\|hang\|stop\|throw\|sleep<ms>>/,
    );
    expect(await events(date)).toEqual([]);
  });
});
