/** What both benches need to time the reference tools and the product: bench tooling, not product. */
import { spawn } from 'node:child_process';

export interface Finished {
  code: number | null;
  /** stdout and stderr, interleaved as they arrived. */
  output: string;
  /** Wall time from spawn to close, in seconds. */
  seconds: number;
}

/** Runs `command` to its end, collecting its output; rejects only when it cannot be started. */
export function runCollecting(command: string, args: string[], env?: NodeJS.ProcessEnv): Promise<Finished> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { ...(env ? { env } : {}), stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    const collect = (d: Buffer) => {
      output += d.toString();
    };
    child.stdout.on('data', collect);
    child.stderr.on('data', collect);
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, output, seconds: (performance.now() - started) / 1000 }));
  });
}

/** The median of a non-empty list. */
export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2
    ? (sorted[mid] as number)
    : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}
