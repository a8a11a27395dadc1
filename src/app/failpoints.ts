/**
 * Failpoints let the crash tests stop the process at an exact point (PRODUCT.md §3: "killing any
 * instance at any moment"). Off unless EOD_FAILPOINT is set, e.g.
 *   EOD_FAILPOINT=sftp.before-rename:kill    SIGKILL ourselves there (a real kill -9)
 *   EOD_FAILPOINT=sftp.mid-upload:hang       print a marker and wait forever (for SIGSTOP/SIGTERM)
 *   EOD_FAILPOINT=archive.before-put:throw   fail the step there
 *   EOD_FAILPOINT=sftp.after-lock-check:stop  SIGSTOP ourselves there (a VM freeze; SIGCONT resumes
 *                                             exactly there, before any timer of ours can run)
 * Several may be given, comma-separated. The marker line `failpoint <name> reached` goes to stderr.
 */
import { EodError } from '../core/errors.js';

export type Failpoint = (name: string) => Promise<void>;

export const noFailpoints: Failpoint = async () => undefined;

/** Every point the code stops at (test/unit/failpoints.test.ts checks the code names no other). */
export const KNOWN_FAILPOINTS = [
  'rows.before-commit',
  'rows.after-commit',
  'sftp.mid-upload',
  'sftp.after-part-upload',
  'sftp.before-rename',
  'sftp.after-lock-check',
  'sftp.after-rename',
  'submit.before-event',
  'archive.before-put',
  'archive.after-lock-check',
  'archive.after-put',
  'archive.before-event',
  'alert.after-claim',
] as const;

const ACTION = /^(kill|hang|stop|throw|sleep\d*)$/;

/**
 * The failpoints EOD_FAILPOINT asks for. A misspelt point would never be reached and the crash
 * test would pass without crashing anything, so it is refused at start.
 * Throws: EodError USAGE (exit 2) naming EOD_FAILPOINT, the entry and the known points/actions.
 */
export function failpointsFromEnv(env: NodeJS.ProcessEnv, write: (line: string) => void): Failpoint {
  const spec = env.EOD_FAILPOINT?.trim();
  if (!spec) return noFailpoints;
  const actions = new Map<string, string>();
  for (const entry of spec.split(',')) {
    if (entry.trim() === '') continue;
    const [name = '', action = 'kill', ...rest] = entry.trim().split(':');
    if (!(KNOWN_FAILPOINTS as readonly string[]).includes(name))
      throw new EodError(
        'USAGE',
        `EOD_FAILPOINT: unknown failpoint "${name}" in "${entry.trim()}"; expected one of ${KNOWN_FAILPOINTS.join(', ')}`,
        { entry: entry.trim() },
      );
    if (rest.length > 0 || !ACTION.test(action))
      throw new EodError(
        'USAGE',
        `EOD_FAILPOINT: unknown action in "${entry.trim()}"; expected <point>:<kill|hang|stop|throw|sleep<ms>>, several separated by commas`,
        { entry: entry.trim() },
      );
    actions.set(name, action);
  }
  return async (name) => {
    const action = actions.get(name);
    if (!action) return;
    write(`failpoint ${name} reached (${action})\n`);
    switch (action) {
      case 'kill':
        process.kill(process.pid, 'SIGKILL');
        await new Promise(() => undefined);
        return;
      case 'stop':
        process.kill(process.pid, 'SIGSTOP');
        return;
      case 'hang':
        await new Promise(() => undefined);
        return;
      case 'throw':
        throw new Error(`failpoint ${name}`);
      default:
        if (action.startsWith('sleep')) {
          await new Promise((resolve) => setTimeout(resolve, Number(action.slice(5)) || 1000));
          return;
        }
        throw new Error(`unknown failpoint action "${action}" for ${name}`);
    }
  };
}
