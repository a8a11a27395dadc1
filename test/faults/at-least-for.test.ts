/**
 * Issue 9, fault 6: our own finished run blocks the rerun. With lock.atLeastFor, a released lease
 * stays taken until locked_at + atLeastFor; a manual `run` right after a failed run must say so
 * (held until T by the run that finished at T0, because of lock.atLeastFor) and wait for it,
 * instead of exiting 75 as if another instance were running. A live holder still means 75.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createFixture, type Fixture, runCli, TRANSACTIONS_DDL } from '../helpers/fixture.js';
import { expectInvariants } from '../helpers/invariants.js';
import { startCli } from '../helpers/watched-cli.js';

describe('lock.atLeastFor after our own finished run (fault 6)', () => {
  let fx: Fixture;
  let config: string;
  beforeAll(async () => {
    fx = await createFixture('atleast');
    await fx.pool.query(TRANSACTIONS_DDL);
    await fx.pool.query(
      `INSERT INTO transactions SELECT d * 1000 + g, day, day + g * interval '1 minute', 'tx ' || g, g
       FROM generate_series(1, 2) AS d, LATERAL (SELECT ('2026-10-01'::date + d - 1) AS day) AS days,
            generate_series(1, 100) AS g`,
    );
    config = await fx.writeConfig({
      top: {
        lock: { strategy: 'lease', atMostFor: '60s', atLeastFor: '15s', renewEvery: '1s' },
        retry: { attempts: 1, initialDelay: '100ms', maxDelay: '100ms' },
      },
    });
  });
  afterAll(async () => {
    await fx?.close();
  });

  it('run right after a failed run waits for atLeastFor, says why, and completes', async () => {
    const date = '2026-10-01';
    const failed = await runCli(['run', '--config', config, '--date', date], {
      ...fx.env,
      EOD_INSTANCE_ID: 'first',
      EOD_FAILPOINT: 'archive.before-put:throw',
    });
    expect(failed.code, failed.stderr.slice(-2000)).toBe(1);

    const rerun = await runCli(['run', '--config', config, '--date', date], {
      ...fx.env,
      EOD_INSTANCE_ID: 'second',
    });
    expect(rerun.code, rerun.stdout + rerun.stderr.slice(-2000)).toBe(0);
    expect(rerun.stdout).toMatch(
      /eod-tx 2026-10-01: lock held until \S+ by the run of first that finished at \S+, because of lock\.atLeastFor \(15 s\); waiting \d+ s, then trying again/,
    );
    expect(rerun.stdout).toMatch(/eod-tx 2026-10-01: complete/);
    await expectInvariants(fx, {
      report: 'eod-tx',
      date,
      fileName: 'eod_20261001.csv',
      key: 'eod/2026/10/eod_20261001.csv',
    });
  });

  it('a live holder still means exit 75, naming it', async () => {
    const date = '2026-10-02';
    const holder = startCli(['run', '--config', config, '--date', date], {
      ...fx.env,
      EOD_INSTANCE_ID: 'busy',
      EOD_FAILPOINT: 'rows.after-commit:sleep4000',
    });
    await holder.output(/failpoint rows\.after-commit reached/);
    const second = await runCli(['run', '--config', config, '--date', date], {
      ...fx.env,
      EOD_INSTANCE_ID: 'other',
    });
    expect(second.code).toBe(75);
    expect(second.stdout).toMatch(
      /eod-tx 2026-10-02: lock held by busy \(since \S+, fencing token \d+\) until \S+ by database time, \d+ s from now\. A live holder renews it.*; nothing done/,
    );
    expect((await holder.exit).code).toBe(0);
  });
});
