#!/usr/bin/env node
// The entry point: the only module that touches the process.

// On Node 20 the AWS SDK prints a 9-line notice on every process that its 2027 releases need
// Node 22. The README documents the supported Node versions; stderr is for our own messages and
// JSON logs. The SDK reads this when a client is built, so it is set before anything is loaded
// (the program is imported below, not at the top, so no import can run first). A user who wants
// the notice sets the variable to "false".
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

const { main } = await import('./program.js');

// First SIGTERM/SIGINT asks the running command to stop at a safe point; a second one exits at once.
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
