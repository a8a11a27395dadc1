import { existsSync } from 'node:fs';
import { readdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli } from '../helpers/fixture.js';

describe('eod-report demo', () => {
  it('runs the whole pipeline on embedded servers with nothing configured, stops them, keeps its files, ends with the next step', async () => {
    const env = { PATH: process.env.PATH, HOME: process.env.HOME, CI: process.env.CI };
    const result = await runCli(['demo', '--rows', '300'], env, { timeoutMs: 170_000 });
    const dir = /demo directory: (\S+)/.exec(result.stdout)?.[1];
    try {
      expect(result.code, result.stdout + result.stderr).toBe(0);
      expect(result.stdout).toMatch(/\$ eod-report run --date \d{4}-\d{2}-\d{2}/);
      expect(result.stdout).toMatch(/eod-transactions \d{4}-\d{2}-\d{2}: complete/);
      expect(result.stdout).toMatch(/REPORT_ARCHIVED .*s3:\/\/eod-archive\/eod\//);
      expect(result.stdout).toMatch(/byte-identical, sha256 [0-9a-f]{64}/);
      expect(result.stdout).toContain('stopped the embedded servers');
      // The paths it printed still exist afterwards, and it says how to remove them.
      expect(dir).toBeDefined();
      const local = /\(local file (\S+)\)/.exec(result.stdout)?.[1] as string;
      expect(existsSync(local)).toBe(true);
      expect(existsSync(path.join(dir as string, 'eod-report.yaml'))).toBe(true);
      expect(result.stdout).toContain(`rm -rf ${dir}`);
      // It ends with how to use the tool on one's own database.
      const tail = result.stdout.slice(result.stdout.indexOf('Next: point eod-report at your own database'));
      expect(tail).toMatch(/database\.url/);
      expect(tail).toMatch(/eod-report --config \S+ migrate/);
      expect(tail).toMatch(/eod-report --config \S+ check/);
      expect(tail).toMatch(/eod-report --config \S+ run --date/);
      expect(result.stdout.trimEnd().endsWith(tail.trimEnd())).toBe(true);
      expect(result.stderr).not.toMatch(/NodeVersionSupportWarning/);
    } finally {
      if (dir) await rm(dir, { recursive: true, force: true });
    }
  }, 180_000);

  it('--no-keep removes its directory at the end', async () => {
    const env = { PATH: process.env.PATH, HOME: process.env.HOME, CI: process.env.CI };
    const result = await runCli(['demo', '--rows', '10', '--no-keep'], env, { timeoutMs: 170_000 });
    expect(result.code, result.stdout + result.stderr).toBe(0);
    const dir = /demo directory: (\S+)/.exec(result.stdout)?.[1] as string;
    expect(result.stdout).toContain(`removed ${dir}`);
    expect(existsSync(dir)).toBe(false);
    expect(await readdir(path.dirname(dir))).not.toContain(path.basename(dir));
  }, 180_000);
});
