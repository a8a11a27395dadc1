/**
 * What an operator did to a running installation that broke it (found by hand, then pinned here),
 * through the real CLI as child processes against real PostgreSQL, sshd and s3rver.
 */
import { readdir } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CliResult, createFixture, type Fixture, runCli, TRANSACTIONS_DDL } from '../helpers/fixture.js';
import { expectInvariants, fixtureNames } from '../helpers/invariants.js';

describe('operator mistakes after a crash', () => {
  let fx: Fixture;
  let config: string;
  let day = 0;
  const nextDate = () => `2026-08-${String(++day).padStart(2, '0')}`;
  const names = (date: string) => fixtureNames(date);
  const env = (failpoint?: string) => ({
    ...fx.env,
    EOD_INSTANCE_ID: 'operator-test',
    ...(failpoint ? { EOD_FAILPOINT: failpoint } : {}),
  });
  const run = (date: string, failpoint?: string): Promise<CliResult> =>
    runCli(['run', '--config', config, '--date', date], env(failpoint));
  /** Retries while the crashed holder's lease (3 s) has not lapsed yet. */
  async function whenFree(attempt: () => Promise<CliResult>): Promise<CliResult> {
    for (let i = 0; i < 40; i++) {
      const result = await attempt();
      if (result.code !== 75) return result;
      await sleep(250);
    }
    throw new Error('lock never became free');
  }
  const statuses = async (date: string) =>
    (
      await fx.pool.query(
        `SELECT e.status FROM end_of_day_reporting_event e JOIN end_of_day_reporting USING (process_id)
         WHERE date = $1 ORDER BY event_id`,
        [date],
      )
    ).rows.map((r) => r.status);

  beforeAll(async () => {
    fx = await createFixture('operator-breaks');
    await fx.pool.query(TRANSACTIONS_DDL);
    await fx.pool.query(
      `INSERT INTO transactions
       SELECT d * 100000 + g, day, day + g * interval '2 seconds', 'tx ' || g, g / 7.0
       FROM generate_series(1, 6) AS d, LATERAL (SELECT ('2026-08-01'::date + d - 1) AS day) AS days,
            generate_series(1, 500) AS g`,
    );
    config = await fx.writeConfig({
      top: { lock: { strategy: 'lease', atMostFor: '3s', atLeastFor: '0s', renewEvery: '1s' } },
    });
  });
  afterAll(async () => {
    await fx?.close();
  });

  it('resolve --submitted on a day that never reached the SFTP step is refused (exit 2, nothing recorded); the next run submits it', async () => {
    const date = nextDate();
    const killed = await run(date, 'rows.after-commit:kill');
    expect(killed.signal, killed.stderr).toBe('SIGKILL');

    // A mistyped --date, or a guess: nothing of this day can have reached the regulator.
    const resolved = await whenFree(() =>
      runCli(
        [
          'resolve',
          '--config',
          config,
          '--report',
          'eod-tx',
          '--date',
          date,
          '--submitted',
          '--reason',
          'guess',
        ],
        env(),
      ),
    );
    expect(resolved.code, resolved.stdout + resolved.stderr).toBe(2);
    expect(resolved.stderr).toMatch(
      new RegExp(
        `^error: eod-tx ${date}: nothing to resolve: .*not uncertain.*eod-report run --report eod-tx --date ${date}`,
      ),
    );
    expect(await statuses(date)).toEqual(['STARTED', 'ROWS_CREATED']);

    const resumed = await whenFree(() => run(date));
    expect(resumed.code, resumed.stderr).toBe(0);
    const { fileName } = names(date);
    expect(await readdir(fx.sftpDir)).toContain(fileName);
    await expectInvariants(fx, names(date));
  });

  it('a rerun right after kill -9 exits 75 naming the dead holder, until when its lease blocks, and lock.atMostFor', async () => {
    const date = nextDate();
    // Its own report (own lock) with a lease long enough to read the message while it is held.
    const held = await fx.writeConfig({
      top: { lock: { strategy: 'lease', atMostFor: '1m', atLeastFor: '0s' } },
      reports: [{ ...fx.baseReport(), name: 'eod-held', fileName: 'held_{yyyy}{MM}{dd}.csv' }],
    });
    const killed = await runCli(['run', '--config', held, '--date', date], env('rows.after-commit:kill'));
    expect(killed.signal, killed.stderr).toBe('SIGKILL');

    const rerun = await runCli(['run', '--config', held, '--date', date], env());
    expect(rerun.code, rerun.stdout + rerun.stderr).toBe(75);
    const line = rerun.stdout.trim().split('\n').at(-1) ?? '';
    expect(line).toMatch(
      new RegExp(
        `^eod-held ${date}: lock held by operator-test \\(since \\S+Z, fencing token \\d+\\) until (\\S+Z) by database time, (\\d+) s from now\\. .*lock\\.atMostFor: 60 s.*; nothing done$`,
      ),
    );
    const seconds = Number(/, (\d+) s from now/.exec(line)?.[1]);
    expect(seconds).toBeGreaterThan(0);
    expect(seconds).toBeLessThanOrEqual(60);

    const resolved = await runCli(
      [
        'resolve',
        '--config',
        held,
        '--report',
        'eod-held',
        '--date',
        date,
        '--not-submitted',
        '--reason',
        'x',
      ],
      env(),
    );
    expect(resolved.code, resolved.stderr).toBe(75);
    expect(resolved.stderr).toMatch(
      new RegExp(`^eod-held ${date}: lock held by operator-test .*nothing recorded`),
    );
  });
});
