import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { SFTP_FAILPOINTS } from '../../src/adapters/sftp/sftp-delivery.js';
import { failpointsFromEnv, KNOWN_FAILPOINTS } from '../../src/app/failpoints.js';
import { EodError, exitCodeFor } from '../../src/core/errors.js';

async function sources(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true, recursive: true });
  return entries
    .filter((e) => e.isFile() && e.name.endsWith('.ts'))
    .map((e) => path.join(e.parentPath, e.name));
}

const refusal = (env: string) => {
  try {
    failpointsFromEnv({ EOD_FAILPOINT: env }, () => undefined);
  } catch (error) {
    return error;
  }
  return undefined;
};

describe('failpoints', () => {
  it('the known list is exactly the points the code stops at', async () => {
    const named = new Set<string>();
    for (const file of await sources(path.resolve('src'))) {
      const text = await readFile(file, 'utf8');
      for (const match of text.matchAll(/[fF]ailpoint(?:\?\.)?\('([a-z]+\.[a-z-]+)'\)/g))
        named.add(match[1] as string);
    }
    for (const point of SFTP_FAILPOINTS) named.add(point);
    expect([...named].sort()).toEqual([...KNOWN_FAILPOINTS].sort());
  });

  it('an unknown point is a usage error (exit 2) listing the known ones', () => {
    const error = refusal('sftp.before-rename:kill,archive.befor-put:throw');
    expect(error).toBeInstanceOf(EodError);
    expect(exitCodeFor(error)).toBe(2);
    expect((error as Error).message).toBe(
      `EOD_FAILPOINT: unknown failpoint "archive.befor-put" in "archive.befor-put:throw"; expected one of ${KNOWN_FAILPOINTS.join(', ')}`,
    );
  });

  it('an unknown action is a usage error naming the allowed ones', () => {
    for (const spec of ['sftp.mid-upload:explode', 'sftp.mid-upload:sleep:5', 'sftp.mid-upload:sleepy']) {
      const error = refusal(spec);
      expect(exitCodeFor(error), spec).toBe(2);
      expect((error as Error).message, spec).toContain('expected <point>:<kill|hang|stop|throw|sleep<ms>>');
    }
  });

  it('known points with every action are accepted (kill by default); empty entries are ignored', async () => {
    const point = failpointsFromEnv(
      {
        EOD_FAILPOINT:
          ' sftp.mid-upload:sleep5 , rows.after-commit:throw,,archive.before-put:hang,sftp.before-rename, ',
      },
      () => undefined,
    );
    await expect(point('rows.after-commit')).rejects.toThrow('failpoint rows.after-commit');
    await expect(point('sftp.mid-upload')).resolves.toBeUndefined();
    await expect(point('archive.after-put')).resolves.toBeUndefined();
  });
});
