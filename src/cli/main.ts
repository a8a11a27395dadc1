#!/usr/bin/env -S node --max-semi-space-size=1 --initial-old-space-size=32 --single-threaded-gc
// The entry point: the only module that touches the process.

// V8 options for a process that streams hundreds of MB through short-lived buffers (issue 11,
// measured with `npm run bench` and --trace-gc, 3M rows, 2 cores):
// - --max-semi-space-size=1 (MiB) keeps the young generation from growing to 32 MiB of garbage,
//   and collects it often enough that dead socket and packet buffers (memory outside the JS heap,
//   freed only by a collection) do not pile up: with 2 MiB they reached 30 MB more;
// - --initial-old-space-size=32 (MiB): buffers in flight live long enough to be promoted, and
//   with the default limit (live size + about 9 MB) that started a full mark-compact every 0.3 s,
//   18 per run, 0.6 s of CPU; from 32 MiB there is one per run;
// - --single-threaded-gc keeps GC helper threads from spreading freed buffers over malloc arenas
//   of their own and from competing with PostgreSQL, sshd and the S3 upload for the cores.
// Together: peak RSS 130-140 MB instead of 165-180, and 0.8 s less CPU. V8 reads them only at
// start-up, hence the shebang (`env -S`, GNU coreutils 8.30+); run as `node dist/cli/main.js`,
// pass them yourself (README, "Memory").

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
