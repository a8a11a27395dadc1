/**
 * An inbox that collects every closed file (issue 10): a loop that moves each regular file of
 * `inbox` that no process has open into `collected`, within about a second of its close, the way
 * some regulators' servers pick up whatever lands. "Open" is read from /proc/<pid>/fd (Linux; the
 * tests run as the user that runs the SFTP servers, or root).
 */
import { mkdir, readdir, readFile, readlink, rename, stat } from 'node:fs/promises';
import path from 'node:path';

/** Processes that serve SFTP in the tests; only their descriptors are looked at (fast under load). */
const SERVERS = /^(sshd|sftp-server|gesftpserver|proftpd|rclone)$/;

async function openFiles(): Promise<Set<string>> {
  const open = new Set<string>();
  for (const pid of await readdir('/proc').catch(() => [] as string[])) {
    if (!/^\d+$/.test(pid)) continue;
    const comm = await readFile(`/proc/${pid}/comm`, 'utf8').catch(() => '');
    if (!SERVERS.test(comm.trim())) continue;
    const fds = await readdir(`/proc/${pid}/fd`).catch(() => [] as string[]);
    for (const fd of fds) {
      const target = await readlink(`/proc/${pid}/fd/${fd}`).catch(() => undefined);
      if (target) open.add(target);
    }
  }
  return open;
}

export interface PickupLoop {
  /** Names moved so far, in order, as `<n>-<name>` in `collected`. */
  readonly picked: string[];
  /** Resolves once at least `count` files were collected and two more rounds found nothing new
   * (or after `timeoutMs`). */
  settled(count: number, timeoutMs?: number): Promise<string[]>;
  stop(): Promise<void>;
}

export async function startPickupLoop(inbox: string, collected: string, everyMs = 200): Promise<PickupLoop> {
  await mkdir(collected, { recursive: true });
  const picked: string[] = [];
  let stopped = false;
  let rounds = 0;
  const loop = (async () => {
    while (!stopped) {
      rounds += 1;
      const names = await readdir(inbox).catch(() => [] as string[]);
      if (names.length > 0) {
        const open = await openFiles();
        for (const name of names) {
          const file = path.join(inbox, name);
          const info = await stat(file).catch(() => undefined);
          if (!info?.isFile() || open.has(file)) continue;
          const moved = `${picked.length + 1}-${name}`;
          await rename(file, path.join(collected, moved)).then(
            () => picked.push(moved),
            () => undefined,
          );
        }
      }
      await new Promise((resolve) => setTimeout(resolve, everyMs));
    }
  })();
  return {
    picked,
    settled: async (count, timeoutMs = 15_000) => {
      const until = Date.now() + timeoutMs;
      while (picked.length < count && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
      const seen = picked.length;
      const start = rounds;
      while (rounds < start + 3 && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
      return picked.length === seen ? [...picked] : picked;
    },
    stop: async () => {
      stopped = true;
      await loop;
    },
  };
}
