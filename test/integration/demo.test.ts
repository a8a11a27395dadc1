import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { runCli } from '../helpers/fixture.js';

describe('eod-report demo', () => {
  it('runs the whole pipeline on embedded servers with nothing configured, then stops them and exits 0', async () => {
    const env = { PATH: process.env.PATH, HOME: process.env.HOME, CI: process.env.CI };
    const result = await runCli(['demo', '--rows', '300'], env, { timeoutMs: 120_000 });
    expect(result.code, result.stdout + result.stderr).toBe(0);
    expect(result.stdout).toMatch(/\$ eod-report run --date \d{4}-\d{2}-\d{2}/);
    expect(result.stdout).toMatch(/eod-transactions \d{4}-\d{2}-\d{2}: complete/);
    expect(result.stdout).toMatch(/REPORT_ARCHIVED .*s3:\/\/eod-archive\/eod\//);
    expect(result.stdout).toMatch(/byte-identical, sha256 [0-9a-f]{64}/);
    expect(result.stdout).toContain('stopped the embedded servers');
    const dir = /demo directory: (\S+)/.exec(result.stdout)?.[1];
    expect(dir).toBeDefined();
    expect(existsSync(dir as string)).toBe(false);
  });
});
