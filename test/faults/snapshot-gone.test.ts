/**
 * Issue 9, fault 7: the snapshot of a captured day disappears (a DBA deletes the stored content of
 * the process, or part of it). The next run must stop with a permanent error naming the process and what to
 * do, without retrying and without creating anything on the SFTP server or in S3.
 */
import { readdir } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createFixture, type Fixture, runCli, TRANSACTIONS_DDL } from '../helpers/fixture.js';

describe('snapshot of a captured day disappears (fault 7)', () => {
  let fx: Fixture;
  let config: string;
  beforeAll(async () => {
    fx = await createFixture('snapgone');
    await fx.pool.query(TRANSACTIONS_DDL);
    await fx.pool.query(
      `INSERT INTO transactions SELECT d * 1000 + g, day, day + g * interval '1 minute', 'tx ' || g, g
       FROM generate_series(1, 2) AS d, LATERAL (SELECT ('2026-09-01'::date + d - 1) AS day) AS days,
            generate_series(1, 500) AS g`,
    );
    config = await fx.writeConfig({
      top: {
        lock: { strategy: 'lease', atMostFor: '2s', atLeastFor: '0s', renewEvery: '500ms' },
        retry: { attempts: 3, initialDelay: '100ms', maxDelay: '300ms' },
      },
    });
  });
  afterAll(async () => {
    await fx?.close();
  });

  /** Captures the day, then the process dies before submitting (kill -9 after the commit). */
  async function captureOnly(date: string): Promise<{ processId: string; chunks: number }> {
    const killed = await runCli(['run', '--config', config, '--date', date], {
      ...fx.env,
      EOD_FAILPOINT: 'rows.after-commit:kill',
    });
    expect(killed.signal).toBe('SIGKILL');
    const { rows } = await fx.pool.query<{ process_id: string; chunks: string }>(
      `SELECT p.process_id, (SELECT count(*) FROM end_of_day_reporting_content c
                             WHERE c.process_id = p.process_id) AS chunks
       FROM end_of_day_reporting p WHERE p.report = 'eod-tx' AND p.date = $1::date`,
      [date],
    );
    const found = rows[0];
    if (!found) throw new Error('no captured process found');
    await sleep(2500); // the killed holder's lease lapses (atMostFor 2s)
    return { processId: found.process_id, chunks: Number(found.chunks) };
  }

  const leftovers = async (date: string) =>
    (await readdir(fx.sftpDir)).filter((n) => n.includes(date.replaceAll('-', ''))).sort();

  async function expectStoppedCleanly(
    date: string,
    processId: string,
    result: Awaited<ReturnType<typeof runCli>>,
    before: string[],
  ) {
    expect(result.code, result.stderr.slice(-3000)).toBe(1);
    expect(result.stdout).toMatch(new RegExp(`captured rows of process ${processId} are gone`));
    expect(result.stdout).toMatch(/restore .* from a backup/);
    const { rows } = await fx.pool.query<{ status: string; failure_details: string }>(
      `SELECT e.status, e.failure_details FROM end_of_day_reporting_event e WHERE e.process_id = $1
       AND e.status = 'REPORT_SUBMISSION_FAILURE'`,
      [processId],
    );
    expect(rows, 'permanent: one attempt, not retried').toHaveLength(1);
    const compact = date.replaceAll('-', '');
    expect(
      (await readdir(fx.sftpDir)).filter((n) => n.includes(compact)).sort(),
      'nothing created at the regulator by this run (a killed run may have left its own .part)',
    ).toEqual(before);
    expect((await fx.listObjects()).filter((k) => k.includes(compact))).toEqual([]);
  }

  it('captured content deleted: SNAPSHOT_MISSING, not retried, no .part at the regulator', async () => {
    const date = '2026-09-01';
    const { processId } = await captureOnly(date);
    await fx.pool.query('DELETE FROM end_of_day_reporting_content WHERE process_id = $1', [processId]);
    const before = await leftovers(date);
    const result = await runCli(['run', '--config', config, '--date', date], fx.env);
    await expectStoppedCleanly(date, processId, result, before);
  });

  it('part of the captured content deleted: the same, before anything remote is created', async () => {
    const date = '2026-09-02';
    const { processId, chunks } = await captureOnly(date);
    expect(chunks, 'the day is stored in several chunks').toBeGreaterThan(1);
    await fx.pool.query('DELETE FROM end_of_day_reporting_content WHERE process_id = $1 AND chunk_no = 1', [
      processId,
    ]);
    const before = await leftovers(date);
    const result = await runCli(['run', '--config', config, '--date', date], fx.env);
    await expectStoppedCleanly(date, processId, result, before);
  });
});
