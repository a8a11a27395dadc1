/**
 * S3 answering 403 (issue 9, item 14). s3rver checks no signatures and no policies (PRODUCT.md
 * §9), so a small HTTP server of our own on 127.0.0.1 plays an S3 bucket as IAM makes it look:
 * - `no-list`: the identity has s3:PutObject and s3:GetObject on the prefix but no s3:ListBucket,
 *   so HeadBucket and a HEAD (or GET) of a missing key answer 403, as AWS does;
 * - `no-get`: puts are allowed, every read is denied;
 * - `bad-secret`: every request fails authentication (SignatureDoesNotMatch, in a body when the
 *   method allows one).
 */
import { createHash } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { S3Archive } from '../../src/adapters/s3/s3-archive.js';
import type { S3Config } from '../../src/config/schema.js';
import { memoryContent } from '../helpers/memory-content.js';

type Mode = 'no-list' | 'no-get' | 'bad-secret';

interface Stored {
  body: Buffer;
  meta: Record<string, string>;
}

function errorXml(code: string, message: string): string {
  return `<?xml version="1.0" encoding="UTF-8"?><Error><Code>${code}</Code><Message>${message}</Message><RequestId>LOCAL</RequestId></Error>`;
}

function startFakeS3(bucket: string) {
  const objects = new Map<string, Stored>();
  const requests: string[] = [];
  let mode: Mode = 'no-list';
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://localhost');
      const [, urlBucket, ...rest] = url.pathname.split('/');
      const key = decodeURIComponent(rest.join('/'));
      requests.push(`${req.method} ${key === '' ? '(bucket)' : key}`);
      const deny = (code = 'AccessDenied', message = 'Access Denied') => {
        res.statusCode = 403;
        if (req.method === 'HEAD') res.end();
        else {
          res.setHeader('content-type', 'application/xml');
          res.end(errorXml(code, message));
        }
      };
      if (mode === 'bad-secret')
        return deny('SignatureDoesNotMatch', 'The request signature we calculated does not match');
      if (urlBucket !== bucket) return deny();
      if (key === '') return deny(); // HeadBucket, ListObjects: s3:ListBucket is not granted
      const existing = objects.get(key);
      if (req.method === 'PUT') {
        if (req.headers['if-none-match'] === '*' && existing) {
          res.statusCode = 412;
          res.setHeader('content-type', 'application/xml');
          return res.end(
            errorXml('PreconditionFailed', 'At least one of the pre-conditions you specified did not hold'),
          );
        }
        const body = Buffer.concat(chunks);
        const meta: Record<string, string> = {};
        for (const [name, value] of Object.entries(req.headers)) {
          if (name.startsWith('x-amz-meta-') && typeof value === 'string') meta[name] = value;
        }
        objects.set(key, { body, meta });
        res.setHeader('etag', `"${createHash('md5').update(body).digest('hex')}"`);
        return res.end();
      }
      if (mode === 'no-get' || !existing) return deny(); // without ListBucket, missing reads as 403
      res.setHeader('content-length', String(existing.body.length));
      res.setHeader('etag', `"${createHash('md5').update(existing.body).digest('hex')}"`);
      for (const [name, value] of Object.entries(existing.meta)) res.setHeader(name, value);
      res.end(req.method === 'HEAD' ? undefined : existing.body);
    });
  });
  return {
    objects,
    requests,
    setMode: (m: Mode) => {
      mode = m;
    },
    listen: () =>
      new Promise<string>((resolve) =>
        server.listen(0, '127.0.0.1', () =>
          resolve(`http://127.0.0.1:${(server.address() as AddressInfo).port}`),
        ),
      ),
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

describe('S3 answering 403', () => {
  const bucket = 'regulated-archive';
  const fake = startFakeS3(bucket);
  let config: S3Config;
  const saved = { id: process.env.AWS_ACCESS_KEY_ID, secret: process.env.AWS_SECRET_ACCESS_KEY };

  beforeAll(async () => {
    const endpoint = await fake.listen();
    process.env.AWS_ACCESS_KEY_ID = 'AKIALOCALTEST';
    process.env.AWS_SECRET_ACCESS_KEY = 'local-secret-never-printed';
    config = {
      bucket,
      prefix: 'eod/{yyyy}/',
      region: 'eu-west-1',
      endpoint,
      forcePathStyle: true,
      multipartThreshold: 4 * 1024 ** 3,
    } as S3Config;
  });
  afterAll(async () => {
    await fake.close();
    for (const [name, value] of [
      ['AWS_ACCESS_KEY_ID', saved.id],
      ['AWS_SECRET_ACCESS_KEY', saved.secret],
    ] as const) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
  });

  it('archives without s3:ListBucket (a missing key answers 403), and a rerun finds the object ours', async () => {
    fake.setMode('no-list');
    const content = memoryContent(Buffer.from('id,amount\n1,2.50\n'), 1);
    const archive = new S3Archive(config);
    const receipt = await archive.store('eod/2026/eod_20260329.csv', content);
    expect(receipt.alreadyPresent).toBe(false);
    expect(fake.objects.get('eod/2026/eod_20260329.csv')?.body.toString()).toBe('id,amount\n1,2.50\n');

    const again = await new S3Archive(config).store('eod/2026/eod_20260329.csv', content);
    expect(again.alreadyPresent).toBe(true);
  });

  it('a HEAD answered 403 names the likely causes, not "Unknown: HTTP 403"', async () => {
    fake.setMode('no-get');
    const content = memoryContent(Buffer.from('id\n7\n'), 1);
    const error = await new S3Archive(config).store('eod/2026/eod_20260330.csv', content).then(
      () => undefined,
      (e: Error) => e,
    );
    expect(error?.message).toMatch(/HeadObject/);
    expect(error?.message).not.toMatch(/Unknown|HTTP 403$/);
    expect(error?.message).toMatch(/AccessDenied/);
    expect(error?.message).toContain('lacks s3:GetObject on arn:aws:s3:::regulated-archive/eod/*');
    expect(error?.message).toMatch(/s3:ListBucket/);
    expect(error?.message).toMatch(/secret access key is wrong/);
    expect(error?.message).toMatch(/clock/);
    expect(error?.message).not.toContain('local-secret-never-printed');
  });

  it('check passes without s3:ListBucket, saying what it could not verify', async () => {
    fake.setMode('no-list');
    const detail = await new S3Archive(config).check();
    expect(detail).toMatch(/credentials accepted; no s3:ListBucket/);
    expect(fake.requests.at(-1)).toMatch(/^GET eod\/\.eod-report-check-\d+$/);
  });

  it('check with a wrong secret fails, naming it from the body of a GET', async () => {
    fake.setMode('bad-secret');
    const error = await new S3Archive(config).check().then(
      () => undefined,
      (e: Error) => e,
    );
    expect(error?.message).toMatch(/secret access key does not match .*SignatureDoesNotMatch/);
    expect(error?.message).not.toContain('local-secret-never-printed');
  });
});
