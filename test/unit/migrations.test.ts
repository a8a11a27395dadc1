import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { readMigrations, SUPERSEDED_CHECKSUMS } from '../../src/adapters/postgres/migrate.js';

describe('migration files', () => {
  it('are ASCII only, so that databases of any encoding (LATIN1) accept them', async () => {
    const dir = path.resolve('migrations');
    const files = (await readdir(dir)).filter((f) => f.endsWith('.sql'));
    expect(files.length).toBeGreaterThan(0);
    for (const file of files) {
      const bytes = await readFile(path.join(dir, file));
      const offending = bytes.findIndex((b) => b > 0x7f);
      expect(offending, `${file}: first non-ASCII byte at offset ${offending}`).toBe(-1);
    }
  });

  it('readMigrations refuses a non-ASCII migration, naming the file and the character', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'eod-migrations-'));
    try {
      await writeFile(path.join(dir, '0001_first.sql'), '-- LOCK TABLE \u2026 NOWAIT\nSELECT 1;\n');
      await expect(readMigrations(pathToFileURL(`${dir}/`))).rejects.toThrow(
        /0001_first\.sql holds the non-ASCII character "\u2026" .*must be ASCII/,
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('list superseded checksums only for files that exist, never equal to the current text', async () => {
    const current = await readMigrations();
    for (const [version, olds] of Object.entries(SUPERSEDED_CHECKSUMS)) {
      const migration = current[Number(version) - 1];
      expect(migration, `migration ${version}`).toBeDefined();
      for (const old of olds) {
        expect(old.sha256).toMatch(/^[0-9a-f]{64}$/);
        expect(old.sha256).not.toBe(migration?.sha256);
        expect(old.why.length).toBeGreaterThan(10);
      }
    }
  });
});
