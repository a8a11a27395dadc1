/**
 * Crash, race and fencing tests: the CLI as real child processes, killed with SIGKILL at each step
 * boundary and in the middle of the upload (failpoints, see src/app/failpoints.ts), paused past its
 * lease, or started five at a time. After each, the day completes with the invariants intact.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CLI,
  type CliResult,
  createFixture,
  type Fixture,
  runCli,
  TRANSACTIONS_DDL,
} from '../helpers/fixture.js';
import { expectInvariants, fixtureNames, oracleCsv } from '../helpers/invariants.js';

const QUERY =
  'SELECT id, booked_at, description, amount FROM transactions WHERE booked_on = $1::date ORDER BY id';

describe('crash, race and fencing', () => {
  let fx: Fixture;
  let leaseConfig: string;
  let tableConfig: string;
  let day = 0;
  const nextDate = () => {
    day++;
    return `2026-05-${String(day).padStart(2, '0')}`;
  };
  const names = (date: string) => fixtureNames(date);

  beforeAll(async () => {
    fx = await createFixture('crash');
    await fx.pool.query(TRANSACTIONS_DDL);
    // ~3 MB a day, so that an upload is still running when the mid-upload failpoint fires.
    await fx.pool.query(
      `INSERT INTO transactions
       SELECT d * 100000 + g, day, day + g * interval '2 seconds', repeat('x', 40) || ', "quoted" ' || g, g / 7.0
       FROM generate_series(1, 20) AS d, LATERAL (SELECT ('2026-05-01'::date + d - 1) AS day) AS days,
            generate_series(1, 30000) AS g`,
    );
    const lock = { atMostFor: '3s', atLeastFor: '0s', renewEvery: '1s' };
    leaseConfig = await fx.writeConfig({
      top: { lock: { strategy: 'lease', ...lock } },
      report: { query: QUERY },
    });
    tableConfig = await fx.writeConfig({
      top: { lock: { strategy: 'table', ...lock } },
      report: { query: QUERY },
    });
  });
  afterAll(async () => {
    await fx?.close();
  });

  const envFor = (instance: string, failpoint?: string) => ({
    ...fx.env,
    EOD_INSTANCE_ID: instance,
    ...(failpoint ? { EOD_FAILPOINT: failpoint } : {}),
  });

  /** Runs until it gets the lock (a killed holder's lease lapses after atMostFor). */
  async function runUntilNotLocked(config: string, date: string, instance: string): Promise<CliResult> {
    for (let i = 0; i < 20; i++) {
      const result = await runCli(['run', '--config', config, '--date', date], envFor(instance));
      if (result.code !== 75) return result;
      await sleep(500);
    }
    throw new Error('lock never became free');
  }

  const killPoints = [
    'rows.before-commit',
    'rows.after-commit',
    'sftp.mid-upload',
    'sftp.before-rename',
    'sftp.after-rename',
    'submit.before-event',
    'archive.before-put',
    'archive.after-put',
    'archive.before-event',
  ];

  for (const point of killPoints) {
    it(`SIGKILL at ${point}, then another instance resumes and completes the day`, async () => {
      const date = nextDate();
      const killed = await runCli(
        ['run', '--config', leaseConfig, '--date', date],
        envFor('instance-a', `${point}:kill`),
      );
      expect(killed.signal, killed.stderr).toBe('SIGKILL');
      expect(killed.stderr).toContain(`failpoint ${point} reached`);

      const resumed = await runUntilNotLocked(leaseConfig, date, 'instance-b');
      expect(resumed.code, resumed.stderr).toBe(0);
      const delivered = await expectInvariants(fx, names(date));
      expect(
        delivered.file.equals(
          await oracleCsv(fx.pool, QUERY.replace('$1::date', `'${date}'::date`), 'Europe/London'),
        ),
      ).toBe(true);
      const { rows } = await fx.pool.query(
        `SELECT status, instance_id, facts->>'alreadyPresent' AS already FROM end_of_day_reporting_event e
         JOIN end_of_day_reporting p USING (process_id) WHERE p.date = $1 ORDER BY event_id`,
        [date],
      );
      // A crash after the rename (or after the put) is recognised: the file is not sent again.
      if (['sftp.after-rename', 'submit.before-event'].includes(point)) {
        expect(rows.find((r) => r.status === 'REPORT_SUBMITTED')).toMatchObject({
          instance_id: 'instance-b',
          already: 'true',
        });
      }
      if (['archive.after-put', 'archive.before-event'].includes(point)) {
        expect(rows.find((r) => r.status === 'REPORT_ARCHIVED')).toMatchObject({
          instance_id: 'instance-b',
          already: 'true',
        });
      }
    });
  }

  it('a second crash in the middle of the upload, on resume, still ends with one complete file', async () => {
    const date = nextDate();
    const first = await runCli(
      ['run', '--config', leaseConfig, '--date', date],
      envFor('a', 'sftp.mid-upload:kill'),
    );
    expect(first.signal).toBe('SIGKILL');
    await sleep(3200);
    const second = await runCli(
      ['run', '--config', leaseConfig, '--date', date],
      envFor('b', 'sftp.mid-upload:kill'),
    );
    expect(second.signal).toBe('SIGKILL');
    const third = await runUntilNotLocked(leaseConfig, date, 'c');
    expect(third.code, third.stderr).toBe(0);
    await expectInvariants(fx, names(date));
  });

  for (const [strategy, config] of [
    ['lease', () => leaseConfig],
    ['table', () => tableConfig],
  ] as const) {
    it(`5 instances started together (${strategy} lock): one does the work, the others exit 75 or 0`, async () => {
      const date = nextDate();
      const results = await Promise.all(
        [1, 2, 3, 4, 5].map((i) =>
          runCli(['run', '--config', config(), '--date', date], envFor(`racer-${i}`)),
        ),
      );
      const codes = results.map((r) => r.code);
      for (const r of results) expect([0, 75], r.stderr).toContain(r.code);
      expect(codes.filter((c) => c === 0).length).toBeGreaterThanOrEqual(1);
      await expectInvariants(fx, names(date));
      const { rows } = await fx.pool.query(
        `SELECT DISTINCT instance_id FROM end_of_day_reporting_event e JOIN end_of_day_reporting p USING (process_id)
         WHERE p.date = $1 AND status <> 'STARTED'`,
        [date],
      );
      expect(rows).toHaveLength(1);
    });
  }

  it('a holder paused past its lease cannot record a success and does not upload a second copy', async () => {
    const date = nextDate();
    const { fileName } = names(date);
    // The holder stops (SIGSTOP) in the middle of its upload.
    const stale: ChildProcess = spawn(
      process.execPath,
      [CLI, 'run', '--config', leaseConfig, '--date', date],
      {
        env: envFor('stale', 'sftp.mid-upload:sleep1000'),
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let staleErr = '';
    const staleExit = new Promise<number | null>((resolve) => stale.on('close', (code) => resolve(code)));
    await new Promise<void>((resolve, reject) => {
      stale.stderr?.on('data', (d: Buffer) => {
        staleErr += d.toString();
        if (staleErr.includes('failpoint sftp.mid-upload reached')) resolve();
      });
      stale.on('close', () => reject(new Error(`stale holder exited early: ${staleErr}`)));
    });
    stale.kill('SIGSTOP');
    try {
      // Another instance takes over once the lease lapsed, and completes the day.
      const fresh = await runUntilNotLocked(leaseConfig, date, 'fresh');
      expect(fresh.code, fresh.stderr).toBe(0);
      await expectInvariants(fx, names(date));
    } finally {
      stale.kill('SIGCONT');
    }
    const before = await stat(path.join(fx.sftpDir, fileName));
    const code = await staleExit;
    expect(code, staleErr).toBe(1);
    expect(staleErr).toMatch(/lock|lease/i);
    const after = await stat(path.join(fx.sftpDir, fileName));
    expect([after.ino, after.mtimeMs, after.size]).toEqual([before.ino, before.mtimeMs, before.size]);
    await expectInvariants(fx, names(date));
    const { rows } = await fx.pool.query(
      `SELECT status, instance_id FROM end_of_day_reporting_event e JOIN end_of_day_reporting p USING (process_id)
       WHERE p.date = $1 AND status IN ('ROWS_CREATED', 'REPORT_SUBMITTED', 'REPORT_ARCHIVED')`,
      [date],
    );
    expect(rows.every((r) => r.instance_id === 'fresh' || r.status === 'ROWS_CREATED')).toBe(true);
    expect(rows.find((r) => r.status === 'REPORT_SUBMITTED')?.instance_id).toBe('fresh');
  });
});
