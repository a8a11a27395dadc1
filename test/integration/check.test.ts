import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../src/embedded/free-port.js';
import { writeEd25519KeyPair } from '../../src/embedded/ssh-keys.js';
import { createFixture, type Fixture, runCli, TRANSACTIONS_DDL } from '../helpers/fixture.js';

describe('eod-report check', () => {
  let fx: Fixture;
  beforeAll(async () => {
    fx = await createFixture('check');
    await fx.pool.query(TRANSACTIONS_DDL);
  });
  afterAll(async () => {
    await fx?.close();
  });

  const sftp = () => fx.baseReport().sftp as Record<string, unknown>;
  const s3 = () => fx.baseReport().s3 as Record<string, unknown>;
  const secret = () => new URL(fx.db.url).password;

  it('connects to the database, the SFTP server with the pinned key, and the bucket', async () => {
    const result = await runCli(['check', '--config', await fx.writeConfig()], fx.env);
    expect(result.code, result.stdout + result.stderr).toBe(0);
    expect(result.stdout).toMatch(
      /^ok +database: 127\.0\.0\.1:\d+\/\w+ \(schema at migration \d+, captured rows in schema end_of_day_reporting_rows\)$/m,
    );
    expect(result.stdout).toMatch(/^ok +query eod-tx: prepared; \$1 is the report date$/m);
    expect(result.stdout).toMatch(/^ok +sftp eod-tx: .*SHA256:/m);
    expect(result.stdout).toMatch(/^ok +s3 eod-tx: /m);
    expect(result.stdout + result.stderr).not.toContain(secret());
  });

  it('a wrong host key pin fails the SFTP check, showing the fingerprint the server offered', async () => {
    const wrong = `SHA256:${'B'.repeat(43)}`;
    const config = await fx.writeConfig({ report: { sftp: { ...sftp(), hostKeySha256: wrong } } });
    const result = await runCli(['check', '--config', config], fx.env);
    expect(result.code).toBe(1);
    const line = result.stdout.split('\n').find((l) => l.startsWith('FAILED sftp eod-tx'));
    expect(line).toContain(wrong);
    expect(line).toContain(sftp().hostKeySha256 as string);
    expect(result.stdout).toMatch(/^ok +database/m);
  });

  it('a client key the server does not know fails the SFTP check', async () => {
    const keys = await writeEd25519KeyPair(fx.dir, 'stranger');
    const config = await fx.writeConfig({
      report: { sftp: { ...sftp(), privateKeyFile: keys.privateKeyFile } },
    });
    const result = await runCli(['check', '--config', config], fx.env);
    expect(result.code).toBe(1);
    expect(result.stdout).toMatch(/^FAILED sftp eod-tx: .*authentication failed/im);
  });

  it('an unreachable database fails the database check without printing its password', async () => {
    const url = new URL(fx.db.url);
    url.port = String(await freePort());
    const config = await fx.writeConfig({ top: { database: { url: url.toString() } } });
    const result = await runCli(['check', '--config', config], fx.env);
    expect(result.code).toBe(1);
    expect(result.stdout).toMatch(
      /^FAILED database: cannot connect to 127\.0\.0\.1:\d+ \(ECONNREFUSED\): connection refused; .*database\.url/m,
    );
    expect(result.stdout + result.stderr).not.toContain(secret());
  });

  it('a missing bucket fails the S3 check', async () => {
    const config = await fx.writeConfig({ report: { s3: { ...s3(), bucket: 'no-such-bucket-check' } } });
    const result = await runCli(['check', '--config', config], fx.env);
    expect(result.code).toBe(1);
    expect(result.stdout).toMatch(/^FAILED s3 eod-tx: .*no-such-bucket-check.*does not exist/m);
  });

  it('an unknown key or a bad duration is a config error: exit 2, naming the key', async () => {
    const unknown = await fx.writeConfig({ top: { lokc: { strategy: 'lease' } } });
    const a = await runCli(['check', '--config', unknown], fx.env);
    expect(a.code).toBe(2);
    expect(a.stderr).toMatch(/unknown key "lokc"/);
    const duration = await fx.writeConfig({ top: { lock: { atMostFor: '30 minutes' } } });
    const b = await runCli(['check', '--config', duration], fx.env);
    expect(b.code).toBe(2);
    expect(b.stderr).toMatch(/lock\.atMostFor: "30 minutes" is not a duration/);
    const file = path.join(fx.dir, 'broken.yaml');
    await writeFile(file, 'reports: [\n');
    const c = await runCli(['check', '--config', file], fx.env);
    expect(c.code).toBe(2);
    const missing = await runCli(['check', '--config', path.join(fx.dir, 'nope.yaml')], fx.env);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/nope\.yaml/);
  });

  it('prints help for each command and the version', async () => {
    const version = await runCli(['--version'], fx.env);
    expect(version.code).toBe(0);
    expect(version.stdout.trim()).toMatch(/^\d+\.\d+\.\d+$/);
    for (const command of ['migrate', 'run', 'status', 'check', 'demo']) {
      const help = await runCli([command, '--help'], fx.env);
      expect(help.code).toBe(0);
      expect(help.stdout).toContain(`Usage: eod-report ${command}`);
    }
    const bad = await runCli(['run', '--no-such-flag'], fx.env);
    expect(bad.code).toBe(2);
  });
});
