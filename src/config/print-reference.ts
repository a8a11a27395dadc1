/**
 * `node dist/config/print-reference.js` prints the config reference table;
 * `… --write README.md` rewrites the block between the README's config-reference markers
 * (`npm run config:reference`).
 */
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { configReference, replaceReferenceBlock } from './reference.js';

const USAGE = 'usage: print-reference [--write <file>]\n';

export async function main(
  argv: readonly string[],
  out: NodeJS.WritableStream = process.stdout,
  err: NodeJS.WritableStream = process.stderr,
): Promise<number> {
  const table = configReference();
  if (argv.length === 0) {
    out.write(`${table}\n`);
    return 0;
  }
  const [flag, file] = argv;
  if (flag !== '--write' || file === undefined || argv.length !== 2) {
    err.write(USAGE);
    return 2;
  }
  const before = await readFile(file, 'utf8');
  const after = replaceReferenceBlock(before, table);
  // Leave the file (and its mtime) alone when nothing changed.
  if (after === before) {
    err.write(`${file}: config reference already up to date\n`);
  } else {
    await writeFile(file, after);
    err.write(`${file}: config reference updated\n`);
  }
  return 0;
}

// Run only as a script, so importing main (tests) has no effect.
if (process.argv[1] !== undefined && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (error: unknown) => {
      process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
      process.exitCode = 1;
    },
  );
}
