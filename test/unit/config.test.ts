// biome-ignore-all lint/suspicious/noTemplateCurlyInString: these strings are ${VAR} references in config files.
// biome-ignore-all lint/suspicious/noExplicitAny: tests reshape configs freely to make them invalid.
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { formatConfigIssues, type LoadedConfig, loadConfig } from '../../src/config/load.js';
import { configSchema } from '../../src/config/schema.js';
import { EodError, exitCodeFor } from '../../src/core/errors.js';

const HOST_KEY = 'SHA256:uNiVztksCsDhcc0u9e8BujQXVUpKZIDTMczCvj3tD2s';
const DB_PASSWORD = 'pg-Secret-4711';
const DB_URL = `postgres://app:${DB_PASSWORD}@db.internal:5432/ledger`;
const SFTP_PASSWORD = 'sftp-Hunter2-secret';

const VALID_YAML = `
database:
  url: ${DB_URL}
reports:
  - name: eod-transactions
    timezone: Europe/London
    query: "SELECT id, amount FROM transactions WHERE booked_on = $1::date ORDER BY id"
    fileName: "eod_{yyyy}{MM}{dd}.csv"
    sftp:
      host: sftp.regulator.example
      username: bank
      password: ${SFTP_PASSWORD}
      hostKeySha256: "${HOST_KEY}"
      directory: /inbox
    s3:
      bucket: eod-archive
`;

/** The same config as VALID_YAML, as an object to tweak and write as JSON or YAML. */
function validConfig(): Record<string, any> {
  return {
    database: { url: DB_URL },
    reports: [
      {
        name: 'eod-transactions',
        timezone: 'Europe/London',
        query: 'SELECT id, amount FROM transactions WHERE booked_on = $1::date ORDER BY id',
        fileName: 'eod_{yyyy}{MM}{dd}.csv',
        sftp: {
          host: 'sftp.regulator.example',
          username: 'bank',
          password: SFTP_PASSWORD,
          hostKeySha256: HOST_KEY,
          directory: '/inbox',
        },
        s3: { bucket: 'eod-archive' },
      },
    ],
  };
}

let dir: string;

beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'eod-config-'));
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function write(name: string, content: string | object): Promise<string> {
  const file = path.join(dir, name);
  await writeFile(file, typeof content === 'string' ? content : JSON.stringify(content, null, 2));
  return file;
}

/** Loads `content` from a temp file with an empty environment unless one is given. */
async function load(
  content: string | object,
  env: NodeJS.ProcessEnv = {},
  name?: string,
): Promise<LoadedConfig> {
  const file = await write(name ?? (typeof content === 'string' ? 'config.yaml' : 'config.json'), content);
  return loadConfig({ path: file, env });
}

async function loadError(
  content: string | object,
  env: NodeJS.ProcessEnv = {},
  name?: string,
): Promise<EodError> {
  const error = await load(content, env, name).then(
    () => undefined,
    (thrown: unknown) => thrown,
  );
  expect(error).toBeInstanceOf(EodError);
  const eod = error as EodError;
  expect(eod.code).toBe('CONFIG_INVALID');
  expect(exitCodeFor(eod)).toBe(2);
  return eod;
}

function lines(error: Error): string[] {
  return error.message.split('\n');
}

describe('loadConfig: valid files', () => {
  it('loads YAML and applies every default', async () => {
    const before = await readdir(dir);
    const { config, path: loadedFrom, secrets } = await load(VALID_YAML);
    expect(loadedFrom).toBe(path.join(dir, 'config.yaml'));
    expect(config.database).toEqual({ url: DB_URL, poolSize: 5, statementTimeout: 30_000 });
    expect(config.lock).toEqual({ strategy: 'lease', atMostFor: 30 * 60_000, atLeastFor: 30_000 });
    expect(config.retry).toEqual({ attempts: 3, initialDelay: 2000, maxDelay: 60_000 });
    expect(config.monitoring).toEqual({
      port: 9464,
      host: '127.0.0.1',
      livenessStaleAfter: 90_000,
      alertReclaimAfter: 300_000,
    });
    expect(config.log).toEqual({ level: 'info' });
    const [report] = config.reports;
    expect(report).toMatchObject({
      name: 'eod-transactions',
      schedule: '0 0 * * *',
      catchUpDays: 3,
      slowStepAfter: 900_000,
    });
    expect(report?.sftp).toMatchObject({
      port: 22,
      fileMode: 0o640,
      connectTimeout: 20_000,
      requestTimeout: 60_000,
      noProgressTimeout: 120_000,
      password: SFTP_PASSWORD,
    });
    expect(report?.s3).toEqual({
      bucket: 'eod-archive',
      prefix: '',
      region: 'us-east-1',
      forcePathStyle: false,
      connectTimeout: 10_000,
      requestTimeout: 60_000,
      noProgressTimeout: 120_000,
      multipartThreshold: 4 * 1024 ** 3,
    });
    expect(secrets).toEqual(expect.arrayContaining([DB_URL, DB_PASSWORD, SFTP_PASSWORD]));
    // Loading reads; it never writes next to the config (or anywhere).
    expect(await readdir(dir)).toEqual([...before, 'config.yaml']);
  });

  it('loads the same config from JSON', async () => {
    const fromYaml = await load(VALID_YAML);
    const fromJson = await load(validConfig());
    expect(fromJson.config).toEqual(fromYaml.config);
    expect(fromJson.path.endsWith('config.json')).toBe(true);
  });

  it('reads any other extension as YAML, which includes JSON', async () => {
    const { config } = await load(JSON.stringify(validConfig()), {}, 'config.conf');
    expect(config.reports[0]?.name).toBe('eod-transactions');
  });

  it('lets reports share settings through YAML anchors and merge keys', async () => {
    const yaml = `${VALID_YAML.replace('    sftp:\n', '    sftp: &sftp\n')}
  - name: eod-balances
    timezone: Europe/London
    query: "SELECT * FROM balances WHERE day = $1::date ORDER BY account"
    fileName: "bal_{yyyy}{MM}{dd}.csv"
    sftp:
      <<: *sftp
      directory: /balances
    s3:
      bucket: eod-archive
`;
    const { config } = await load(yaml);
    expect(config.reports[1]?.sftp).toMatchObject({ host: 'sftp.regulator.example', directory: '/balances' });
    expect(config.reports[0]?.sftp.directory).toBe('/inbox');
  });

  it('takes the path from EOD_REPORT_CONFIG when none is passed', async () => {
    const file = await write('from-env.yaml', VALID_YAML);
    const { path: loadedFrom } = await loadConfig({ env: { EOD_REPORT_CONFIG: file } });
    expect(loadedFrom).toBe(file);
  });

  it('converts durations to milliseconds', async () => {
    const input = validConfig();
    input.lock = { atMostFor: '2h', atLeastFor: '30s' };
    input.reports[0].slowStepAfter = '30m';
    input.reports[0].sftp.connectTimeout = '1500ms';
    const { config } = await load(input);
    expect(config.lock.atMostFor).toBe(7_200_000);
    expect(config.lock.atLeastFor).toBe(30_000);
    expect(config.reports[0]?.slowStepAfter).toBe(1_800_000);
    expect(config.reports[0]?.sftp.connectTimeout).toBe(1500);
  });

  it('returns a deeply frozen config', async () => {
    const loaded = await load(VALID_YAML);
    const report = loaded.config.reports[0] as any;
    // ES modules run in strict mode, where writing to a frozen object throws.
    expect(() => {
      (loaded.config.lock as any).atMostFor = 1;
    }).toThrow(TypeError);
    expect(() => {
      report.sftp.port = 2222;
    }).toThrow(TypeError);
    expect(() => (loaded.config.reports as any[]).push(report)).toThrow(TypeError);
    expect(() => (loaded.secrets as string[]).push('x')).toThrow(TypeError);
    expect(Object.isFrozen(loaded)).toBe(true);
  });
});

describe('loadConfig: environment variables', () => {
  it('substitutes ${VAR} in every string and keeps $${ as a literal ${', async () => {
    const input = validConfig();
    input.reports[0].sftp.username = '${SFTP_USER}';
    input.reports[0].sftp.password = '${SFTP_PASSWORD}';
    input.reports[0].s3.prefix = 'eod/${ENVIRONMENT}/{yyyy}/';
    input.reports[0].query = "SELECT '$${not_a_variable}' AS x, $1::date AS d";
    const { config, secrets } = await load(input, {
      SFTP_USER: 'bank-prod',
      SFTP_PASSWORD: 'from-the-environment',
      ENVIRONMENT: 'prod',
    });
    const report = config.reports[0];
    expect(report?.sftp.username).toBe('bank-prod');
    expect(report?.sftp.password).toBe('from-the-environment');
    expect(report?.s3.prefix).toBe('eod/prod/{yyyy}/');
    expect(report?.query).toBe("SELECT '${not_a_variable}' AS x, $1::date AS d");
    expect(secrets).toContain('from-the-environment');
  });

  it('names the key path and the variable when a variable is not set', async () => {
    const input = validConfig();
    input.reports[0].sftp.password = '${SFTP_PASSWORD}';
    input.reports[0].sftp.username = '${SFTP_USER}';
    const error = await loadError(input, { SFTP_USER: 'bank' });
    expect(lines(error)).toContain('reports[0].sftp.password: environment variable SFTP_PASSWORD is not set');
    expect(error.message).not.toContain('SFTP_USER');
  });

  it('rejects a malformed reference', async () => {
    const input = validConfig();
    input.reports[0].fileName = 'eod_${DATE.csv';
    const error = await loadError(input);
    expect(error.message).toMatch(/^reports\[0\]\.fileName: "\$\{" must start a reference/m);
  });

  it('takes database.url from DATABASE_URL when the file has none', async () => {
    const input = validConfig();
    delete input.database;
    const { config, secrets } = await load(input, { DATABASE_URL: 'postgres://env:env-pass-99@h/db' });
    expect(config.database.url).toBe('postgres://env:env-pass-99@h/db');
    expect(secrets).toEqual(expect.arrayContaining(['postgres://env:env-pass-99@h/db', 'env-pass-99']));
  });

  it('reports a missing database URL with the three ways to set it', async () => {
    const input = validConfig();
    input.database = { poolSize: 4 };
    const error = await loadError(input);
    expect(lines(error)).toContain(
      'database.url: not set; set database.url, database.urlFile or DATABASE_URL',
    );
  });
});

describe('loadConfig: secret files and paths', () => {
  it('reads passwordFile (relative to the config file) into password, without the trailing newline', async () => {
    await writeFile(path.join(dir, 'sftp-password'), 'from-a-file-123\n');
    const input = validConfig();
    delete input.reports[0].sftp.password;
    input.reports[0].sftp.passwordFile = 'sftp-password';
    const { config, secrets } = await load(input);
    expect(config.reports[0]?.sftp.password).toBe('from-a-file-123');
    expect(config.reports[0]?.sftp).not.toHaveProperty('passwordFile');
    expect(secrets).toContain('from-a-file-123');
  });

  it('reads urlFile and passphraseFile, and makes key paths absolute', async () => {
    await writeFile(path.join(dir, 'db-url'), 'postgres://app:file-pw-77@db/app\r\n');
    await writeFile(path.join(dir, 'passphrase'), 'key-passphrase-5\n\n');
    const input = validConfig();
    input.database = { urlFile: './db-url' };
    delete input.reports[0].sftp.password;
    delete input.reports[0].sftp.hostKeySha256;
    Object.assign(input.reports[0].sftp, {
      privateKeyFile: 'keys/id_ed25519',
      passphraseFile: 'passphrase',
      knownHostsFile: '/etc/ssh/known_hosts',
    });
    const { config, secrets } = await load(input);
    expect(config.database.url).toBe('postgres://app:file-pw-77@db/app');
    const sftp = config.reports[0]?.sftp;
    // Only one trailing newline belongs to the file format; the rest is content.
    expect(sftp?.passphrase).toBe('key-passphrase-5\n');
    expect(sftp?.privateKeyFile).toBe(path.join(dir, 'keys/id_ed25519'));
    expect(sftp?.knownHostsFile).toBe('/etc/ssh/known_hosts');
    expect(secrets).toEqual(
      expect.arrayContaining(['postgres://app:file-pw-77@db/app', 'file-pw-77', 'key-passphrase-5\n']),
    );
  });

  it('rejects password together with passwordFile', async () => {
    await writeFile(path.join(dir, 'sftp-password'), 'other\n');
    const input = validConfig();
    input.reports[0].sftp.passwordFile = 'sftp-password';
    const error = await loadError(input);
    expect(lines(error)).toContain(
      'reports[0].sftp.passwordFile: set either password or passwordFile, not both',
    );
    expect(error.message).not.toContain(SFTP_PASSWORD);
  });

  it('reports an unreadable secret file by path', async () => {
    const input = validConfig();
    delete input.reports[0].sftp.password;
    input.reports[0].sftp.passwordFile = 'missing-file';
    const error = await loadError(input);
    expect(lines(error)).toContain(
      `reports[0].sftp.passwordFile: cannot read ${path.join(dir, 'missing-file')}: no such file`,
    );
  });
});

describe('loadConfig: validation messages', () => {
  it('rejects unknown keys at the top level and inside a report, listing every issue', async () => {
    const input = validConfig();
    input.extra = true;
    input.reports[0].extra = 1;
    input.reports[0].sftp.port = 'twenty-two';
    const error = await loadError(input);
    expect(lines(error)).toEqual(
      expect.arrayContaining([
        '(top level): unknown key "extra"',
        'reports[0]: unknown key "extra"',
        'reports[0].sftp.port: expected number, received string (got "twenty-two")',
      ]),
    );
  });

  it('names lock.atMostFor and the value of a bad duration', async () => {
    const input = validConfig();
    input.lock = { atMostFor: '2x' };
    const error = await loadError(input);
    expect(lines(error)).toContain(
      'lock.atMostFor: "2x" is not a duration; expected a number followed by ms, s, m, h or d (e.g. 30s, 30m, 2h)',
    );
  });

  it('requires a host key pin, even when other fields are wrong too', async () => {
    const input = validConfig();
    delete input.reports[0].sftp.hostKeySha256;
    input.reports[0].sftp.directory = 'inbox';
    const error = await loadError(input);
    expect(lines(error)).toEqual(
      expect.arrayContaining([
        'reports[0].sftp.hostKeySha256: host key pinning is mandatory: set hostKeySha256 or knownHostsFile',
        'reports[0].sftp.directory: expected an absolute remote path (got "inbox")',
      ]),
    );
  });

  it('rejects a malformed host key fingerprint and names a missing required key', async () => {
    const input = validConfig();
    input.reports[0].sftp.hostKeySha256 = 'MD5:aa:bb';
    delete input.reports[0].s3.bucket;
    const error = await loadError(input);
    expect(error.message).toMatch(
      /^reports\[0\]\.sftp\.hostKeySha256: expected a fingerprint .* \(got "MD5:aa:bb"\)$/m,
    );
    expect(lines(error)).toContain('reports[0].s3.bucket: is required (expected string)');
  });

  it('rejects 2026-02-30 as a start date', async () => {
    const input = validConfig();
    input.reports[0].startDate = '2026-02-30';
    const error = await loadError(input);
    expect(lines(error)).toContain('reports[0].startDate: "2026-02-30" is not a calendar date');
  });

  it('rejects an unknown time zone and an invalid cron expression', async () => {
    const input = validConfig();
    input.reports[0].timezone = 'Europe/Atlantis';
    input.reports[0].schedule = '0 25 * *';
    const error = await loadError(input);
    expect(error.message).toMatch(/^reports\[0\]\.timezone: "Europe\/Atlantis" is not an IANA time zone/m);
    expect(error.message).toMatch(/^reports\[0\]\.schedule: "0 25 \* \*" is not a cron expression/m);
  });

  it('accepts a six-field cron expression', async () => {
    const input = validConfig();
    input.reports[0].schedule = '*/5 * * * * *';
    const { config } = await load(input);
    expect(config.reports[0]?.schedule).toBe('*/5 * * * * *');
  });

  it('explains that an octal file mode must be quoted in YAML', async () => {
    const error = await loadError(
      VALID_YAML.replace('directory: /inbox', 'directory: /inbox\n      fileMode: 0640'),
    );
    expect(lines(error)).toContain(
      'reports[0].sftp.fileMode: expected an octal mode as a quoted string, e.g. "0640", or null (got 640)',
    );
  });

  it('reads the regulator-server options: fileMode null, verify, atomicity, tempDirectory, maxInFlight, algorithms', async () => {
    const { config } = await load(
      VALID_YAML.replace(
        'directory: /inbox',
        'directory: /inbox\n      fileMode: null\n      verify: none\n      atomicity: direct\n      tempDirectory: /staging\n      maxInFlight: 1\n      algorithms: { kex: [diffie-hellman-group14-sha1] }',
      ),
    );
    expect(config.reports[0]?.sftp).toMatchObject({
      fileMode: null,
      verify: 'none',
      atomicity: 'direct',
      tempDirectory: '/staging',
      maxInFlight: 1,
      algorithms: { kex: ['diffie-hellman-group14-sha1'] },
    });
  });

  it('defaults: fileMode 0640, verify readback, atomicity rename', async () => {
    const { config } = await load(VALID_YAML);
    expect(config.reports[0]?.sftp).toMatchObject({
      fileMode: 0o640,
      verify: 'readback',
      atomicity: 'rename',
    });
  });

  it('reports duplicate report names alongside other problems', async () => {
    const input = validConfig();
    input.reports.push(structuredClone(input.reports[0]));
    input.lock = { strategy: 'mutex' };
    const error = await loadError(input);
    expect(lines(error)).toEqual(
      expect.arrayContaining([
        'reports[1].name: duplicate report name "eod-transactions"',
        'lock.strategy: expected one of "lease"|"table" (got "mutex")',
      ]),
    );
  });

  it('starts with a header naming the file', async () => {
    const input = validConfig();
    input.lock = { atLeastFor: '1h', atMostFor: '1m' };
    const error = await loadError(input);
    expect(lines(error)[0]).toBe(`invalid config ${path.join(dir, 'config.json')}:`);
    expect(lines(error)).toContain('lock.atLeastFor: atLeastFor must not exceed atMostFor (got "1h")');
  });
});

describe('loadConfig: secrets never appear in messages', () => {
  it('does not echo the database URL next to an invalid database key', async () => {
    const input = validConfig();
    input.database = { url: DB_URL, poolSize: 1, pasword: DB_PASSWORD };
    const error = await loadError(input);
    expect(lines(error)).toEqual(
      expect.arrayContaining([
        'database: unknown key "pasword"',
        'database.poolSize: too small: expected number to be >=2 (got 1)',
      ]),
    );
    expect(error.message).not.toContain(DB_PASSWORD);
    expect(error.message).not.toContain('db.internal');
  });

  it('shows <redacted> for an invalid secret value', async () => {
    const input = validConfig();
    input.database = DB_URL;
    input.reports[0].sftp.password = 12345678;
    const error = await loadError(input);
    expect(lines(error)).toEqual(
      expect.arrayContaining([
        'database: expected object, received string (got <redacted>)',
        'reports[0].sftp.password: expected string, received number (got <redacted>)',
      ]),
    );
    for (const secret of [DB_URL, DB_PASSWORD, '12345678']) expect(error.message).not.toContain(secret);
  });

  it('redacts a secret value wherever else it was pasted', async () => {
    const input = validConfig();
    input.reports[0].sftp.directory = SFTP_PASSWORD;
    input.reports[0].deadline = `at ${DB_PASSWORD}`;
    const error = await loadError(input);
    expect(lines(error)).toEqual(
      expect.arrayContaining([
        'reports[0].sftp.directory: expected an absolute remote path (got <redacted>)',
        'reports[0].deadline: expected HH:MM (got <redacted>)',
      ]),
    );
    expect(error.message).not.toContain(SFTP_PASSWORD);
    expect(error.message).not.toContain(DB_PASSWORD);
    expect(JSON.stringify(error.facts)).not.toContain(SFTP_PASSWORD);
  });

  it('does not echo the value of a misspelt password key', async () => {
    const input = validConfig();
    input.reports[0].sftp.passwrd = 'typo-secret-value';
    const error = await loadError(input);
    expect(lines(error)).toContain('reports[0].sftp: unknown key "passwrd"');
    expect(error.message).not.toContain('typo-secret-value');
  });

  it('keeps file content out of JSON syntax errors, which carry line and column', async () => {
    const broken = `{\n  "database": { "url": "${DB_URL}" }\n  "reports": []\n}\n`;
    const error = await loadError(broken, {}, 'config.json');
    const file = path.join(dir, 'config.json');
    expect(lines(error)).toContain(`${file}:3:3: invalid JSON: unexpected '"', expected "," or "}"`);
    expect(error.message).not.toContain(DB_PASSWORD);

    const badToken = await loadError(`{"database": {"url": ${DB_PASSWORD}}}`, {}, 'config.json');
    expect(lines(badToken)).toContain(`${file}:1:22: invalid JSON: unexpected "p", expected a value`);
    expect(badToken.message).not.toContain(DB_PASSWORD);
  });

  it('keeps file content out of YAML syntax errors, which carry line and column', async () => {
    const broken = `database:\n  url: "${DB_URL}\nreports: []\n`;
    const error = await loadError(broken);
    expect(error.message).toMatch(/config\.yaml:\d+:\d+: invalid YAML: /);
    expect(error.message).not.toContain(DB_PASSWORD);
  });

  it('formats zod issues directly, redacting values that are secrets', () => {
    const input = validConfig();
    input.instance = { id: '', extra: 1 };
    input.reports[0].s3.bucket = 7;
    input.reports[0].sftp.host = ['x', SFTP_PASSWORD];
    input.reports[0].sftp.username = `user-${SFTP_PASSWORD}`;
    input.reports[0].sftp.port = SFTP_PASSWORD;
    const result = configSchema.safeParse(input);
    expect(result.success).toBe(false);
    if (result.success) return;
    const text = formatConfigIssues(result.error, input, [SFTP_PASSWORD]);
    expect(text.split('\n').sort()).toEqual([
      'instance.id: too small: expected string to have >=1 characters (got "")',
      'instance: unknown key "extra"',
      'reports[0].s3.bucket: expected string, received number (got 7)',
      // Lists and mappings are never shown, only scalars.
      'reports[0].sftp.host: expected string, received array',
      'reports[0].sftp.port: expected number, received string (got <redacted>)',
    ]);
  });
});

describe('loadConfig: no or unusable file', () => {
  it('asks for --config or EOD_REPORT_CONFIG', async () => {
    await expect(loadConfig({ env: {} })).rejects.toThrow(
      'no config file: pass --config <path> or set EOD_REPORT_CONFIG',
    );
  });

  it('reports a missing file', async () => {
    const missing = path.join(dir, 'nope.yaml');
    await expect(loadConfig({ path: missing, env: {} })).rejects.toThrow(
      `cannot read config file ${missing}: no such file`,
    );
  });

  it('rejects a document that is not a mapping', async () => {
    const error = await loadError('- just\n- a list\n');
    expect(lines(error)).toContain('(top level): expected a mapping of settings, got a list');
  });
});
