/**
 * `eod-report resolve`: an operator settles a submission whose outcome the run could not prove
 * (SUBMISSION_UNCERTAIN), or lets a process whose names changed go on (NAMES_CHANGED), after
 * asking the regulator what it received. Recorded fenced under the report's lock, with who
 * (instance and OS user), when (database time) and why, in one transaction:
 *   --submitted      records REPORT_SUBMITTED (archiving continues on the next run)
 *   --not-submitted  voids the earlier intent and names (the next run uploads once)
 */
import { userInfo } from 'node:os';
import { renderNames } from '../../app/delivery-steps.js';
import { lockNameFor } from '../../app/run-report.js';
import { EodError, EXIT } from '../../core/errors.js';
import { type JournalState, journalState, nameChanges, type Resolution } from '../../core/journal.js';
import { appFor, type GlobalOptions, loadFor, loggerFor } from '../context.js';
import { type Io, println } from '../io.js';
import { describeLockHeld } from './lock-held.js';
import { checkDateOption, selectReports } from './run.js';

export interface ResolveOptions extends GlobalOptions {
  report?: string;
  date?: string;
  submitted?: boolean;
  notSubmitted?: boolean;
  reason?: string;
}

function osUser(env: NodeJS.ProcessEnv): string {
  // Who typed it, also under sudo.
  if (env.SUDO_USER) return env.SUDO_USER;
  try {
    return userInfo().username;
  } catch {
    return env.USER ?? env.LOGNAME ?? 'unknown';
  }
}

/** Exit codes: 0 recorded, 2 bad usage (nothing to resolve, already submitted), 75 lock held. */
export async function resolveCommand(io: Io, options: ResolveOptions): Promise<number> {
  if (!options.report) throw new EodError('USAGE', '--report is required');
  const date = checkDateOption(options.date);
  if (!date) throw new EodError('USAGE', '--date is required (YYYY-MM-DD)');
  if (options.submitted === options.notSubmitted) {
    throw new EodError('USAGE', 'give exactly one of --submitted or --not-submitted');
  }
  const reason = options.reason?.trim();
  if (!reason) throw new EodError('USAGE', '--reason is required: say what the regulator confirmed');
  const loaded = await loadFor(io, options);
  const [report] = selectReports(loaded.config.reports, options.report);
  if (!report) throw new EodError('USAGE', `--report: unknown report "${options.report}"`);
  const app = await appFor(io, loaded, loggerFor(io, loaded));
  const { store, lock } = app.deps;
  try {
    const process = await store.findProcess(report.name, date);
    if (!process)
      throw new EodError('USAGE', `${report.name} ${date}: no process recorded; nothing to resolve`);
    const held = await lock.tryAcquire(lockNameFor(report));
    if (!held) {
      println(
        io.stderr,
        `${report.name} ${date}: ${await describeLockHeld(app, report)}; nothing recorded, try again when its run is over`,
      );
      return EXIT.LOCK_HELD;
    }
    try {
      const events = await store.listEvents(process.processId);
      const state = journalState(await store.listJournal(process.processId));
      if (events.some((e) => e.status === 'REPORT_SUBMITTED')) {
        throw new EodError(
          'USAGE',
          `${report.name} ${date}: REPORT_SUBMITTED is already recorded; nothing to resolve`,
        );
      }
      const rows = events.find((e) => e.status === 'ROWS_CREATED');
      if (options.submitted && !rows) {
        throw new EodError(
          'USAGE',
          `${report.name} ${date}: no rows were captured (ROWS_CREATED missing), so nothing can have been submitted`,
        );
      }
      if (options.submitted && !submissionInDoubt(state, renderNames(report, date))) {
        // Nothing of this day can have reached the regulator (no upload was about to be renamed,
        // none was found uncertain, the names still hold): recording it as submitted would close
        // a day the regulator never received. A mistyped --date lands here.
        throw new EodError(
          'USAGE',
          `${report.name} ${date}: nothing to resolve: its submission is not uncertain and its names have not changed (no upload of it can have reached the regulator); run eod-report run --report ${report.name} --date ${date} to submit it`,
        );
      }
      const resolution: Resolution = {
        submitted: options.submitted === true,
        reason,
        instance: app.instanceId,
        osUser: osUser(io.env),
      };
      const remotePath = state.names?.sftp.remotePath ?? state.pendingIntent?.finalPath;
      const facts = {
        ...resolution,
        uncertainJournalId: state.uncertain?.journalId ?? null,
        intentJournalId: state.pendingIntent?.journalId ?? null,
        names: state.names,
      };
      await store.appendAtomically(
        process.processId,
        { kind: 'resolved', facts },
        options.submitted
          ? {
              status: 'REPORT_SUBMITTED',
              facts: {
                resolved: true,
                resolvedBy: { instance: resolution.instance, osUser: resolution.osUser },
                reason,
                ...(remotePath ? { remotePath } : {}),
                ...(state.names ? { host: `${state.names.sftp.host}:${state.names.sftp.port}` } : {}),
                bytes: rows?.facts.bytes,
                sha256: rows?.facts.sha256,
                alreadyPresent: false,
              },
            }
          : null,
        held.fence,
      );
      println(
        io.stdout,
        options.submitted
          ? `${report.name} ${date}: recorded as submitted by ${resolution.osUser} (${resolution.instance}); the next run archives it`
          : `${report.name} ${date}: recorded as not submitted by ${resolution.osUser} (${resolution.instance}); the next run uploads it once`,
      );
      return EXIT.OK;
    } finally {
      await held.release();
    }
  } finally {
    await app.close();
  }
}

/**
 * Whether an operator's `--submitted` has something to settle: an intent whose outcome is unknown,
 * a submission found uncertain, or names recorded at a submit attempt that the config no longer
 * renders (an upload under them may have happened, with `atomicity: direct` even without an intent).
 */
function submissionInDoubt(state: JournalState, rendered: ReturnType<typeof renderNames>): boolean {
  if (state.uncertain || state.pendingIntent) return true;
  return state.names !== null && nameChanges(state.names, rendered, 'submit').length > 0;
}
