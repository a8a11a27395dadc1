/**
 * Issue 9, fault 2: hung servers. An S3 endpoint that accepts connections and never answers, an
 * SFTP session that stops answering mid-upload (our TCP proxy stops forwarding, the connection stays
 * open), and a control statement that never returns (another session holds the lease row). Each
 * must end in a recorded failure naming its deadline, a retry, and a completed day once the fault
 * is gone. The control statement is blocked in the default one-pass run (the submission feeding
 * from the render) as well as with the steps one after another.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFaultProxy } from '../helpers/fault-proxy.js';
import { createFixture, type Fixture, TRANSACTIONS_DDL } from '../helpers/fixture.js';
import { expectInvariants, fixtureNames } from '../helpers/invariants.js';
import { s3Server, sftpServer } from '../helpers/servers.js';
import { startCli, waitFor } from '../helpers/watched-cli.js';

const names = (date: string) => fixtureNames(date);

describe('hung servers (fault 2)', () => {
  let fx: Fixture;
  beforeAll(async () => {
    fx = await createFixture('hung');
    await fx.pool.query(TRANSACTIONS_DDL);
    // ~6 MB a day: an upload is still running when the proxy stalls it.
    await fx.pool.query(
      `INSERT INTO transactions
       SELECT d * 1000000 + g, day, day + g * interval '1 second', repeat('h', 60) || ' ' || g, g / 7.0
       FROM generate_series(1, 5) AS d, LATERAL (SELECT ('2026-07-01'::date + d - 1) AS day) AS days,
            generate_series(1, 60000) AS g`,
    );
  });
  afterAll(async () => {
    await fx?.close();
  });

  const top = {
    lock: { strategy: 'lease', atMostFor: '60s', atLeastFor: '0s', renewEvery: '1s' },
    retry: { attempts: 4, initialDelay: '300ms', maxDelay: '1s' },
  };

  const failures = async (date: string, status: string) =>
    (
      await fx.pool.query<{ failure_details: string }>(
        `SELECT e.failure_details FROM end_of_day_reporting p JOIN end_of_day_reporting_event e USING (process_id)
         WHERE p.report = 'eod-tx' AND p.date = $1::date AND e.status = $2 ORDER BY e.event_id`,
        [date, status],
      )
    ).rows.map((r) => r.failure_details);

  it('an S3 endpoint that accepts and never answers: the archive step times out, is recorded and retried', async () => {
    const date = '2026-07-01';
    const s3 = new URL(s3Server().endpoint);
    const proxy = await startFaultProxy({ host: s3.hostname, port: Number(s3.port) });
    try {
      proxy.stall();
      const base = fx.baseReport() as { s3: Record<string, unknown> };
      const config = await fx.writeConfig({
        top,
        report: {
          s3: {
            ...base.s3,
            endpoint: `http://127.0.0.1:${proxy.port}`,
            connectTimeout: '1s',
            requestTimeout: '1s',
            noProgressTimeout: '2s',
          },
        },
      });
      const run = startCli(['run', '--config', config, '--date', date], {
        ...fx.env,
        EOD_INSTANCE_ID: 's3-hang',
      });
      const recorded = await waitFor('a recorded archive failure', async () => {
        const found = await failures(date, 'REPORT_ARCHIVING_FAILURE');
        return found.length > 0 ? found : undefined;
      });
      expect(recorded[0]).toMatch(/requestTimeout|timed out|TimeoutError/i);
      expect(proxy.accepted, 'the endpoint was reached and held the connection').toBeGreaterThan(0);
      proxy.pass();
      const exit = await run.exit;
      expect(exit, run.stderr.slice(-3000)).toEqual({ code: 0, signal: null });
      await expectInvariants(fx, names(date));
    } finally {
      await proxy.close();
    }
  });

  it('an SFTP session that stops answering mid-upload: the submit times out, is recorded and retried', async () => {
    const date = '2026-07-02';
    const sftp = sftpServer();
    const proxy = await startFaultProxy({ host: '127.0.0.1', port: sftp.port });
    try {
      const base = fx.baseReport() as { sftp: Record<string, unknown> };
      const config = await fx.writeConfig({
        top,
        report: {
          sftp: { ...base.sftp, port: proxy.port, requestTimeout: '2s', noProgressTimeout: '3s' },
        },
      });
      // Stall once ~1.5 MB of the upload went through: TCP stays open, nothing more is forwarded.
      const stalled = proxy.after(1_500_000, 'stall');
      const run = startCli(['run', '--config', config, '--date', date], {
        ...fx.env,
        EOD_INSTANCE_ID: 'sftp-hang',
      });
      await stalled;
      const recorded = await waitFor('a recorded submit failure', async () => {
        const found = await failures(date, 'REPORT_SUBMISSION_FAILURE');
        return found.length > 0 ? found : undefined;
      });
      expect(recorded[0]).toMatch(/sftp\.(requestTimeout|noProgressTimeout)/);
      proxy.pass();
      const exit = await run.exit;
      expect(exit, run.stderr.slice(-3000)).toEqual({ code: 0, signal: null });
      await expectInvariants(fx, names(date));
    } finally {
      await proxy.close();
    }
  });

  it('a capture waiting on the uncommitted chunks of a frozen holder of the same process: the wait ends at database.statementTimeout, is recorded and retried, and the day completes once they are gone', async () => {
    const date = '2026-07-06';
    await fx.pool.query(
      `INSERT INTO transactions SELECT 6000000 + g, $1::date, $1::date + g * interval '1 second', 'frozen ' || g, g
       FROM generate_series(1, 20000) AS g`,
      [date],
    );
    const config = await fx.writeConfig({ top: { ...top, database: { statementTimeout: '1s' } } });
    // A first run leaves the process (STARTED, a failed capture) so the frozen holder's chunks can
    // carry its id.
    const first = startCli(['run', '--config', config, '--date', date], {
      ...fx.env,
      EOD_INSTANCE_ID: 'frozen-1',
      EOD_FAILPOINT: 'rows.before-commit:throw',
    });
    await first.exit;
    const { rows } = await fx.pool.query<{ process_id: string }>(
      `SELECT process_id FROM end_of_day_reporting WHERE report = 'eod-tx' AND date = $1::date`,
      [date],
    );
    const processId = rows[0]?.process_id;
    expect(processId).toBeDefined();
    // The frozen holder: its capture transaction wrote chunk 0 and never ends.
    const frozen = await fx.pool.connect();
    let run: ReturnType<typeof startCli> | undefined;
    try {
      await frozen.query('BEGIN');
      await frozen.query(
        `INSERT INTO end_of_day_reporting_content (process_id, chunk_no, data) VALUES ($1, 0, '\\x00')`,
        [processId],
      );
      run = startCli(['run', '--config', config, '--date', date], { ...fx.env, EOD_INSTANCE_ID: 'frozen-2' });
      await run.output(new RegExp(`"msg":"eod-tx ${date}: rows failed: [^\\n]*lock timeout`), 30_000);
    } catch (error) {
      run?.child.kill('SIGKILL');
      throw error;
    } finally {
      await frozen.query('ROLLBACK').catch(() => undefined);
      frozen.release();
    }
    const exit = await run.exit;
    expect(exit, run.stderr.slice(-3000)).toEqual({ code: 0, signal: null });
    expect((await failures(date, 'ROWS_CREATION_FAILURE')).some((d) => /lock timeout/.test(d))).toBe(true);
    await expectInvariants(fx, names(date));
  });

  it.each([
    [
      'in one pass (the default), blocked right before the SFTP rename',
      '2026-07-03',
      'sftp.before-rename',
      {},
    ],
    ['in one pass (the default), blocked after the capture', '2026-07-04', 'rows.after-commit', {}],
    [
      'with the steps one after another (EOD_ONE_PASS=off)',
      '2026-07-05',
      'rows.after-commit',
      { EOD_ONE_PASS: 'off' },
    ],
  ])(
    'a control statement that never returns, %s: it is cancelled by database.statementTimeout, recorded and retried, the lease released',
    async (_mode, date, failpoint, env) => {
      const config = await fx.writeConfig({ top: { ...top, database: { statementTimeout: '1s' } } });
      const run = startCli(['run', '--config', config, '--date', date], {
        ...fx.env,
        EOD_INSTANCE_ID: 'stmt-hang',
        EOD_FAILPOINT: `${failpoint}:sleep1500`,
        ...env,
      });
      await run.output(new RegExp(`failpoint ${failpoint.replace('.', '\\.')} reached`));
      // Another session holds the lease row: every fenced statement of the run now blocks. In one
      // pass the submission runs beside the failpoint and may be done by now; then the blocked
      // statement is the archive's.
      const blocker = await fx.pool.connect();
      let step: string | undefined;
      try {
        await blocker.query('BEGIN');
        await blocker.query(`SELECT 1 FROM shedlock WHERE name = 'eod-report:eod-tx' FOR UPDATE`);
        // Logged while the row is still held: the run did not wait for it.
        const logged = await run.output(
          new RegExp(
            `"msg":"eod-tx ${date}: (submit|archive) failed: [^\\n]*statement timeout \\(database\\.statementTimeout\\)`,
          ),
          30_000,
        );
        step = logged[1];
      } catch (error) {
        run.child.kill('SIGKILL');
        throw error;
      } finally {
        await blocker.query('ROLLBACK').catch(() => undefined);
        blocker.release();
      }
      const exit = await run.exit;
      expect(exit, run.stderr.slice(-3000)).toEqual({ code: 0, signal: null });
      const { rows } = await fx.pool.query<{ free: boolean }>(
        `SELECT lock_until <= now() AS free FROM shedlock WHERE name = 'eod-report:eod-tx'`,
      );
      expect(rows[0]?.free, 'the lease is released, not left to lapse').toBe(true);
      const status = step === 'submit' ? 'REPORT_SUBMISSION_FAILURE' : 'REPORT_ARCHIVING_FAILURE';
      const recorded = await failures(date, status);
      expect(recorded[0], 'recorded once the statement could run again').toMatch(/statement timeout/);
      await expectInvariants(fx, names(date));
    },
  );
});
