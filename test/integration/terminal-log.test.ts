import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../src/cli/program.js';
import { createFixture, type Fixture, TRANSACTIONS_DDL } from '../helpers/fixture.js';

/** A stream that says it is a terminal and keeps what was written. */
function fakeTty(): Writable & { isTTY: true; text: () => string } {
  let out = '';
  const stream = new Writable({
    write(chunk, _encoding, callback) {
      out += chunk.toString();
      callback();
    },
  });
  return Object.assign(stream, { isTTY: true as const, text: () => out });
}

describe('run on a terminal (stderr a TTY)', () => {
  let fx: Fixture;
  beforeAll(async () => {
    fx = await createFixture('terminal-log');
    await fx.pool.query(TRANSACTIONS_DDL);
    await fx.pool.query(
      `INSERT INTO transactions
       SELECT g, '2026-05-04', '2026-05-04 12:00 Europe/London', repeat('x', 200), g FROM generate_series(1, 5000) g`,
    );
  });
  afterAll(async () => {
    await fx?.close();
  });

  it('shows the progress line, and every JSON log line stands on its own line, never glued to it', async () => {
    // The CLI in-process: the S3 client reads credentials from the process environment.
    Object.assign(process.env, fx.env);
    const stdout = fakeTty();
    const stderr = fakeTty();
    const code = await main(
      ['node', 'eod-report', 'run', '--config', await fx.writeConfig(), '--date', '2026-05-04'],
      { stdout, stderr, env: fx.env },
      new AbortController().signal,
    );
    expect(code, stderr.text()).toBe(0);
    const lines = stderr.text().split('\n');
    expect(stderr.text()).toMatch(/eod-tx 2026-05-04 (rows|submit|archive): [\d.]+ MiB/);
    const logs = lines.slice(0, -1).map((line) => line.split('\r\x1b[K').at(-1) as string);
    expect(logs.length).toBeGreaterThanOrEqual(6);
    for (const visible of logs) {
      expect(() => JSON.parse(visible), JSON.stringify(visible)).not.toThrow();
    }
    expect(stdout.text()).toMatch(/eod-tx 2026-05-04: complete/);
  });
});
