import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

/**
 * Issue 11: `run` spends its start-up on one core before its first SQL, so what it loads then
 * counts. The AWS SDK, ssh2 and prom-client are loaded when first used (the archive, an SFTP
 * connection, `serve`), never by importing the command. A static import of one of them anywhere in
 * the command's module graph brings back 30-120 ms each.
 */
const DIST = path.resolve('dist');
const LATE = /\/node_modules\/(@aws-sdk\/|@smithy\/|ssh2\/|prom-client\/)/;

/** The files of node_modules that importing `modules` (paths under dist/) loads, in a fresh process. */
function packagesLoadedBy(modules: string[]): string[] {
  const missing = modules.filter((m) => !existsSync(path.join(DIST, m)));
  if (missing.length > 0) throw new Error(`${missing.join(', ')} not built: run \`npm run build\` first`);
  const script = [
    "import { createRequire } from 'node:module';",
    "import { pathToFileURL } from 'node:url';",
    `for (const m of ${JSON.stringify(modules.map((m) => path.join(DIST, m)))}) await import(pathToFileURL(m).href);`,
    // CommonJS packages imported from ESM go through the CommonJS loader, so its cache lists them.
    'console.log(JSON.stringify(Object.keys(createRequire(import.meta.url).cache)));',
  ].join('\n');
  const child = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
  if (child.status !== 0) throw new Error(`importing ${modules.join(', ')} failed: ${child.stderr}`);
  return (JSON.parse(child.stdout) as string[]).filter((file) => file.includes('/node_modules/'));
}

describe('start-up of `run`', () => {
  it('the run command and its wiring load neither the AWS SDK, ssh2 nor prom-client', () => {
    const loaded = packagesLoadedBy(['cli/program.js', 'cli/commands/run.js', 'app/wiring.js']);
    // The command does load pg and the config parsers: this proves the list is not empty.
    expect(loaded.some((file) => file.includes('/node_modules/pg/'))).toBe(true);
    expect(loaded.filter((file) => LATE.test(file))).toEqual([]);
  });
});
