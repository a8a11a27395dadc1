/**
 * The irreversible acts of the adapters (issue 8 items 1 and 4), against the real sshd and s3rver:
 * temporary files per lock acquisition and their cleanup by pattern, the hook right before the
 * rename / put / multipart completion, what an acknowledged rename and a vanished temporary file
 * mean, and what a resume's probe reports.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readdir, rm, stat, unlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { HeadObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { S3Archive } from '../../src/adapters/s3/s3-archive.js';
import { isOurTemporary, SftpDelivery } from '../../src/adapters/sftp/sftp-delivery.js';
import type { S3Config, SftpConfig } from '../../src/config/schema.js';
import { isEodError } from '../../src/core/errors.js';
import { createFixture, type Fixture } from '../helpers/fixture.js';
import { memoryContent } from '../helpers/memory-content.js';

describe('irreversible acts of the adapters', () => {
  let fx: Fixture;
  let n = 0;
  beforeAll(async () => {
    fx = await createFixture('acts');
  });
  afterAll(async () => {
    await fx?.close();
  });

  async function directory(): Promise<string> {
    const dir = path.join(fx.sftpDir, `d${++n}`);
    await mkdir(dir, { recursive: true });
    return dir;
  }
  const sftpConfig = (dir: string): SftpConfig =>
    ({
      ...(fx.baseReport().sftp as object),
      directory: dir,
      fileMode: 0o640,
      connectTimeout: 10_000,
    }) as SftpConfig;

  it('isOurTemporary matches <name>.part and <name>.<digits>.part only', () => {
    expect(isOurTemporary('r.csv.part', 'r.csv')).toBe(true);
    expect(isOurTemporary('r.csv.42.part', 'r.csv')).toBe(true);
    for (const name of [
      'r.csv',
      'r.csv.x.part',
      'r.csv.4a.part',
      'r.csv..part',
      'x.csv.1.part',
      'r.csv.1.part.bak',
      'r.csv1.part',
    ]) {
      expect(isOurTemporary(name, 'r.csv'), name).toBe(false);
    }
  });

  it('uploads to <name>.<token>.part, complete when beforeRename sees it, and removes only our older temporaries', async () => {
    const dir = await directory();
    const others = ['report.csv.x.part', 'other.csv.3.part', 'report.csv.17.part.keep', 'report.csv.17'];
    for (const name of [...others, 'report.csv.part', 'report.csv.17.part'])
      await writeFile(path.join(dir, name), 'old');
    const bytes = randomBytes(200_000);
    const seen: { temporaryPath: string; finalPath: string; size: number }[] = [];
    const receipt = await new SftpDelivery(sftpConfig(dir)).deliver('report.csv', memoryContent(bytes), {
      token: '99',
      beforeRename: async (paths) => {
        seen.push({ ...paths, size: (await stat(paths.temporaryPath)).size });
      },
    });
    expect(seen).toEqual([
      {
        temporaryPath: path.join(dir, 'report.csv.99.part'),
        finalPath: path.join(dir, 'report.csv'),
        size: bytes.length,
      },
    ]);
    expect(receipt).toMatchObject({ alreadyPresent: false, verifiedAfterRename: true });
    expect((await readdir(dir)).sort()).toEqual([...others, 'report.csv'].sort());
  });

  it('a temporary file that vanishes after it was closed is SUBMISSION_UNCERTAIN, never re-uploaded', async () => {
    const dir = await directory();
    const error = await new SftpDelivery(sftpConfig(dir))
      .deliver('report.csv', memoryContent(randomBytes(10_000)), {
        token: '5',
        // An inbox that collects every closed file takes it before our rename.
        beforeRename: async ({ temporaryPath }) => unlink(temporaryPath),
      })
      .catch((e: unknown) => e);
    expect(isEodError(error, 'SUBMISSION_UNCERTAIN'), String(error)).toBe(true);
    expect(isEodError(error) && error.retryable).toBe(false);
    expect(await readdir(dir)).toEqual([]);
  });

  it('an acknowledged rename is a submission even when the file is gone right after', async () => {
    const dir = await directory();
    const final = path.join(dir, 'report.csv');
    const delivery = new SftpDelivery(sftpConfig(dir), async (point) => {
      if (point === 'sftp.after-rename') await unlink(final);
    });
    const receipt = await delivery.deliver('report.csv', memoryContent(randomBytes(10_000)), { token: '6' });
    expect(receipt).toMatchObject({ alreadyPresent: false, verifiedAfterRename: false, remotePath: final });
    expect(receipt.afterRenameNote).toMatch(/not found/);
  });

  it("probe tells ours / absent and whether the intent's temporary file is still there; other content is a conflict", async () => {
    const dir = await directory();
    const bytes = randomBytes(50_000);
    const content = memoryContent(bytes);
    const delivery = new SftpDelivery(sftpConfig(dir));
    const temporaryPath = path.join(dir, 'report.csv.7.part');
    expect(await delivery.probe('report.csv', content, temporaryPath)).toMatchObject({
      final: 'absent',
      temporary: 'absent',
    });
    await writeFile(temporaryPath, bytes);
    expect(await delivery.probe('report.csv', content, temporaryPath)).toMatchObject({
      final: 'absent',
      temporary: 'present',
    });
    await rm(temporaryPath);
    await writeFile(path.join(dir, 'report.csv'), bytes);
    expect(await delivery.probe('report.csv', content, temporaryPath)).toMatchObject({
      final: 'ours',
      temporary: 'absent',
      finalPath: path.join(dir, 'report.csv'),
    });
    await writeFile(path.join(dir, 'report.csv'), randomBytes(50_000));
    const error = await delivery.probe('report.csv', content, temporaryPath).catch((e: unknown) => e);
    expect(isEodError(error, 'REMOTE_CONFLICT')).toBe(true);
  });

  const s3Config = (over: Partial<S3Config> = {}): S3Config =>
    ({
      ...(fx.baseReport().s3 as object),
      region: 'us-east-1',
      multipartThreshold: 4 * 1024 ** 3,
      ...over,
    }) as S3Config;
  const headStatus = (key: string) =>
    fx.s3.send(new HeadObjectCommand({ Bucket: fx.bucket, Key: key })).then(
      () => 200,
      (e: { $metadata?: { httpStatusCode?: number } }) => e.$metadata?.httpStatusCode,
    );

  it('s3: beforeCommit runs right before the put; when it throws, no object is written', async () => {
    const acts: string[] = [];
    const archive = new S3Archive(s3Config(), { client: fx.s3, failpoint: (p) => void acts.push(p) });
    const content = memoryContent(Buffer.from('id\n1\n'));
    const error = await archive
      .store('acts/refused.csv', content, {
        beforeCommit: async (act) => {
          acts.push(`beforeCommit:${act.kind}:${act.key}`);
          throw new Error('lease lost');
        },
      })
      .catch((e: unknown) => e as Error);
    expect(String(error)).toMatch(/lease lost/);
    expect(acts).toEqual(['archive.before-put', 'beforeCommit:put:acts/refused.csv']);
    expect(await headStatus('acts/refused.csv')).toBe(404);
  });

  it('s3 multipart: beforeCommit runs before CompleteMultipartUpload; when it throws, no object is written', async () => {
    const kinds: string[] = [];
    const archive = new S3Archive(s3Config({ multipartThreshold: 5 * 1024 * 1024 }), { client: fx.s3 });
    const content = memoryContent(randomBytes(11 * 1024 * 1024));
    const error = await archive
      .store('acts/multipart.csv', content, {
        beforeCommit: async (act) => {
          kinds.push(act.kind);
          throw new Error('lease lost');
        },
      })
      .catch((e: unknown) => e as Error);
    expect(String(error)).toMatch(/lease lost/);
    expect(kinds).toEqual(['complete']);
    expect(await headStatus('acts/multipart.csv')).toBe(404);
    // And when it lets the act go ahead, the object is there, once.
    const ok = await archive.store('acts/multipart.csv', content, {
      beforeCommit: async (act) => void kinds.push(act.kind),
    });
    expect(ok.alreadyPresent).toBe(false);
    expect(kinds).toEqual(['complete', 'complete']);
  });
});
