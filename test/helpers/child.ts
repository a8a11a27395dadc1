/**
 * A CLI child process that a test drives step by step: wait for a failpoint's marker on stderr,
 * stop or continue it, and await its exit.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { CLI } from './fixture.js';

export interface DrivenChild {
  child: ChildProcess;
  stderr(): string;
  /** Resolves when stderr contains `text`; rejects if the child exits first. */
  waitFor(text: string): Promise<void>;
  /** Resolves once the kernel reports the process stopped (state T), e.g. after a `:stop` failpoint. */
  waitStopped(): Promise<void>;
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export function startCli(args: string[], env: NodeJS.ProcessEnv): DrivenChild {
  const child = spawn(process.execPath, [CLI, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  const listeners = new Set<() => void>();
  child.stderr?.on('data', (d: Buffer) => {
    err += d.toString('utf8');
    for (const l of listeners) l();
  });
  child.stdout?.resume();
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('close', (code, signal) => resolve({ code, signal })),
  );
  return {
    child,
    stderr: () => err,
    exit,
    waitFor: (text) =>
      new Promise<void>((resolve, reject) => {
        const check = () => {
          if (err.includes(text)) {
            listeners.delete(check);
            resolve();
          }
        };
        listeners.add(check);
        check();
        void exit.then(({ code, signal }) => {
          if (!err.includes(text))
            reject(new Error(`child exited (${code ?? signal}) before "${text}":\n${err}`));
        });
      }),
    waitStopped: async () => {
      for (let i = 0; i < 200; i++) {
        const stat = await readFile(`/proc/${child.pid}/stat`, 'utf8').catch(() => '');
        // Field 3, after the parenthesised command name.
        if (/\) T /.test(stat)) return;
        await sleep(50);
      }
      throw new Error(`child ${child.pid} did not stop:\n${err}`);
    },
  };
}
