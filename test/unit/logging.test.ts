import { describe, expect, it } from 'vitest';
import { redactSecrets } from '../../src/core/redact.js';
import { createLogger } from '../../src/logging.js';

const DB_PASSWORD = 'pg-Secret-4711';
const DB_URL = `postgres://app:${DB_PASSWORD}@db.internal:5432/ledger`;
const SFTP_PASSWORD = 'sftp-Hunter2-secret';
const QUOTED = 'pa"ss\\word-9';
const SECRETS = [DB_URL, DB_PASSWORD, SFTP_PASSWORD, QUOTED];

/** A logger writing JSON lines to memory. */
function memoryLogger(level = 'trace', secrets: readonly string[] = SECRETS) {
  const lines: string[] = [];
  const logger = createLogger({
    level,
    secrets,
    destination: { write: (line: string) => void lines.push(line) },
  });
  const output = () => lines.join('');
  // biome-ignore lint/suspicious/noExplicitAny: log records are read by shape in assertions.
  const records = () => lines.map((line) => JSON.parse(line) as Record<string, any>);
  return { logger, output, records };
}

function expectNoSecret(text: string) {
  for (const secret of [DB_URL, DB_PASSWORD, SFTP_PASSWORD, QUOTED, JSON.stringify(QUOTED).slice(1, -1)]) {
    expect(text).not.toContain(secret);
  }
}

describe('redactSecrets', () => {
  it('replaces every occurrence, longest secret first', () => {
    expect(
      redactSecrets(`connect ${DB_URL} (password ${DB_PASSWORD}) again ${DB_PASSWORD}`, [
        DB_PASSWORD,
        DB_URL,
      ]),
    ).toBe('connect *** (password ***) again ***');
  });

  it('ignores empty and short secrets, which would garble ordinary text', () => {
    expect(redactSecrets('a db at port 22', ['', 'db', '22', 'a'])).toBe('a db at port 22');
    expect(redactSecrets('pin 1234', ['1234'])).toBe('pin ***');
  });

  it('treats secrets literally, not as patterns', () => {
    expect(redactSecrets('x.*y and x.*y', ['x.*y'])).toBe('*** and ***');
  });
});

describe('createLogger', () => {
  it('never writes a configured secret, wherever it appears', () => {
    const { logger, output, records } = memoryLogger();
    const cause = new Error(`auth failed for ${SFTP_PASSWORD}`);
    const error = Object.assign(new Error(`cannot connect to ${DB_URL}`, { cause }), {
      detail: `pw=${DB_PASSWORD}`,
    });

    logger.info(`message with ${DB_URL}`);
    logger.info('interpolated %s and %j', SFTP_PASSWORD, { nested: QUOTED });
    logger.info({ deep: { deeper: { list: [`x ${DB_PASSWORD} y`] } }, url: new URL(DB_URL) }, 'objects');
    logger.error(error);
    logger.error({ err: error }, 'step failed');
    logger.error({ err: error });
    logger.warn({ error }, 'under another key');
    logger.child({ connection: DB_URL }).info('child bindings');
    logger.info({ quoted: `says ${QUOTED}` }, `and ${QUOTED}`);

    const text = output();
    expectNoSecret(text);
    const [plain, interpolated, objects, bare, withMsg, errOnly, otherKey, child, quoted] = records();
    expect(plain?.msg).toBe('message with ***');
    expect(interpolated?.msg).toBe('interpolated *** and {"nested":"***"}');
    expect(objects?.deep.deeper.list).toEqual(['x *** y']);
    // The error is still useful: type, the message around the secret, the stack, causes, fields.
    expect(bare?.msg).toBe('cannot connect to ***');
    expect(bare?.err).toMatchObject({ type: 'Error', detail: 'pw=***' });
    expect(bare?.err.message).toContain('cannot connect to ***');
    expect(bare?.err.message).toContain('auth failed for ***');
    expect(bare?.err.stack).toContain('logging.test.ts');
    expect(withMsg?.msg).toBe('step failed');
    expect(errOnly?.msg).toBe('cannot connect to ***');
    expect(otherKey?.error.message).toContain('cannot connect to ***');
    expect(child?.connection).toBe('***');
    expect(quoted?.quoted).toBe('says ***');
    expect(quoted?.msg).toBe('and ***');
  });

  it('censors credential keys even when their value is not a known secret', () => {
    const { logger, records, output } = memoryLogger('info', []);
    logger.info({
      config: { database: { url: 'postgres://u:unlisted-pw@h/db', poolSize: 5 } },
      sftp: { host: 'h', password: 'unlisted-sftp', passphrase: 'unlisted-phrase' },
      connect: { privateKey: '-----BEGIN OPENSSH PRIVATE KEY-----' },
    });
    const [record] = records();
    expect(record?.config.database).toEqual({ url: '[Redacted]', poolSize: 5 });
    expect(record?.sftp).toEqual({ host: 'h', password: '[Redacted]', passphrase: '[Redacted]' });
    expect(record?.connect.privateKey).toBe('[Redacted]');
    expect(output()).not.toMatch(/unlisted|BEGIN OPENSSH/);
  });

  it('keeps the level, the base fields and circular structures working', () => {
    const lines: string[] = [];
    const logger = createLogger({
      level: 'warn',
      secrets: SECRETS,
      base: { instance: 'host-a:42' },
      destination: { write: (line: string) => void lines.push(line) },
    });
    const loop: Record<string, unknown> = { name: SFTP_PASSWORD };
    loop.self = loop;
    logger.info('dropped');
    logger.warn({ loop }, 'kept');
    expect(lines).toHaveLength(1);
    const record = JSON.parse(lines[0] as string);
    expect(record).toMatchObject({
      level: 40,
      instance: 'host-a:42',
      msg: 'kept',
      loop: { name: '***', self: '[Circular]' },
    });
    expect(record).not.toHaveProperty('pid');
  });

  it('does not change what it logs', () => {
    const { logger } = memoryLogger();
    const payload = { password: SFTP_PASSWORD, text: DB_URL };
    logger.info(payload, 'x');
    expect(payload).toEqual({ password: SFTP_PASSWORD, text: DB_URL });
  });
});
