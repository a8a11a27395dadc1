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
export type Failpoint = (name: string) => Promise<void>;

export const noFailpoints: Failpoint = async () => undefined;

export function failpointsFromEnv(env: NodeJS.ProcessEnv, write: (line: string) => void): Failpoint {
  const spec = env.EOD_FAILPOINT?.trim();
  if (!spec) return noFailpoints;
  const actions = new Map<string, string>();
  for (const entry of spec.split(',')) {
    const [name, action = 'kill'] = entry.trim().split(':');
    if (name) actions.set(name, action);
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
