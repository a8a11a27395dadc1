/**
 * `eod-report check` for one report's SFTP server (issue 10): which capabilities the delivery
 * needs the server has, found with a probe file of our own (never the inbox's real names) that
 * is removed afterwards; one line per capability, the config it recommends, and whether the
 * configured delivery can work there.
 */
import { randomBytes } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import type { Stats } from 'ssh2';
import type { SftpConfig } from '../../config/schema.js';
import { EodError } from '../../core/errors.js';
import { capabilitiesOf, formatMode } from './capabilities.js';
import type { SftpSession } from './connect.js';
import { isNoSuchFile, isRefusal, isUnsupported, type RemoteFs } from './remote-fs.js';

export interface ProbeReport {
  endpoint: string;
  /** Whether the configured delivery can work on this server. */
  ok: boolean;
  lines: string[];
  /** Settings that fit this server (only the ones that matter here). */
  recommended: Record<string, unknown>;
}

type Answer = { ok: true; detail?: string } | { ok: false; detail: string };

const PROBE_BYTES = Buffer.from('eod-report probe\n');
/** How long a closed probe file is watched for an inbox that collects closed files. */
const PICKUP_WATCH_MS = 1_500;

async function attempt(run: () => Promise<unknown>): Promise<Answer> {
  try {
    const detail = await run();
    return typeof detail === 'string' && detail !== '' ? { ok: true, detail } : { ok: true };
  } catch (error) {
    return { ok: false, detail: (error as Error).message };
  }
}

interface DirectoryFindings {
  directory: string;
  exists: Answer;
  create: Answer & { exclusive?: boolean };
  setstat: Answer;
  statSize: Answer;
  read: Answer;
  outOfOrder: Answer;
  keptAfterClose: Answer;
}

/** Probes `directory` with a file of our own; removes it whatever happens. */
async function probeDirectory(
  remote: RemoteFs,
  directory: string,
  mode: number,
): Promise<DirectoryFindings & { file: string }> {
  const file = `${directory.replace(/\/+$/, '')}/.eod-report-probe-${randomBytes(6).toString('hex')}`;
  const findings: DirectoryFindings & { file: string } = {
    directory,
    file,
    exists: await attempt(async () => {
      let stats: Stats;
      try {
        stats = await remote.stat(directory);
      } catch (error) {
        // An upload-only inbox answers no STAT: the create below tells whether it is usable.
        if (isRefusal(error)) return 'cannot tell (STAT refused)';
        throw error;
      }
      if (stats.mode !== undefined && !stats.isDirectory()) throw new Error('not a directory');
    }),
    create: { ok: false, detail: 'not tried' },
    setstat: { ok: false, detail: 'not tried' },
    statSize: { ok: false, detail: 'not tried' },
    read: { ok: false, detail: 'not tried' },
    outOfOrder: { ok: false, detail: 'not tried' },
    keptAfterClose: { ok: false, detail: 'not tried' },
  };
  let handle: Buffer | undefined;
  try {
    try {
      handle = await remote.createExclusive(file, null);
      findings.create = { ok: true, exclusive: true };
    } catch (error) {
      if (!isUnsupported(error)) throw error;
      handle = await remote.createOrTruncate(file, null);
      findings.create = { ok: true, exclusive: false, detail: 'no exclusive create (O_EXCL)' };
    }
    const open = handle;
    // Out of order: the second block first, alone; a server that cannot seek ahead refuses it.
    const block = remote.maxWriteLength();
    findings.outOfOrder = await attempt(async () => {
      await remote.write(open, PROBE_BYTES, block, file);
    });
    await remote.write(open, Buffer.alloc(block, 0x20), 0, file).catch(() => undefined);
    findings.setstat = await attempt(() => remote.fchmod(open, mode, file));
    await remote.close(open, file);
    handle = undefined;
    findings.statSize = await attempt(async () => {
      const stats = await remote.stat(file);
      if (typeof stats.size !== 'number') throw new Error('attributes carry no size');
      const seen = stats.mode === undefined ? undefined : stats.mode & 0o777;
      if (findings.setstat.ok && seen !== undefined && seen !== mode) {
        findings.setstat = { ok: true, detail: `answered ok, but the file shows ${formatMode(seen)}` };
      }
      return `${stats.size} bytes`;
    });
    findings.read = await attempt(async () => {
      const readHandle = await remote.openForReading(file);
      try {
        const buffer = Buffer.alloc(PROBE_BYTES.length);
        await remote.read(readHandle, buffer, 0, buffer.length, 0, file);
      } finally {
        await remote.closeQuietly(readHandle, file);
      }
    });
    await delay(PICKUP_WATCH_MS);
    findings.keptAfterClose = await attempt(async () => {
      try {
        await remote.stat(file);
      } catch (error) {
        if (isNoSuchFile(error))
          throw new Error(`the closed file vanished within ${PICKUP_WATCH_MS} ms (collected on close?)`);
        // Cannot look: say so, but it is no sign of collection.
        return 'cannot tell (STAT refused)';
      }
    });
  } catch (error) {
    findings.create = { ok: false, detail: (error as Error).message };
  } finally {
    if (handle) await remote.closeQuietly(handle, file);
  }
  return findings;
}

async function probeRename(
  remote: RemoteFs,
  from: string,
  toDirectory: string,
  method: 'posix-rename' | 'rename',
) {
  const to = `${toDirectory.replace(/\/+$/, '')}/.eod-report-probe-${randomBytes(6).toString('hex')}`;
  const result = await attempt(async () => {
    if (method === 'posix-rename') await remote.posixRename(from, to);
    else await remote.rename(from, to);
  });
  return { result, to };
}

const mark = (answer: Answer) => (answer.ok ? 'yes' : 'NO ');
const line = (name: string, answer: Answer) =>
  `  ${name.padEnd(34)} ${mark(answer)}${answer.detail ? `  (${answer.detail})` : ''}`;

/**
 * Probes the server behind `remote` for the delivery `config` asks for.
 * Never throws for what the server refuses: refusals are findings. Throws only when the
 * connection itself fails.
 */
export async function probeServer(
  remote: RemoteFs,
  session: SftpSession,
  config: SftpConfig,
): Promise<ProbeReport> {
  const capabilities = capabilitiesOf(remote);
  await requireDirectory(remote, config.directory, 'directory');
  if (config.tempDirectory !== undefined)
    await requireDirectory(remote, config.tempDirectory, 'tempDirectory');
  const mode = config.fileMode ?? 0o640;
  const temp = config.tempDirectory ?? config.directory;
  const inbox = await probeDirectory(remote, config.directory, mode);
  const staging = temp === config.directory ? inbox : await probeDirectory(remote, temp, mode);

  // Rename the staging probe file into the inbox (as a delivery does), then remove whatever is left.
  const renames: Record<'posix-rename' | 'rename', Answer> = {
    'posix-rename': { ok: false, detail: 'not offered' },
    rename: { ok: false, detail: 'not tried' },
  };
  const leftovers = new Set([inbox.file, staging.file]);
  if (staging.create.ok && staging.keptAfterClose.ok) {
    let current = staging.file;
    for (const method of ['posix-rename', 'rename'] as const) {
      if (method === 'posix-rename' && !capabilities.posixRename) continue;
      const { result, to } = await probeRename(remote, current, config.directory, method);
      renames[method] = result;
      if (result.ok) {
        leftovers.add(to);
        // Back into the staging directory for the next method.
        const back = await probeRename(remote, to, temp, 'rename');
        if (back.result.ok) {
          leftovers.add(back.to);
          current = back.to;
        } else if (method === 'posix-rename') current = to;
      }
    }
  }
  for (const file of leftovers) await remote.unlinkIfExists(file).catch(() => false);

  const canStat = inbox.statSize.ok || inbox.statSize.detail === 'attributes carry no size';
  const canRead = inbox.read.ok;
  const canRename = renames['posix-rename'].ok || renames.rename.ok;
  const recommended: Record<string, unknown> = {
    verify: canRead && canStat ? 'readback' : canStat ? 'stat' : 'none',
    fileMode: staging.setstat.ok ? (formatMode(config.fileMode) ?? null) : null,
    atomicity: canRename ? 'rename' : 'direct',
  };
  if (!inbox.keptAfterClose.ok && staging === inbox)
    recommended.tempDirectory = '<a directory the regulator does not collect from>';
  if (!inbox.outOfOrder.ok) recommended.maxInFlight = 1;

  const problems: string[] = [];
  if (!inbox.exists.ok) problems.push(`directory ${config.directory}: ${inbox.exists.detail}`);
  if (!staging.create.ok) problems.push(`cannot create a file in ${temp}`);
  if (config.fileMode !== null && !staging.setstat.ok)
    problems.push('fileMode is set but the server refuses SETSTAT: set fileMode: null');
  if (config.verify === 'readback' && !(canRead && canStat))
    problems.push(`verify "readback" needs STAT and READ: set verify: ${recommended.verify}`);
  if (config.verify === 'stat' && !canStat) problems.push('verify "stat" needs STAT: set verify: none');
  if (config.atomicity === 'rename' && !canRename)
    problems.push('no rename works here: set atomicity: direct (see README)');
  if (config.atomicity === 'rename' && !staging.keptAfterClose.ok)
    problems.push(
      `closed files vanish from ${temp}: set tempDirectory to a directory the regulator does not collect from`,
    );

  const ok = problems.length === 0;
  const lines = [
    `sftp ${session.endpoint} ${config.directory} ${ok ? 'ok' : 'cannot work as configured'} (host key ${session.hostKeySha256})`,
    line(
      'extension posix-rename@openssh.com',
      capabilities.posixRename ? { ok: true } : { ok: false, detail: 'plain SFTP rename only' },
    ),
    line(
      'extension fsync@openssh.com',
      capabilities.fsync ? { ok: true } : { ok: false, detail: 'not offered' },
    ),
    line(`directory ${config.directory}`, inbox.exists),
    ...(staging === inbox ? [] : [line(`tempDirectory ${temp}`, staging.exists)]),
    line(
      'create (exclusive)',
      staging.create.ok && staging.create.exclusive === false
        ? { ok: false, detail: 'no O_EXCL; create+truncate of our own name' }
        : staging.create,
    ),
    line('pipelined out-of-order writes', inbox.outOfOrder),
    line(`setstat mode ${formatMode(mode)}`, staging.setstat),
    line('stat with size', inbox.statSize),
    line('read back', inbox.read),
    line('closed file stays', inbox.keptAfterClose),
    ...(staging === inbox ? [] : [line(`closed file stays in tempDirectory`, staging.keptAfterClose)]),
    line('posix-rename', renames['posix-rename']),
    line('plain rename', renames.rename),
    `  configured: atomicity ${config.atomicity}, verify ${config.verify}, fileMode ${formatMode(config.fileMode) ?? 'null'}${config.tempDirectory ? `, tempDirectory ${config.tempDirectory}` : ''}`,
    `  recommended: ${Object.entries(recommended)
      .map(([key, value]) => `${key}: ${JSON.stringify(value)}`)
      .join(', ')}`,
    ...(problems.length === 0
      ? ['  the configured delivery works on this server']
      : problems.map((p) => `  CANNOT WORK: ${p}`)),
  ];
  return { endpoint: session.endpoint, ok, lines, recommended };
}

/**
 * A configured directory must be one: a missing path or a file there is a config error, not a
 * capability. A server that refuses STAT (upload-only inbox) is let through to the probe.
 * Throws: EodError CONFIG_INVALID naming the key; the server's error for a missing path.
 */
async function requireDirectory(remote: RemoteFs, directory: string, key: string): Promise<void> {
  let stats: Stats;
  try {
    stats = await remote.stat(directory);
  } catch (error) {
    if (isRefusal(error)) return;
    throw error;
  }
  if (stats.mode !== undefined && !stats.isDirectory()) {
    throw new EodError(
      'CONFIG_INVALID',
      `SFTP ${directory} on ${remote.endpoint} is not a directory (reports[].sftp.${key})`,
      { remotePath: directory },
    );
  }
}
