/**
 * One delivery contract, run against every SFTP server the harness starts (issue 10): OpenSSH,
 * ProFTPD mod_sftp, rclone serve sftp (no write cache) and gesftpserver. The invariants of
 * PRODUCT.md §3 (one byte-identical final file and archive, no temporary file left, one success
 * event each), resume after a crash at each point, conflicts never overwritten, and a session
 * that freezes mid-upload ending in a recorded failure (the no-progress watchdog, issue 9).
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SFTP_FAILPOINTS, SftpDelivery } from '../../src/adapters/sftp/sftp-delivery.js';
import { isEodError } from '../../src/core/errors.js';
import type { ProvidedSftp } from '../harness/provided.js';
import { startFaultProxy } from '../helpers/fault-proxy.js';
import { createFixture, type Fixture, runCli, TRANSACTIONS_DDL } from '../helpers/fixture.js';
import { expectInvariants, fixtureNames, oracleCsv } from '../helpers/invariants.js';
import { memoryContent } from '../helpers/memory-content.js';
import { otherSftpServer, sftpServer } from '../helpers/servers.js';
import { sftpConfigFor, sftpSectionFor } from '../helpers/sftp-config.js';
import { startCli } from '../helpers/watched-cli.js';

const SERVERS: Array<[string, () => ProvidedSftp]> = [
  ['OpenSSH', () => sftpServer()],
  ['ProFTPD mod_sftp', () => otherSftpServer('proftpd')],
  ['rclone serve sftp (no write cache)', () => otherSftpServer('rclone')],
  ['gesftpserver', () => otherSftpServer('gesftpserver')],
];

const MiB = 1024 * 1024;
const QUERY =
  'SELECT id, booked_at, description, amount FROM transactions WHERE booked_on = $1::date ORDER BY id';

describe.each(SERVERS)('delivery contract on %s', (_name, serverOf) => {
  let server: ProvidedSftp;
  let fx: Fixture;
  let count = 0;

  beforeAll(async () => {
    server = serverOf();
    fx = await createFixture('contract');
    await fx.pool.query(TRANSACTIONS_DDL);
    // Enough rows for a file of several SFTP packets and more than one write in flight.
    await fx.pool.query(
      `INSERT INTO transactions
       SELECT g, DATE '2026-03-02' + (g % 3), TIMESTAMPTZ '2026-03-02 10:00:00+00' + g * interval '1 second',
              repeat('row ' || g, 20), g / 100.0
       FROM generate_series(1, 30000) g`,
    );
  });
  afterAll(async () => {
    await fx?.close();
  });

  async function freshDirectory(): Promise<string> {
    count += 1;
    const directory = path.join(server.root, `contract-${randomBytes(3).toString('hex')}-${count}`);
    await mkdir(directory, { recursive: true, mode: 0o755 });
    return directory;
  }

  it('delivers a byte-equal file, leaves no temporary file, and records its choices in the proof', async () => {
    const directory = await freshDirectory();
    const bytes = randomBytes(5 * MiB + 4321);
    const receipt = await new SftpDelivery(sftpConfigFor(server, directory)).deliver(
      'eod.csv',
      memoryContent(bytes),
    );
    expect(receipt.alreadyPresent).toBe(false);
    expect((await readFile(path.join(directory, 'eod.csv'))).equals(bytes)).toBe(true);
    expect(await readdir(directory)).toEqual(['eod.csv']);
    expect(receipt.proof).toMatchObject({
      rename: 'posix-rename',
      verify: 'readback',
      mode: '0640',
      acknowledgedBytes: bytes.length,
    });
  });

  it('recognises its own earlier delivery by reading it back and does not upload again', async () => {
    const directory = await freshDirectory();
    const bytes = randomBytes(300_000);
    const delivery = new SftpDelivery(sftpConfigFor(server, directory));
    await delivery.deliver('eod.csv', memoryContent(bytes));
    const before = await stat(path.join(directory, 'eod.csv'));
    const again = await delivery.deliver('eod.csv', memoryContent(bytes));
    expect(again.alreadyPresent).toBe(true);
    expect(again.proof?.provenBy).toBe('sha256');
    expect((await stat(path.join(directory, 'eod.csv'))).mtimeMs).toBe(before.mtimeMs);
  });

  it('never overwrites a final file with other content (REMOTE_CONFLICT, not retryable)', async () => {
    const directory = await freshDirectory();
    const theirs = randomBytes(1000);
    await writeFile(path.join(directory, 'eod.csv'), theirs);
    const error = await new SftpDelivery(sftpConfigFor(server, directory))
      .deliver('eod.csv', memoryContent(randomBytes(1000)))
      .then(
        () => undefined,
        (thrown: unknown) => thrown,
      );
    expect(isEodError(error, 'REMOTE_CONFLICT')).toBe(true);
    expect(isEodError(error) && error.retryable).toBe(false);
    expect((await readFile(path.join(directory, 'eod.csv'))).equals(theirs)).toBe(true);
    expect(await readdir(directory)).toEqual(['eod.csv']);
  });

  it('resumes after a failure at each point of the delivery: one final file, no temporary file', async () => {
    for (const point of SFTP_FAILPOINTS) {
      const directory = await freshDirectory();
      const bytes = randomBytes(2 * MiB + 17);
      const failing = new SftpDelivery(sftpConfigFor(server, directory), {
        failpoint: (name) => {
          if (name === point) throw new Error(`failpoint ${name}`);
        },
      });
      await expect(failing.deliver('eod.csv', memoryContent(bytes))).rejects.toThrow(`failpoint ${point}`);
      const receipt = await new SftpDelivery(sftpConfigFor(server, directory)).deliver(
        'eod.csv',
        memoryContent(bytes),
      );
      expect(receipt.alreadyPresent, point).toBe(point === 'sftp.after-rename');
      expect((await readFile(path.join(directory, 'eod.csv'))).equals(bytes), point).toBe(true);
      expect(await readdir(directory), point).toEqual(['eod.csv']);
    }
  });

  it('check() finds the configured delivery workable', async () => {
    const directory = await freshDirectory();
    const report = await new SftpDelivery(sftpConfigFor(server, directory)).compatibility();
    expect(report.ok, report.lines.join('\n')).toBe(true);
    expect(await readdir(directory), 'the probe removes its files').toEqual([]);
  });

  it('run: submits and archives PostgreSQL’s CSV; killed right after the rename, the next run completes the day', async () => {
    // Every failpoint is covered above at the adapter; here the whole run, with the database.
    for (const [date, point] of [
      ['2026-03-02', undefined],
      ['2026-03-03', 'sftp.after-rename'],
    ] as const) {
      const directory = await freshDirectory();
      const config = await fx.writeConfig({
        top: { lock: { strategy: 'lease', atMostFor: '2s', atLeastFor: '0s', renewEvery: '500ms' } },
        report: { query: QUERY, sftp: sftpSectionFor(server, directory) },
      });
      if (point) {
        const killed = await runCli(['run', '--config', config, '--date', date], {
          ...fx.env,
          EOD_FAILPOINT: `${point}:kill`,
        });
        expect(killed.signal, killed.stderr).toBe('SIGKILL');
      }
      // A killed holder's lease lapses after atMostFor.
      let result = await runCli(['run', '--config', config, '--date', date], fx.env);
      for (let wait = 0; result.code === 75 && wait < 20; wait++) {
        await new Promise((resolve) => setTimeout(resolve, 500));
        result = await runCli(['run', '--config', config, '--date', date], fx.env);
      }
      expect(result.code, result.stderr).toBe(0);
      const fileName = `eod_${date.replaceAll('-', '')}.csv`;
      const delivered = await expectInvariants(
        { ...fx, sftpDir: directory },
        { report: 'eod-tx', date, fileName, key: `eod/2026/03/${fileName}` },
      );
      const oracle = await oracleCsv(fx.pool, QUERY.replace('$1::date', `'${date}'::date`), 'Europe/London');
      expect(delivered.file.equals(oracle), date).toBe(true);
      expect(await readdir(directory), date).toEqual([fileName]);
    }
  });

  it('a session that freezes mid-upload (TCP alive): each attempt fails on sftp.noProgressTimeout, the lease is released, nothing final at the regulator; healed, the next run delivers one byte-identical file', async () => {
    const date = '2026-03-09';
    // About 10 MB: more than the writes in flight and the stream buffers hold, so the upload is
    // still reading its content when the session freezes.
    await fx.pool.query(
      `INSERT INTO transactions
       SELECT 100000 + g, DATE '2026-03-09', TIMESTAMPTZ '2026-03-09 09:00:00+00' + g * interval '1 second',
              repeat('stall ' || g, 40), g / 10.0
       FROM generate_series(1, 24000) g`,
    );
    const directory = await freshDirectory();
    const { fileName } = fixtureNames(date);
    const proxy = await startFaultProxy({ host: '127.0.0.1', port: server.port });
    let run: ReturnType<typeof startCli> | undefined;
    try {
      const config = await fx.writeConfig({
        top: {
          lock: { strategy: 'lease', atMostFor: '60s', atLeastFor: '0s', renewEvery: '1s' },
          retry: { attempts: 2, initialDelay: '300ms', maxDelay: '1s' },
        },
        report: {
          query: QUERY,
          sftp: {
            ...sftpSectionFor(server, directory),
            port: proxy.port,
            // The request timeout is far longer: only the watchdog can end these attempts in time.
            requestTimeout: '40s',
            noProgressTimeout: '1500ms',
          },
        },
      });
      // Every session freezes once 512 KiB of it went upstream: past the handshake, mid-upload.
      const frozen = proxy.stallEachAfter(512 * 1024);
      run = startCli(['run', '--config', config, '--date', date], { ...fx.env, EOD_INSTANCE_ID: 'stall' });
      await frozen;
      const exit = await Promise.race([
        run.exit,
        new Promise((resolve) => setTimeout(() => resolve('still running after 35 s'), 35_000)),
      ]);
      // Attempt 1 is fed by the render (one pass), attempt 2 reads the stored capture.
      expect(exit, run.stderr.slice(-3000)).toEqual({ code: 1, signal: null });
      const failures = (
        await fx.pool.query<{ failure_details: string }>(
          `SELECT e.failure_details FROM end_of_day_reporting p JOIN end_of_day_reporting_event e USING (process_id)
           WHERE p.report = 'eod-tx' AND p.date = $1::date AND e.status = 'REPORT_SUBMISSION_FAILURE'
           ORDER BY e.event_id`,
          [date],
        )
      ).rows.map((r) => r.failure_details);
      expect(failures).toHaveLength(2);
      for (const failure of failures)
        expect(failure).toMatch(
          /no bytes moved for \d+ ms after \d+ .*\(reports\[\]\.sftp\.noProgressTimeout = 1500 ms\)/,
        );
      expect(proxy.stalledConnections, 'both attempts froze mid-upload').toBe(2);
      const lease = await fx.pool.query<{ released_at: Date | null }>(
        `SELECT released_at FROM shedlock WHERE name = 'eod-report:eod-tx'`,
      );
      expect(lease.rows[0]?.released_at, 'the lease is released').not.toBeNull();
      expect(await readdir(directory), 'no final file at the regulator').not.toContain(fileName);
      expect(await fx.listObjects(), 'nothing archived').not.toContain(fixtureNames(date).key);

      proxy.pass();
      const healed = await runCli(['run', '--config', config, '--date', date], fx.env);
      expect(healed.code, healed.stderr.slice(-3000)).toBe(0);
      const delivered = await expectInvariants({ ...fx, sftpDir: directory }, fixtureNames(date));
      const oracle = await oracleCsv(fx.pool, QUERY.replace('$1::date', `'${date}'::date`), 'Europe/London');
      expect(delivered.file.equals(oracle)).toBe(true);
      expect(await readdir(directory)).toEqual([fileName]);
    } finally {
      run?.child.kill('SIGKILL');
      await proxy.close();
    }
  });
});
