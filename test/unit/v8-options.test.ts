/**
 * The V8 memory options live in the bin's shebang (V8 reads them only at start-up); the README's
 * "Memory" paragraph tells users who start `node dist/cli/main.js` themselves to pass the same
 * ones. Peak RSS is measured by `npm run bench`, not here: this keeps the two lists from drifting.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

const root = new URL('../../', import.meta.url);
const shebang = readFileSync(new URL('src/cli/main.ts', root), 'utf8').split('\n')[0] ?? '';
const readme = readFileSync(new URL('README.md', root), 'utf8');

function optionsOf(text: string): string[] {
  return [...text.matchAll(/--[a-z][a-z-]*(?:=\d+)?/g)].map((m) => m[0]);
}

describe('V8 options of the bin', () => {
  it('the shebang starts node through env -S with the memory options, incremental marking off', () => {
    expect(shebang).toMatch(/^#!\/usr\/bin\/env -S node /);
    expect(optionsOf(shebang)).toEqual([
      '--max-semi-space-size=2',
      '--initial-old-space-size=32',
      '--single-threaded-gc',
      '--no-incremental-marking',
    ]);
  });

  it('the README Memory paragraph names exactly the options of the shebang', () => {
    const paragraph = /\*\*Memory\.\*\* `eod-report` starts Node with `([^`]+)`/.exec(readme)?.[1];
    expect(paragraph, 'README has a Memory paragraph naming the options').toBeDefined();
    expect(optionsOf(paragraph ?? '')).toEqual(optionsOf(shebang));
  });
});
