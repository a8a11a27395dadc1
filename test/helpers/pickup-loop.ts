/**
 * An inbox that collects every closed file (issue 10): a loop that moves each regular file of
 * `inbox` that no process has open into `collected`, within about a second of its close, the way
 * some regulators' servers pick up whatever lands. "Open" is read from /proc/<pid>/fd (Linux; the
 * tests run as the user that runs the SFTP servers, or root).
 */
import { mkdir, readdir, readlink, rename, stat } from 'node:fs/promises';
import path from 'node:path';

async function openFiles(): Promise<Set<string>> {
  const open = new Set<string>();
  for (const pid of await readdir('/proc').catch(() => [] as string[])) {
    if (!/^\d+$/.test(pid)) continue;
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
  stop(): Promise<void>;
}

export async function startPickupLoop(inbox: string, collected: string, everyMs = 200): Promise<PickupLoop> {
  await mkdir(collected, { recursive: true });
  const picked: string[] = [];
  let stopped = false;
  const loop = (async () => {
    while (!stopped) {
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
    stop: async () => {
      stopped = true;
      await loop;
    },
  };
}
