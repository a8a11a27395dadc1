#!/usr/bin/env node
import { main } from './program.js';

// The entry point: the only module that touches the process. First SIGTERM/SIGINT asks the running
// command to stop at a safe point; a second one exits at once.
const controller = new AbortController();
let interrupted = false;
for (const name of ['SIGTERM', 'SIGINT'] as const) {
  process.on(name, () => {
    if (interrupted) process.exit(130);
    interrupted = true;
    controller.abort(new Error(`interrupted by ${name}`));
  });
}

process.exitCode = await main(
  process.argv,
  { stdout: process.stdout, stderr: process.stderr, env: process.env },
  controller.signal,
);
