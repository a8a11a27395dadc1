import { readFileSync } from 'node:fs';
import { Command, CommanderError, Option } from 'commander';
import { explainDatabaseError } from '../adapters/postgres/pg-errors.js';
import { coerceError, EodError, EXIT, exitCodeFor } from '../core/errors.js';
import { type Io, println } from './io.js';
import { calendarDate, single, wholeNumber } from './options.js';

function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
    version: string;
  };
  return pkg.version;
}

// Commands are imported when chosen: `--help` and `--version` need not load the AWS SDK or ssh2.

/** Runs the CLI and returns the exit code (PRODUCT.md §5); never calls process.exit. */
export async function main(argv: readonly string[], io: Io, signal: AbortSignal): Promise<number> {
  let exitCode: number = EXIT.OK;
  const program = new Command('eod-report')
    .description('End-of-day CSV report: PostgreSQL rows → regulator SFTP → S3 archive, exactly once.')
    .version(packageVersion())
    .addOption(new Option('-c, --config <path>', 'config file (YAML or JSON)').env('EOD_REPORT_CONFIG'))
    .exitOverride()
    .configureOutput({ writeOut: (s) => io.stdout.write(s), writeErr: (s) => io.stderr.write(s) })
    .showHelpAfterError('(run with --help for usage)');

  const globals = () => program.opts<{ config?: string }>();
  const action =
    <T>(fn: (options: T) => Promise<number>) =>
    async (options: T) => {
      exitCode = await fn({ ...globals(), ...options });
    };

  program
    .command('migrate')
    .description('apply database migrations (idempotent; safe from several instances at once)')
    .action(action(async () => (await import('./commands/migrate.js')).migrateCommand(io, globals())));
  program
    .command('run')
    .description(
      'run or resume reports for a date (default: every report, the day that just ended in its time zone)',
    )
    .addOption(single('-r, --report <name>', 'only this report'))
    .addOption(single('-d, --date <YYYY-MM-DD>', 'report date', calendarDate))
    .addHelpText(
      'after',
      '\nExit codes: 0 done or already done, 1 a step failed, 2 bad usage or config, 75 lock held elsewhere.',
    )
    .action(
      action(async (o: { report?: string; date?: string }) =>
        (await import('./commands/run.js')).runCommand(io, { ...globals(), ...o }, signal),
      ),
    );
  program
    .command('status')
    .description(
      'show processes and their event timeline with proof (rows, bytes, sha256, remote path, object)',
    )
    .addOption(single('-r, --report <name>', 'only this report'))
    .addOption(single('-d, --date <YYYY-MM-DD>', 'only this date', calendarDate))
    .addOption(
      single('-n, --limit <count>', 'most recent processes to show, 1 to 1000', wholeNumber(1, 1000)).default(
        20,
      ),
    )
    .option('--json', 'machine-readable output')
    .action(
      action(async (o: object) =>
        (await import('./commands/status.js')).statusCommand(io, { ...globals(), ...o }),
      ),
    );
  program
    .command('verify')
    .description(
      're-read the archived object and the regulator’s file of past days and compare them with the recorded proof',
    )
    .addOption(single('-r, --report <name>', 'only this report (default: every report)'))
    .addOption(single('-d, --date <YYYY-MM-DD>', 'this report date', calendarDate))
    .addOption(single('--since <YYYY-MM-DD>', 'every recorded date from this one on', calendarDate))
    .option('--archive-only', 'do not connect to the regulator; check the S3 copy only')
    .option('--json', 'machine-readable output')
    .addHelpText(
      'after',
      '\nExit codes: 0 every copy matches (a regulator file that was collected or cannot be read is reported,\nnot a failure), 1 a mismatch, a missing archive, an incomplete day or a copy that could not be checked, 2 bad usage or config.',
    )
    .action(
      action(async (o: object) =>
        (await import('./commands/verify.js')).verifyCommand(io, { ...globals(), ...o }, signal),
      ),
    );
  program
    .command('prune')
    .description(
      'drop the captured rows of archived days older than retention.capturedDays (events and proof are kept)',
    )
    .option('--dry-run', 'list the days whose capture would be dropped, drop nothing')
    .addHelpText('after', '\nExit codes: 0 done, 1 failed, 2 bad config.')
    .action(
      action(async (o: { dryRun?: boolean }) =>
        (await import('./commands/prune.js')).pruneCommand(io, { ...globals(), ...o }, signal),
      ),
    );
  program
    .command('resolve')
    .description(
      'settle a day whose submission is uncertain (SUBMISSION_UNCERTAIN) or whose names changed, after asking the regulator',
    )
    .addOption(single('-r, --report <name>', 'the report').makeOptionMandatory())
    .addOption(single('-d, --date <YYYY-MM-DD>', 'the report date', calendarDate).makeOptionMandatory())
    .option('--submitted', 'the regulator has the file: record the submission (archiving continues)')
    .option('--not-submitted', 'the regulator does not have it: allow one new upload')
    .addOption(
      single('--reason <text>', 'what the regulator confirmed, for the record').makeOptionMandatory(),
    )
    .addHelpText(
      'after',
      '\nExit codes: 0 recorded, 2 bad usage or nothing to resolve, 75 lock held elsewhere.',
    )
    .action(
      action(async (o: object) =>
        (await import('./commands/resolve.js')).resolveCommand(io, { ...globals(), ...o }),
      ),
    );
  program
    .command('check')
    .description(
      'validate the config and connect to the database, each SFTP server (host key pinned) and each bucket',
    )
    .addHelpText('after', '\nExit codes: 0 all ok, 1 a check failed, 2 bad config.')
    .action(action(async () => (await import('./commands/check.js')).checkCommand(io, globals())));
  program
    .command('serve')
    .description(
      'run the scheduler, catch up missed days, and serve /metrics, /healthz, /api/runs and the status page',
    )
    .addHelpText(
      'after',
      '\nRuns until SIGTERM or SIGINT, then stops gracefully (serve.shutdownGrace) and exits 0.',
    )
    .action(action(async () => (await import('./commands/serve.js')).serveCommand(io, globals(), signal)));
  program
    .command('demo')
    .description(
      'from a clone: the whole pipeline on embedded PostgreSQL, SFTP and S3 servers, nothing to configure',
    )
    .addOption(single('--rows <count>', 'rows to seed a day', wholeNumber(0, 10_000_000)).default(5000))
    .option('--keep', 'keep the demo directory and print how to remove it (the default)')
    .option('--no-keep', 'remove the demo directory at the end')
    .addHelpText(
      'after',
      '\nNeeds the development dependencies (embedded PostgreSQL, s3rver): run it from a clone with\n' +
        '`npm ci && npm run demo`. Exit codes: 0 submitted and archived, 1 a step failed, 2 bad usage\n' +
        'or the demo servers are not installed.',
    )
    .action(
      action(async (o: { rows: number; keep?: boolean }) =>
        (await import('./commands/demo.js')).demoCommand(io, o, signal),
      ),
    );

  try {
    await program.parseAsync([...argv]);
    return exitCode;
  } catch (thrown) {
    if (thrown instanceof CommanderError) {
      return thrown.exitCode === 0 ? EXIT.OK : EXIT.USAGE;
    }
    const error = explainDatabaseError(thrown) ?? coerceError(thrown);
    println(io.stderr, describeError(error));
    return exitCodeFor(error);
  }
}

/**
 * The text of an error for stderr, its first line always `error: …` naming what is wrong. A config
 * file with one problem puts it on that line; several get a count there and one line each below.
 */
function describeError(error: Error): string {
  const issues =
    error instanceof EodError && error.code === 'CONFIG_INVALID' ? error.facts.issues : undefined;
  const file = error instanceof EodError ? error.facts.path : undefined;
  if (!Array.isArray(issues) || typeof file !== 'string' || issues.length === 0)
    return `error: ${error.message}`;
  if (issues.length === 1) {
    const only = String(issues[0]);
    return only.startsWith(file) ? `error: ${only}` : `error: ${only} (config ${file})`;
  }
  return [`error: config ${file}: ${issues.length} problems:`, ...issues.map((line) => `  ${line}`)].join(
    '\n',
  );
}
