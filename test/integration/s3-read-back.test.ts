import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { CreateBucketCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createS3Client } from '../../src/adapters/s3/client.js';
import { S3ReadBack } from '../../src/adapters/s3/s3-read-back.js';
import type { S3Config } from '../../src/config/schema.js';
import { judgeCopy } from '../../src/core/verify.js';
import { s3Server } from '../helpers/servers.js';

const BUCKET = `read-back-${randomUUID().slice(0, 8)}`;
const saved = { id: process.env.AWS_ACCESS_KEY_ID, secret: process.env.AWS_SECRET_ACCESS_KEY };

describe('S3ReadBack against s3rver (verify reads the archive)', () => {
  let config: S3Config;
  let client: S3Client;

  beforeAll(async () => {
    const s3 = s3Server();
    process.env.AWS_ACCESS_KEY_ID = s3.accessKeyId;
    process.env.AWS_SECRET_ACCESS_KEY = s3.secretAccessKey;
    config = {
      bucket: BUCKET,
      prefix: '',
      region: s3.region,
      endpoint: s3.endpoint,
      forcePathStyle: true,
      multipartThreshold: 4 * 1024 ** 3,
    } as S3Config;
    client = createS3Client(config);
    await client.send(new CreateBucketCommand({ Bucket: BUCKET }));
  });
  afterAll(() => {
    client?.destroy();
    for (const [name, value] of [
      ['AWS_ACCESS_KEY_ID', saved.id],
      ['AWS_SECRET_ACCESS_KEY', saved.secret],
    ] as const) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
  });

  const put = async (key: string, body: Buffer) =>
    client.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: body }));

  it('streams the whole object through SHA-256', async () => {
    const body = randomBytes(3 * 1024 * 1024 + 17);
    await put('whole.csv', body);
    const reading = await new S3ReadBack(config, { client }).read({ bucket: BUCKET, key: 'whole.csv' });
    expect(reading).toEqual({
      kind: 'read',
      bytes: body.length,
      sha256: createHash('sha256').update(body).digest('hex'),
    });
  });

  it('a missing object or bucket is absent, naming the S3 code', async () => {
    const reader = new S3ReadBack(config, { client });
    expect(await reader.read({ bucket: BUCKET, key: 'never-written.csv' })).toEqual({
      kind: 'absent',
      reason: 'NoSuchKey: the object is not in the bucket',
    });
    const noBucket = await reader.read({ bucket: 'no-such-bucket-here', key: 'x.csv' });
    expect(noBucket).toMatchObject({ kind: 'absent' });
    expect((noBucket as { reason: string }).reason).toContain('NoSuchBucket');
  });

  it('a recorded version that the key no longer serves is a mismatch, even though that version is intact', async () => {
    const body = Buffer.from('id\n1\n');
    await put('versioned.csv', body);
    // s3rver has no versioning: play real S3's answer to HeadObject of a versioned key.
    let current = 'v1';
    client.middlewareStack.add(
      (next, context) => async (args) => {
        const result = await next(args);
        if (context.commandName === 'HeadObjectCommand')
          (result.output as { VersionId?: string }).VersionId = current;
        return result;
      },
      { step: 'initialize', name: 'playVersions' },
    );
    try {
      const reader = new S3ReadBack(config, { client });
      const location = { bucket: BUCKET, key: 'versioned.csv', versionId: 'v1' };
      const expected = {
        rows: 1,
        bytes: body.length,
        sha256: createHash('sha256').update(body).digest('hex'),
      };

      const same = await reader.read(location);
      expect(same).not.toHaveProperty('supersededBy');
      expect(judgeCopy(expected, same, 's3://b/k', true).state).toBe('match');

      current = 'v2';
      const replaced = await reader.read(location);
      expect(replaced).toMatchObject({ kind: 'read', supersededBy: 'v2' });
      const verdict = judgeCopy(expected, replaced, 's3://b/k', true);
      expect(verdict.state).toBe('mismatch');
      expect(verdict.detail).toContain('the key now serves version v2');
    } finally {
      client.middlewareStack.remove('playVersions');
    }
  });
});
