import { type ChildProcess, spawn } from 'node:child_process';
import { access, chmod, constants, mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { freePort } from './free-port.js';
import type { EmbeddedSftp } from './sftp-server.js';
import { writeEd25519KeyPair } from './ssh-keys.js';

export const SSHD_PATH = '/usr/sbin/sshd';
const START_TIMEOUT_MS = 15_000;
const STOP_GRACE_MS = 3_000;
const CONNECTIONS_GRACE_MS = 1_000;

export async function sshdAvailable(): Promise<boolean> {
  try {
    await access(SSHD_PATH, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * Runs the system's OpenSSH sshd in the foreground on 127.0.0.1 with a private config, host key
 * and authorized_keys under `baseDir`, serving SFTP only through `internal-sftp`. The config
 * lines are the ones measured to work here both as root and as a normal user.
 */
export async function startOpenSshSftp(options: {
  baseDir: string;
  log?: (line: string) => void;
  /** Directory name under baseDir for this server's files (several sshds may share a baseDir). */
  name?: string;
  /** What the server is, for messages and test names; default 'openssh'. */
  kind?: EmbeddedSftp['kind'];
  /** The SFTP server program (`Subsystem sftp …`); default OpenSSH's own internal-sftp. */
  subsystem?: string;
  /** More sshd_config lines (e.g. `KexAlgorithms …` for a legacy-only server). */
  extraConfig?: readonly string[];
}): Promise<EmbeddedSftp> {
  const name = options.name ?? 'sshd';
  const dir = path.join(options.baseDir, name);
  const root = path.join(options.baseDir, name === 'sshd' ? 'sftp-root' : `${name}-root`);
  await mkdir(dir, { recursive: true });
  await mkdir(root, { recursive: true, mode: 0o755 });
  await chmod(root, 0o755);
  if (process.getuid?.() === 0) {
    // sshd insists on its privilege separation directory when started as root.
    await mkdir('/run/sshd', { mode: 0o755 }).catch((error: NodeJS.ErrnoException) => {
      if (error.code !== 'EEXIST') throw error;
    });
  }

  const hostKey = await writeEd25519KeyPair(dir, 'host_ed25519');
  const clientKey = await writeEd25519KeyPair(dir, 'client_ed25519');
  const authorizedKeys = path.join(dir, 'authorized_keys');
  await writeFile(authorizedKeys, `${clientKey.publicKeyLine}\n`, { mode: 0o600 });

  const port = await freePort();
  const configFile = path.join(dir, 'sshd_config');
  const logFile = path.join(dir, 'sshd.log');
  await writeFile(
    configFile,
    [
      'ListenAddress 127.0.0.1',
      `Port ${port}`,
      `HostKey ${hostKey.privateKeyFile}`,
      `PidFile ${path.join(dir, 'sshd.pid')}`,
      `AuthorizedKeysFile ${authorizedKeys}`,
      'PubkeyAuthentication yes',
      'PasswordAuthentication no',
      'KbdInteractiveAuthentication no',
      'PermitRootLogin prohibit-password',
      'UsePAM no',
      // StrictModes would reject our key files in a world-writable temp directory tree.
      'StrictModes no',
      `Subsystem sftp ${options.subsystem ?? 'internal-sftp'}`,
      ...(options.extraConfig ?? []),
      '',
    ].join('\n'),
  );

  const { stop } = await spawnSshServer({
    command: SSHD_PATH,
    args: ['-D', '-f', configFile, '-E', logFile],
    name,
    label: `OpenSSH sshd (${SSHD_PATH})`,
    port,
    logFile,
    ...(options.log && { log: options.log }),
  });

  return {
    kind: options.kind ?? 'openssh',
    host: '127.0.0.1',
    port,
    username: os.userInfo().username,
    privateKeyFile: clientKey.privateKeyFile,
    hostKeySha256: hostKey.fingerprint,
    root,
    stop,
  };
}

/** Ready means: the port answers with an SSH identification line while our child still runs. */
/**
 * Spawns an SSH server process and waits for its banner on 127.0.0.1:`port`. Its output lines
 * go to `log` as `[name] …`; on failure the server is stopped and the error carries its last
 * output (and the tail of `logFile`, when the server writes one). Returns the stop function.
 * Throws: Error "`label` did not start on 127.0.0.1:`port`: …".
 */
export async function spawnSshServer(options: {
  command: string;
  args: string[];
  name: string;
  label: string;
  port: number;
  logFile?: string;
  log?: (line: string) => void;
}): Promise<{ child: ChildProcess; stop: () => Promise<void> }> {
  const child = spawn(options.command, options.args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const output: string[] = [];
  const collect = (chunk: Buffer): void => {
    for (const line of chunk.toString('utf8').split('\n')) {
      if (line.trim() === '') continue;
      output.push(line);
      options.log?.(`[${options.name}] ${line}`);
    }
  };
  child.stdout?.on('data', collect);
  child.stderr?.on('data', collect);
  const spawnError = new Promise<Error>((resolve) => child.once('error', resolve));
  const stop = (): Promise<void> => stopChild(child);
  try {
    await waitForSshBanner(child, options.port, spawnError);
  } catch (error) {
    await stop();
    const logTail = options.logFile ? await readFile(options.logFile, 'utf8').catch(() => '') : '';
    const details = [...output, ...logTail.trim().split('\n')]
      .filter((l) => l !== '')
      .slice(-20)
      .join('\n');
    throw new Error(
      `${options.label} did not start on 127.0.0.1:${options.port}: ${(error as Error).message}\n${details}`,
    );
  }
  options.log?.(`[${options.name}] listening on 127.0.0.1:${options.port} (pid ${child.pid})`);
  return { child, stop };
}

export async function waitForSshBanner(
  child: ChildProcess,
  port: number,
  spawnError: Promise<Error>,
): Promise<void> {
  const deadline = Date.now() + START_TIMEOUT_MS;
  let failed: Error | undefined;
  void spawnError.then((error) => {
    failed = error;
  });
  while (Date.now() < deadline) {
    if (failed) throw failed;
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`sshd exited early (code ${child.exitCode}, signal ${child.signalCode})`);
    }
    if (await answersWithBanner(port)) return;
    await delay(50);
  }
  throw new Error(`no SSH banner within ${START_TIMEOUT_MS} ms`);
}

function answersWithBanner(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    let received = '';
    const finish = (ok: boolean): void => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(1_000, () => finish(false));
    socket.on('error', () => finish(false));
    socket.on('data', (chunk) => {
      received += chunk.toString('latin1');
      if (received.includes('\n')) finish(received.startsWith('SSH-2.0-'));
    });
    socket.on('end', () => finish(false));
  });
}

/**
 * SIGTERM, then SIGKILL after a grace period; resolves once the process has exited. sshd serves
 * each connection in a child of its own, which outlives a terminated listener; orphaned, it
 * would be left running (and, unreaped, as a zombie). So connection processes are given a moment
 * to finish as their clients disconnect, the rest are killed while the listener can still reap
 * them, and only then is the listener stopped.
 */
export async function stopChild(child: ChildProcess): Promise<void> {
  const pid = child.pid;
  if (child.exitCode !== null || child.signalCode !== null || pid === undefined) return;
  // First let connections end on their own, then kill them leaves first, so every process is
  // reaped by its still-living parent rather than orphaned. SIGKILL because the session process
  // of internal-sftp was seen to survive SIGTERM.
  const politeUntil = Date.now() + CONNECTIONS_GRACE_MS;
  const forcedUntil = politeUntil + CONNECTIONS_GRACE_MS;
  for (;;) {
    const connections = await descendantsOf(pid);
    if (connections.size === 0 || Date.now() > forcedUntil) break;
    if (Date.now() > politeUntil) {
      const parents = new Set(connections.values());
      for (const connection of connections.keys())
        if (!parents.has(connection)) signal(connection, 'SIGKILL');
    }
    await delay(50);
  }

  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS);
  await exited;
  clearTimeout(timer);
}

/** Descendants of `root` as pid -> parent pid, from /proc (Linux); empty where unreadable. */
async function descendantsOf(root: number): Promise<Map<number, number>> {
  const parents = new Map<number, number>();
  const entries = await readdir('/proc').catch(() => [] as string[]);
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = await readFile(`/proc/${entry}/stat`, 'utf8').catch(() => undefined);
    // Format: "pid (comm) state ppid ..."; comm may contain spaces and parentheses.
    const ppid = stat === undefined ? undefined : Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    if (ppid !== undefined && Number.isInteger(ppid)) parents.set(Number(entry), ppid);
  }
  const found = new Map<number, number>();
  const queue = [root];
  for (let parent = queue.shift(); parent !== undefined; parent = queue.shift()) {
    for (const [pid, ppid] of parents) {
      if (ppid === parent) {
        found.set(pid, ppid);
        queue.push(pid);
      }
    }
  }
  return found;
}

function signal(pid: number, name: NodeJS.Signals): void {
  try {
    process.kill(pid, name);
  } catch {
    // already gone
  }
}
