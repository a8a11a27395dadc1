/**
 * The behaviours of regulators' servers listed in issue 10, each on a server configured to show
 * it: ProFTPD mod_sftp with `SFTPExtensions -posixRename` and `<Limit …>` rules, rclone, an sshd
 * that offers only SHA-1 key exchange, an inbox that collects every closed file, and the
 * in-process ssh2 server with quirks the packaged servers do not show (no O_EXCL, no size, FSTAT
 * size 0, keyboard-interactive only, no pipelined writes).
 */
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DeliveryLog, SftpDelivery } from '../../src/adapters/sftp/sftp-delivery.js';
import type { SftpConfig } from '../../src/config/schema.js';
import { EodError } from '../../src/core/errors.js';
import { startProftpdSftp } from '../../src/embedded/proftpd.js';
import { type InProcessQuirks, startInProcessSftp } from '../../src/embedded/sftp-in-process.js';
import type { EmbeddedSftp } from '../../src/embedded/sftp-server.js';
import { startOpenSshSftp } from '../../src/embedded/sshd.js';
import { createFixture, type Fixture, runCli, TRANSACTIONS_DDL } from '../helpers/fixture.js';
import { memoryContent } from '../helpers/memory-content.js';
import { startPickupLoop } from '../helpers/pickup-loop.js';
import { otherSftpServer, sftpServer } from '../helpers/servers.js';
import { sftpConfigFor, sftpSectionFor } from '../helpers/sftp-config.js';

const MiB = 1024 * 1024;
const UPLOAD_ONLY = ['READ', 'LIST', 'NLST', 'MLSD', 'MLST', 'STAT', 'LSTAT'];

let baseDir: string;
const servers: EmbeddedSftp[] = [];
let proftpd: EmbeddedSftp;
let proftpdPlainRename: EmbeddedSftp;
let legacyKex: EmbeddedSftp;
const quirky = new Map<string, EmbeddedSftp>();
const QUIRKS: Record<string, InProcessQuirks> = {
  noExcl: { noExclusiveCreate: true },
  noSize: { noSize: true },
  fstatZero: { fstatSizeZero: true },
  kbdint: { keyboardInteractivePassword: 'kbd-secret-7' },
  noPipelining: { noPipelinedWrites: true },
};

beforeAll(async () => {
  baseDir = await mkdtemp(path.join(os.tmpdir(), 'eod-sftp-cases-'));
  const proftpdRoot = path.join(baseDir, 'pf-root');
  for (const sub of ['nochmod', 'uploadonly', 'norename'])
    await mkdir(path.join(proftpdRoot, sub), { recursive: true });
  const started = await Promise.all([
    startProftpdSftp({
      baseDir,
      name: 'pf',
      limits: [
        { directory: path.join(proftpdRoot, 'nochmod'), deny: ['SITE_CHMOD'] },
        { directory: path.join(proftpdRoot, 'uploadonly'), deny: UPLOAD_ONLY },
        { directory: path.join(proftpdRoot, 'norename'), deny: ['RNFR', 'RNTO'] },
      ],
    }),
    startProftpdSftp({ baseDir, name: 'pf-plain', posixRename: false }),
    startOpenSshSftp({ baseDir, name: 'legacy', extraConfig: ['KexAlgorithms diffie-hellman-group14-sha1'] }),
    ...Object.entries(QUIRKS).map(([name, quirks]) => startInProcessSftp({ baseDir, name, quirks })),
  ]);
  servers.push(...started);
  [proftpd, proftpdPlainRename, legacyKex] = started as [EmbeddedSftp, EmbeddedSftp, EmbeddedSftp];
  Object.keys(QUIRKS).forEach((name, index) => {
    quirky.set(name, started[3 + index] as EmbeddedSftp);
  });
});

afterAll(async () => {
  await Promise.all(servers.map((server) => server.stop()));
  if (baseDir) await rm(baseDir, { recursive: true, force: true });
});

let directories = 0;
async function freshDirectory(root: string): Promise<string> {
  directories += 1;
  const directory = path.join(root, `case-${directories}-${randomBytes(3).toString('hex')}`);
  await mkdir(directory, { recursive: true, mode: 0o755 });
  return directory;
}

async function failure(promise: Promise<unknown>): Promise<EodError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof EodError) return error;
    throw error;
  }
  throw new Error('expected the delivery to fail');
}

function quirk(name: keyof typeof QUIRKS): EmbeddedSftp {
  const server = quirky.get(name);
  if (!server) throw new Error(`quirky server ${name} not started`);
  return server;
}

function recordingLog(): DeliveryLog & { warnings: string[]; infos: string[] } {
  const warnings: string[] = [];
  const infos: string[] = [];
  return {
    warnings,
    infos,
    info: (_facts, message) => infos.push(message),
    warn: (_facts, message) => warnings.push(message),
  };
}

async function deliverAndRead(config: SftpConfig, bytes: Buffer, log?: DeliveryLog) {
  const receipt = await new SftpDelivery(config, log ? { log } : {}).deliver('eod.csv', memoryContent(bytes));
  const file = await readFile(path.join(config.directory, 'eod.csv'));
  return { receipt, file, names: await readdir(config.directory) };
}

describe('server without posix-rename@openssh.com (ProFTPD SFTPExtensions -posixRename)', () => {
  it('delivers with plain SSH_FXP_RENAME after finding the final name absent, and says so in the proof', async () => {
    const directory = await freshDirectory(proftpdPlainRename.root);
    const bytes = randomBytes(MiB + 3);
    const { receipt, file, names } = await deliverAndRead(
      sftpConfigFor(proftpdPlainRename, directory),
      bytes,
    );
    expect(file.equals(bytes)).toBe(true);
    expect(names).toEqual(['eod.csv']);
    expect(receipt.proof?.rename).toBe('rename');
  });

  it('refuses, without overwriting, a final file with other content that appears', async () => {
    const directory = await freshDirectory(proftpdPlainRename.root);
    await writeFile(path.join(directory, 'eod.csv'), 'theirs');
    const error = await failure(
      new SftpDelivery(sftpConfigFor(proftpdPlainRename, directory)).deliver(
        'eod.csv',
        memoryContent(randomBytes(6)),
      ),
    );
    expect(error.code).toBe('REMOTE_CONFLICT');
    expect(await readFile(path.join(directory, 'eod.csv'), 'utf8')).toBe('theirs');
  });

  it('a refused rename (ProFTPD <Limit RNFR RNTO>) is not retryable and names atomicity', async () => {
    const directory = path.join(proftpd.root, 'norename');
    const error = await failure(
      new SftpDelivery(sftpConfigFor(proftpd, directory)).deliver('eod.csv', memoryContent(randomBytes(100))),
    );
    expect(error.retryable).toBe(false);
    expect(error.message).toMatch(/reports\[\]\.sftp\.atomicity/);
    expect(await readdir(directory)).toEqual([]);
  });
});

describe('SETSTAT refused (ProFTPD <Limit SITE_CHMOD>)', () => {
  it('fileMode null: no SETSTAT at all, delivered with the server default mode', async () => {
    const directory = path.join(proftpd.root, 'nochmod');
    const bytes = randomBytes(50_000);
    const { receipt, file } = await deliverAndRead(
      sftpConfigFor(proftpd, directory, { fileMode: null }),
      bytes,
    );
    expect(file.equals(bytes)).toBe(true);
    expect(receipt.proof?.mode).toBeNull();
    await rm(path.join(directory, 'eod.csv'));
  });

  it('a set fileMode: a permanent error naming reports[].sftp.fileMode, no temporary file left', async () => {
    const directory = path.join(proftpd.root, 'nochmod');
    const error = await failure(
      new SftpDelivery(sftpConfigFor(proftpd, directory)).deliver('eod.csv', memoryContent(randomBytes(100))),
    );
    expect(error.retryable).toBe(false);
    expect(error.message).toMatch(/reports\[\]\.sftp\.fileMode/);
    expect(await readdir(directory)).toEqual([]);
  });
});

describe('exclusive create (O_EXCL) unsupported', () => {
  it('falls back to create+truncate of our own temporary name', async () => {
    const server = quirk('noExcl');
    const bytes = randomBytes(200_000);
    const { receipt, file, names } = await deliverAndRead(
      sftpConfigFor(server, await freshDirectory(server.root)),
      bytes,
    );
    expect(file.equals(bytes)).toBe(true);
    expect(names).toEqual(['eod.csv']);
    expect(receipt.proof?.create).toBe('create-truncate');
  });

  it('with atomicity direct (the final name) it refuses rather than risk overwriting', async () => {
    const server = quirk('noExcl');
    const directory = await freshDirectory(server.root);
    const error = await failure(
      new SftpDelivery(sftpConfigFor(server, directory, { atomicity: 'direct' })).deliver(
        'eod.csv',
        memoryContent(randomBytes(10)),
      ),
    );
    expect(error.retryable).toBe(false);
    expect(await readdir(directory)).toEqual([]);
  });
});

describe('upload-only inbox (ProFTPD <Limit READ LIST NLST MLSD MLST STAT LSTAT>)', () => {
  it('verify none: delivered; the proof is the bytes written and acknowledged', async () => {
    const directory = path.join(proftpd.root, 'uploadonly');
    const bytes = randomBytes(MiB);
    const { receipt, file, names } = await deliverAndRead(
      sftpConfigFor(proftpd, directory, { verify: 'none' }),
      bytes,
    );
    expect(file.equals(bytes)).toBe(true);
    expect(names).toEqual(['eod.csv']);
    expect(receipt.proof).toMatchObject({
      verify: 'none',
      verifiedBy: 'acknowledged-bytes',
      acknowledgedBytes: MiB,
    });
    await rm(path.join(directory, 'eod.csv'));
  });

  it('verify readback (the default): a permanent error naming reports[].sftp.verify', async () => {
    const directory = path.join(proftpd.root, 'uploadonly');
    const error = await failure(
      new SftpDelivery(sftpConfigFor(proftpd, directory)).deliver('eod.csv', memoryContent(randomBytes(10))),
    );
    expect(error.retryable).toBe(false);
    expect(error.message).toMatch(/reports\[\]\.sftp\.verify/);
    expect(await readdir(directory)).toEqual([]);
  });
});

describe('inbox that collects every closed file (pick-up loop on OpenSSH)', () => {
  it('tempDirectory: exactly one file collected, the complete one', async () => {
    const server = sftpServer();
    const inbox = await freshDirectory(server.root);
    const staging = await freshDirectory(server.root);
    const collected = `${inbox}-collected`;
    const loop = await startPickupLoop(inbox, collected);
    try {
      const bytes = randomBytes(3 * MiB);
      const receipt = await new SftpDelivery(
        sftpConfigFor(server, inbox, { tempDirectory: staging }),
      ).deliver('eod.csv', memoryContent(bytes));
      expect(receipt.alreadyPresent).toBe(false);
      expect(await loop.settled(1)).toEqual(['1-eod.csv']);
      expect((await readFile(path.join(collected, '1-eod.csv'))).equals(bytes)).toBe(true);
      expect(await readdir(staging)).toEqual([]);
    } finally {
      await loop.stop();
    }
  });

  it('without tempDirectory: the collected temporary file stops the day (not retryable), never a second copy', async () => {
    const server = sftpServer();
    const inbox = await freshDirectory(server.root);
    const loop = await startPickupLoop(inbox, `${inbox}-collected`, 20);
    try {
      // As the run would: attempt again while the error says it may help (up to 6 attempts).
      const config = sftpConfigFor(server, inbox);
      // The inbox takes the closed temporary file before we rename it: wait until it has.
      const failpoint = async (name: string) => {
        if (name !== 'sftp.after-part-upload') return;
        const seen = loop.picked.length;
        for (let waited = 0; loop.picked.length === seen && waited < 10_000; waited += 20) {
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
      };
      let last: EodError | undefined;
      for (let attempt = 1; attempt <= 6; attempt++) {
        last = await failure(
          new SftpDelivery(config, { failpoint }).deliver('eod.csv', memoryContent(randomBytes(MiB))),
        );
        if (!last.retryable) break;
      }
      expect(last?.retryable).toBe(false);
      expect(last?.message).toMatch(/tempDirectory/);
      expect(await loop.settled(1)).toHaveLength(1);
    } finally {
      await loop.stop();
    }
  });

  it('atomicity direct: only the final name is ever written', async () => {
    const server = sftpServer();
    const inbox = await freshDirectory(server.root);
    const collected = `${inbox}-collected`;
    const loop = await startPickupLoop(inbox, collected);
    try {
      const bytes = randomBytes(2 * MiB);
      const receipt = await new SftpDelivery(sftpConfigFor(server, inbox, { atomicity: 'direct' })).deliver(
        'eod.csv',
        memoryContent(bytes),
      );
      expect(receipt.proof?.rename).toBe('direct');
      expect(await loop.settled(1)).toEqual(['1-eod.csv']);
      expect((await readFile(path.join(collected, '1-eod.csv'))).equals(bytes)).toBe(true);
    } finally {
      await loop.stop();
    }
  });
});

describe('servers that report sizes differently', () => {
  it('attributes without a size: verified by the acknowledged bytes, and the proof says so', async () => {
    const server = quirk('noSize');
    const bytes = randomBytes(300_000);
    const { receipt, file, names } = await deliverAndRead(
      sftpConfigFor(server, await freshDirectory(server.root)),
      bytes,
    );
    expect(file.equals(bytes)).toBe(true);
    expect(names).toEqual(['eod.csv']);
    expect(receipt.proof?.verifiedBy).toBe('acknowledged-bytes');
    expect(receipt.proof?.notes.join(' ')).toMatch(/no size/);
  });

  it('FSTAT of an open handle reporting size 0: verified with STAT after close', async () => {
    const server = quirk('fstatZero');
    const bytes = randomBytes(300_000);
    const { receipt, file } = await deliverAndRead(
      sftpConfigFor(server, await freshDirectory(server.root)),
      bytes,
    );
    expect(file.equals(bytes)).toBe(true);
    expect(receipt.proof?.verifiedBy).toBe('stat-size');
  });
});

describe('servers that cannot take pipelined writes', () => {
  it('writes the file again in order when a pipelined write is refused, and warns', async () => {
    const server = quirk('noPipelining');
    const bytes = randomBytes(2 * MiB + 5);
    const log = recordingLog();
    const { receipt, file, names } = await deliverAndRead(
      sftpConfigFor(server, await freshDirectory(server.root)),
      bytes,
      log,
    );
    expect(file.equals(bytes)).toBe(true);
    expect(names).toEqual(['eod.csv']);
    expect(receipt.proof?.writes).toBe('in-order');
    expect(log.warnings.join('\n')).toMatch(/maxInFlight/);
  });

  it('sftp.maxInFlight: 1 writes in order from the start', async () => {
    const server = quirk('noPipelining');
    const bytes = randomBytes(MiB);
    const log = recordingLog();
    const { receipt } = await deliverAndRead(
      sftpConfigFor(server, await freshDirectory(server.root), { maxInFlight: 1 }),
      bytes,
      log,
    );
    expect(receipt.proof).toMatchObject({ maxInFlight: 1, writes: 'in-order' });
    expect(log.warnings).toEqual([]);
  });

  it('rclone serve sftp without a write cache takes a multi-MiB delivery', async () => {
    const server = otherSftpServer('rclone');
    const bytes = randomBytes(8 * MiB);
    const { file } = await deliverAndRead(sftpConfigFor(server, await freshDirectory(server.root)), bytes);
    expect(file.equals(bytes)).toBe(true);
  });
});

describe('authentication and key exchange', () => {
  it('keyboard-interactive-only password auth: answered with the configured password', async () => {
    const server = quirk('kbdint');
    const { privateKeyFile: _unused, ...withoutKey } = sftpConfigFor(
      server,
      await freshDirectory(server.root),
    );
    const bytes = randomBytes(1000);
    const { file } = await deliverAndRead({ ...withoutKey, password: 'kbd-secret-7' }, bytes);
    expect(file.equals(bytes)).toBe(true);

    const wrong = await failure(
      new SftpDelivery({ ...withoutKey, password: 'not-it-9' }).deliver('eod.csv', memoryContent(bytes)),
    );
    expect(wrong.message).toMatch(/keyboard-interactive/);
    expect(wrong.message).not.toContain('not-it-9');
  });

  it('legacy key exchange only: refused by default naming sftp.algorithms; delivered with it', async () => {
    const directory = await freshDirectory(legacyKex.root);
    const refused = await failure(
      new SftpDelivery(sftpConfigFor(legacyKex, directory)).deliver(
        'eod.csv',
        memoryContent(randomBytes(10)),
      ),
    );
    expect(refused.message).toMatch(/reports\[\]\.sftp\.algorithms/);
    const bytes = randomBytes(5000);
    const { file } = await deliverAndRead(
      sftpConfigFor(legacyKex, directory, { algorithms: { kex: ['diffie-hellman-group14-sha1'] } }),
      bytes,
    );
    expect(file.equals(bytes)).toBe(true);
  });
});

describe('a server that ignores the requested mode (rclone)', () => {
  it('records the mode seen in the proof and warns', async () => {
    const server = otherSftpServer('rclone');
    const log = recordingLog();
    const { receipt } = await deliverAndRead(
      sftpConfigFor(server, await freshDirectory(server.root)),
      randomBytes(1000),
      log,
    );
    expect(receipt.proof).toMatchObject({ mode: '0640', modeSeen: '0644' });
    expect(receipt.proof?.notes.join(' ')).toMatch(/0644, not the requested 0640/);
    expect(log.warnings.join('\n')).toMatch(/0644/);
  });
});

describe('choices logged once per connection', () => {
  it('one plan line per delivery connection: rename method, verification, mode', async () => {
    const log = recordingLog();
    await deliverAndRead(
      sftpConfigFor(proftpdPlainRename, await freshDirectory(proftpdPlainRename.root), { verify: 'stat' }),
      randomBytes(100),
      log,
    );
    expect(log.infos).toHaveLength(1);
    expect(log.infos[0]).toMatch(/rename rename, verify stat, mode 0640/);
  });
});

describe('check: the compatibility probe', () => {
  it('upload-only inbox with verify readback: cannot work, recommends verify none', async () => {
    const report = await new SftpDelivery(
      sftpConfigFor(proftpd, path.join(proftpd.root, 'uploadonly')),
    ).compatibility();
    expect(report.ok).toBe(false);
    expect(report.recommended.verify).toBe('none');
    expect(report.lines.join('\n')).toMatch(/stat with size +NO/);
    expect(await readdir(path.join(proftpd.root, 'uploadonly'))).toEqual([]);
  });

  it('chmod refused with a fileMode set: cannot work, recommends fileMode null', async () => {
    const report = await new SftpDelivery(
      sftpConfigFor(proftpd, path.join(proftpd.root, 'nochmod')),
    ).compatibility();
    expect(report.ok).toBe(false);
    expect(report.recommended.fileMode).toBeNull();
  });

  it('no posix-rename: plain rename works, the configured delivery can work', async () => {
    const directory = await freshDirectory(proftpdPlainRename.root);
    const report = await new SftpDelivery(sftpConfigFor(proftpdPlainRename, directory)).compatibility();
    expect(report.ok, report.lines.join('\n')).toBe(true);
    expect(report.lines.join('\n')).toMatch(/extension posix-rename@openssh.com NO/);
    expect(await readdir(directory)).toEqual([]);
  });

  it('an inbox that collects closed files: recommends a tempDirectory', async () => {
    const server = sftpServer();
    const inbox = await freshDirectory(server.root);
    const loop = await startPickupLoop(inbox, `${inbox}-collected`);
    try {
      const report = await new SftpDelivery(sftpConfigFor(server, inbox)).compatibility();
      expect(report.ok).toBe(false);
      expect(report.recommended.tempDirectory).toBeDefined();
    } finally {
      await loop.stop();
    }
  });
});

describe('eod-report check (CLI) on an upload-only inbox', () => {
  let fx: Fixture;
  beforeAll(async () => {
    fx = await createFixture('sftp-check');
    await fx.pool.query(TRANSACTIONS_DDL);
  });
  afterAll(async () => {
    await fx?.close();
  });

  it('prints a line per capability and the config it recommends; exit 1 when the configured mode cannot work', async () => {
    const inbox = path.join(proftpd.root, 'uploadonly');
    const sftp = { ...sftpSectionFor(proftpd, inbox), fileMode: null };
    const failing = await runCli(['check', '--config', await fx.writeConfig({ report: { sftp } })], fx.env);
    expect(failing.code, failing.stdout).toBe(1);
    expect(failing.stdout).toMatch(/^FAILED sftp eod-tx: .*cannot work as configured/m);
    expect(failing.stdout).toMatch(/^ {2}read back +NO/m);
    expect(failing.stdout).toMatch(/recommended: verify: "none"/);
    expect(failing.stdout).toMatch(/CANNOT WORK: verify "readback" needs STAT and READ/);

    const fitting = await runCli(
      ['check', '--config', await fx.writeConfig({ report: { sftp: { ...sftp, verify: 'none' } } })],
      fx.env,
    );
    expect(fitting.code, `${fitting.stdout}\n${fitting.stderr}`).toBe(0);
    expect(fitting.stdout).toMatch(/^ok +sftp eod-tx: .* ok \(host key/m);
    expect(await readdir(inbox)).toEqual([]);
  });
});
