#!/usr/bin/env -S node --max-semi-space-size=2 --initial-old-space-size=32 --single-threaded-gc --no-incremental-marking
// The entry point: the only module that touches the process.

// V8 options for a process that streams hundreds of MB through short-lived buffers (issue 11,
// measured with `npm run bench` and --trace-gc, 3M and 5M rows, 2 cores). Socket reads, SSH
// packets and capture batches (about 1.6 GB per 320 MB report) live outside the JS heap and are
// freed only when a collection finds their JS object dead:
// - --max-semi-space-size=2 (MiB) keeps the young generation from growing to 32 MiB of garbage,
//   yet gives a buffer in flight time to die young: with 1 MiB, more were promoted and waited
//   for a full collection (peak RSS up to 157 MB at 5M rows);
// - --initial-old-space-size=32 (MiB): with the default old-generation limit (live size + about
//   9 MB) the promoted ones started a full mark-compact every 0.3 s, 20-30 per run, up to 1.5 s
//   of CPU; from 32 MiB there are one or two per run;
// - --single-threaded-gc keeps GC helper threads from spreading freed buffers over malloc arenas
//   of their own and from competing with PostgreSQL, sshd and the S3 upload for the cores;
// - --no-incremental-marking makes each full collection one short pause (15-70 ms, once or twice
//   a run). Marked incrementally, every buffer allocated while marking ran (black allocation)
//   survived until the next cycle; once the old generation first reached its limit mid-run,
//   cycles followed every 0.3 s and peak RSS rose to 151-163 MB: in 1 run of 8 on a quiet host,
//   in 5 of 10 with the cores also busy elsewhere. Without it: 0 of 18 under the same load,
//   132-137 MB, no more CPU (3M rows, /proc/self RSS sampled every 25 ms).
// Together: peak RSS about 140 MB at 5M rows instead of 165-220, and about 1 s less CPU. V8 reads
// them only at start-up, hence the shebang (`env -S`, GNU coreutils 8.30+); run as
// `node dist/cli/main.js`, pass them yourself (README, "Memory").

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
