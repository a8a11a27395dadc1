import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import {
  configReference,
  REFERENCE_END,
  REFERENCE_START,
  replaceReferenceBlock,
} from '../../src/config/reference.js';

const README = fileURLToPath(new URL('../../README.md', import.meta.url));
const FIX = 'run `npm run config:reference` (node dist/config/print-reference.js --write README.md)';

describe('config reference', () => {
  it('is the block between the README markers', async () => {
    const readme = await readFile(README, 'utf8').catch(() => {
      throw new Error(
        `README.md not found at ${README}; it needs ${REFERENCE_START} and ${REFERENCE_END}, then ${FIX}`,
      );
    });
    let expected: string;
    try {
      expected = replaceReferenceBlock(readme, configReference());
    } catch (error) {
      throw new Error(`README.md: ${(error as Error).message}; add the markers, then ${FIX}`);
    }
    expect(readme, `README.md config reference is out of date: ${FIX}`).toBe(expected);
  });

  it('documents every option with a type, a default or "required", and a description', () => {
    const rows = configReference()
      .split('\n')
      .slice(2)
      .map((row) => row.split(/(?<!\\)\|/).map((cell) => cell.trim()));
    expect(rows.length).toBeGreaterThan(40);
    for (const [, key, type, fallback, description] of rows) {
      expect(type, `${key} type`).not.toBe('');
      expect(fallback, `${key} default`).not.toBe('');
      expect(description, `${key} description`).not.toBe('');
    }
    const table = configReference();
    expect(table).toContain('| `reports[].sftp.port` | integer 1–65535 | `22` | SFTP server port. |');
    expect(table).toContain('| `lock.atMostFor` | duration | `"30m"` |');
    expect(table).toContain('| `reports[].timezone` | time zone | required |');
  });

  it('replaces only the block between the markers', () => {
    const readme = `# title\n\nintro\n${REFERENCE_START}\nold table\n${REFERENCE_END}\n\nafter\n`;
    const updated = replaceReferenceBlock(readme, '| new |\n');
    expect(updated).toBe(`# title\n\nintro\n${REFERENCE_START}\n\n| new |\n\n${REFERENCE_END}\n\nafter\n`);
    expect(replaceReferenceBlock(updated, '| new |')).toBe(updated);
  });

  it('refuses a README without exactly one ordered pair of markers', () => {
    expect(() => replaceReferenceBlock('# title\n', 'x')).toThrow(/no config reference block/);
    expect(() => replaceReferenceBlock(`${REFERENCE_END}\n${REFERENCE_START}\n`, 'x')).toThrow(
      /comes before/,
    );
    expect(() =>
      replaceReferenceBlock(`${REFERENCE_START}${REFERENCE_END}${REFERENCE_START}${REFERENCE_END}`, 'x'),
    ).toThrow(/more than one/);
  });
});
