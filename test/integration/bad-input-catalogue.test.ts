/**
 * The bad-input catalogue: what a new user gets wrong in the first hour, each run through the real
 * CLI (dist/cli/main.js) as a child process against real servers. Each case asserts the documented
 * exit code (0 ok, 1 failed, 2 usage/config) and the first line the user reads: it must name the
 * key or option, show the value (unless secret) and say what is expected, never a raw driver error.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { type AddressInfo, createServer } from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../src/embedded/free-port.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { createFixture, type Fixture, runCli, TRANSACTIONS_DDL } from '../helpers/fixture.js';

interface Case {
  name: string;
  /** Command line; `cfg` writes a config with the given overrides and returns its path. */
  args: (ctx: Context) => Promise<string[]>;
  env?: (ctx: Context) => NodeJS.ProcessEnv;
  code: number;
  /** The first line of stderr, for `check` the first FAILED line of stdout, for `stdout` the
   * first line of stdout (what `run` prints per report and date; stderr holds the JSON log). */
  first: RegExp;
  from?: 'stderr' | 'check' | 'stdout';
}

interface Context {
  fx: Fixture;
  raw: TestDatabase;
  cfg: (overrides?: Parameters<Fixture['writeConfig']>[0]) => Promise<string>;
  report: (fields: Record<string, unknown>) => Promise<string>;
  sftp: (fields: Record<string, unknown>) => Promise<string>;
  file: (name: string, text: string) => Promise<string>;
  url: (change: (url: URL) => void | Promise<void>) => Promise<string>;
}

const withConfig = (config: string, ...rest: string[]) => ['--config', config, ...rest];
const at = (key: string, problem: string) => new RegExp(`^error: ${key}: ${problem}.* \\(config \\S+\\)$`);

/** Today's date in the fixture report's time zone, shifted by `days`. */
const londonDate = (days = 0) =>
  new Intl.DateTimeFormat('en-CA', { timeZone: 'Europe/London' }).format(
    new Date(Date.now() + days * 86_400_000),
  );
const noAwsCredentials = ({ fx }: Context): NodeJS.ProcessEnv => ({
  ...fx.env,
  AWS_ACCESS_KEY_ID: '',
  AWS_SECRET_ACCESS_KEY: '',
});
/** A port some other program listens on for the rest of the test file. */
async function portInUse(): Promise<number> {
  const blocker = createServer();
  await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
  blocker.unref();
  return (blocker.address() as AddressInfo).port;
}
/** A config whose database.url points at a port nobody listens on. */
const deadDatabaseConfig = async ({ cfg, url }: Context) =>
  cfg({
    top: {
      database: {
        url: await url(async (u) => {
          u.port = String(await freePort());
        }),
      },
    },
  });
const WRONG_HOST_KEY = `SHA256:${'A'.repeat(43)}`;

const CASES: Case[] = [
  // ---- the config file itself
  {
    name: 'no config file given',
    args: async () => ['status'],
    env: ({ fx }) => ({ ...fx.env, EOD_REPORT_CONFIG: '' }),
    code: 2,
    first: /^error: no config file: pass --config <path> or set EOD_REPORT_CONFIG$/,
  },
  {
    name: 'config file that does not exist',
    args: async ({ fx }) => withConfig(path.join(fx.dir, 'nope.yaml'), 'status'),
    code: 2,
    first: /^error: cannot read config file \S+nope\.yaml: no such file$/,
  },
  {
    name: 'config path that is a directory',
    args: async ({ fx }) => withConfig(fx.dir, 'status'),
    code: 2,
    first: /^error: cannot read config file \S+: is a directory$/,
  },
  {
    name: 'YAML syntax error',
    args: async ({ file }) => withConfig(await file('broken.yaml', 'reports: [\n'), 'check'),
    code: 2,
    first: /^error: \S+broken\.yaml:\d+:\d+: invalid YAML: /,
  },
  {
    name: 'JSON syntax error',
    args: async ({ file }) => withConfig(await file('broken.json', '{"reports": [}'), 'check'),
    code: 2,
    first: /^error: \S+broken\.json:1:14: invalid JSON: /,
  },
  {
    name: 'empty config file',
    args: async ({ file }) => withConfig(await file('empty.yaml', ''), 'check'),
    code: 2,
    first: at('\\(top level\\)', 'expected a mapping of settings, got an empty document'),
  },
  {
    name: 'a list instead of a mapping',
    args: async ({ file }) => withConfig(await file('list.yaml', '- a\n- b\n'), 'check'),
    code: 2,
    first: at('\\(top level\\)', 'expected a mapping of settings, got a list'),
  },
  {
    name: 'misspelt top-level key',
    args: async ({ cfg }) => withConfig(await cfg({ top: { lokc: { strategy: 'lease' } } }), 'check'),
    code: 2,
    first: at('\\(top level\\)', 'unknown key "lokc"'),
  },
  {
    name: 'misspelt report key',
    args: async ({ report }) => withConfig(await report({ shedule: '0 0 * * *' }), 'check'),
    code: 2,
    first: at('reports\\[0\\]', 'unknown key "shedule"'),
  },
  {
    name: 'environment variable referenced but not set',
    // biome-ignore lint/suspicious/noTemplateCurlyInString: ${VAR} is config file syntax
    args: async ({ sftp }) => withConfig(await sftp({ username: '${EOD_NOT_SET_ANYWHERE}' }), 'check'),
    code: 2,
    first: at('reports\\[0\\]\\.sftp\\.username', 'environment variable EOD_NOT_SET_ANYWHERE is not set'),
  },
  {
    name: 'no reports',
    args: async ({ cfg }) => withConfig(await cfg({ reports: [] }), 'check'),
    code: 2,
    first: at('reports', 'expected at least one report'),
  },
  // ---- report keys
  {
    name: 'report name with spaces and capitals',
    args: async ({ report }) => withConfig(await report({ name: 'Bad Name' }), 'check'),
    code: 2,
    first: at('reports\\[0\\]\\.name', 'expected 1-48 characters of a-z.*\\(got "Bad Name"\\)'),
  },
  {
    name: 'two reports with one name',
    args: async ({ fx, cfg }) =>
      withConfig(await cfg({ reports: [fx.baseReport(), fx.baseReport()] }), 'check'),
    code: 2,
    first: at('reports\\[1\\]\\.name', 'duplicate report name "eod-tx"'),
  },
  {
    name: 'unknown time zone',
    args: async ({ report }) => withConfig(await report({ timezone: 'Mars/Olympus_Mons' }), 'check'),
    code: 2,
    first: at('reports\\[0\\]\\.timezone', '"Mars/Olympus_Mons" is not an IANA time zone'),
  },
  {
    name: 'time zone as an offset',
    args: async ({ report }) => withConfig(await report({ timezone: 'GMT+25' }), 'check'),
    code: 2,
    first: at('reports\\[0\\]\\.timezone', '"GMT\\+25" is not an IANA time zone'),
  },
  {
    name: 'cron schedule in words',
    args: async ({ report }) => withConfig(await report({ schedule: 'every night' }), 'check'),
    code: 2,
    first: at(
      'reports\\[0\\]\\.schedule',
      '"every night" is not a cron expression: it has 2 fields; expected 5 or 6 fields',
    ),
  },
  {
    name: 'cron schedule with a minute of 61 (names the minute, not the field count)',
    args: async ({ report }) => withConfig(await report({ schedule: '61 * * * *' }), 'check'),
    code: 2,
    first: at(
      'reports\\[0\\]\\.schedule',
      '"61 \\* \\* \\* \\*" is not a cron expression: its minute is out of range',
    ),
  },
  {
    name: 'cron schedule with a 7th field, the year (croner takes it; a run delivered a day of 2020)',
    args: async ({ report }) => withConfig(await report({ schedule: '0 0 0 * * * 2020' }), 'check'),
    code: 2,
    first: at(
      'reports\\[0\\]\\.schedule',
      '"0 0 0 \\* \\* \\* 2020" is not a cron expression: it has 7 fields; expected 5 or 6',
    ),
  },
  {
    name: 'cron schedule that never fires (31 February)',
    args: async ({ report }) => withConfig(await report({ schedule: '0 0 31 2 *' }), 'check'),
    code: 2,
    first: at('reports\\[0\\]\\.schedule', '"0 0 31 2 \\*" is a cron expression that never fires'),
  },
  {
    name: 'cron schedule with a step of 0 says why',
    args: async ({ report }) => withConfig(await report({ schedule: '*/0 * * * *' }), 'check'),
    code: 2,
    first: at(
      'reports\\[0\\]\\.schedule',
      '"\\*/0 \\* \\* \\* \\*" is not a cron expression \\(Syntax error, illegal stepping: 0\\)',
    ),
  },
  {
    name: 'cron schedule with an hour of 25',
    args: async ({ report }) => withConfig(await report({ schedule: '0 25 * * *' }), 'check'),
    code: 2,
    first: at(
      'reports\\[0\\]\\.schedule',
      '"0 25 \\* \\* \\*" is not a cron expression: its hour is out of range',
    ),
  },
  {
    name: 'catchUpDays negative',
    args: async ({ report }) => withConfig(await report({ catchUpDays: -1 }), 'check'),
    code: 2,
    first: at('reports\\[0\\]\\.catchUpDays', 'too small: expected number to be >=0 \\(got -1\\)'),
  },
  {
    name: 'catchUpDays in words',
    args: async ({ report }) => withConfig(await report({ catchUpDays: 'three' }), 'check'),
    code: 2,
    first: at('reports\\[0\\]\\.catchUpDays', 'expected number, received string \\(got "three"\\)'),
  },
  {
    name: 'startDate not in the calendar',
    args: async ({ report }) => withConfig(await report({ startDate: '2026-02-30' }), 'check'),
    code: 2,
    first: at('reports\\[0\\]\\.startDate', '"2026-02-30" is not a calendar date'),
  },
  {
    name: 'startDate in words',
    args: async ({ report }) => withConfig(await report({ startDate: 'yesterday' }), 'check'),
    code: 2,
    first: at('reports\\[0\\]\\.startDate', 'expected a date as YYYY-MM-DD \\(got "yesterday"\\)'),
  },
  {
    name: 'deadline past midnight',
    args: async ({ report }) => withConfig(await report({ deadline: '25:00' }), 'check'),
    code: 2,
    first: at('reports\\[0\\]\\.deadline', 'expected HH:MM \\(got "25:00"\\)'),
  },
  {
    name: 'duration in words',
    args: async ({ report }) => withConfig(await report({ slowStepAfter: '15 minutes' }), 'check'),
    code: 2,
    first: at(
      'reports\\[0\\]\\.slowStepAfter',
      '"15 minutes" is not a duration; expected a number followed by ms, s, m, h or d',
    ),
  },
  {
    name: 'file name template with a directory',
    args: async ({ report }) => withConfig(await report({ fileName: '{yyyy}/eod.csv' }), 'check'),
    code: 2,
    first: at(
      'reports\\[0\\]\\.fileName',
      '"\\{yyyy\\}/eod\\.csv" renders as "2026/eod\\.csv": must not contain "/"',
    ),
  },
  {
    name: 'file name template with an unknown placeholder',
    args: async ({ report }) => withConfig(await report({ fileName: 'eod_{yy}{MM}.csv' }), 'check'),
    code: 2,
    first: at(
      'reports\\[0\\]\\.fileName',
      '"eod_\\{yy\\}\\{MM\\}\\.csv" has an unknown placeholder \\{yy\\}; allowed: \\{yyyy\\} \\{MM\\} \\{dd\\} \\{report\\}',
    ),
  },
  {
    name: 'S3 prefix with ..',
    args: async ({ fx, report }) =>
      withConfig(await report({ s3: { ...(fx.baseReport().s3 as object), prefix: 'eod/../x/' } }), 'check'),
    code: 2,
    first: at(
      'reports\\[0\\]\\.s3\\.prefix',
      '"eod/\\.\\./x/" renders as "eod/\\.\\./x/": must not contain empty, "\\." or "\\.\\." segments',
    ),
  },
  // ---- lock, retry, monitoring, log
  {
    name: 'lock duration in words',
    args: async ({ cfg }) => withConfig(await cfg({ top: { lock: { atMostFor: '30 minutes' } } }), 'check'),
    code: 2,
    first: at('lock\\.atMostFor', '"30 minutes" is not a duration'),
  },
  {
    name: 'lock atLeastFor longer than atMostFor',
    args: async ({ cfg }) =>
      withConfig(await cfg({ top: { lock: { atMostFor: '2m', atLeastFor: '1h' } } }), 'check'),
    code: 2,
    first: at('lock\\.atLeastFor', 'atLeastFor must not exceed atMostFor'),
  },
  {
    name: 'unknown lock strategy',
    args: async ({ cfg }) => withConfig(await cfg({ top: { lock: { strategy: 'mutex' } } }), 'check'),
    code: 2,
    first: at('lock\\.strategy', 'expected one of "lease"\\|"table" \\(got "mutex"\\)'),
  },
  {
    name: 'zero retry attempts',
    args: async ({ cfg }) => withConfig(await cfg({ top: { retry: { attempts: 0 } } }), 'check'),
    code: 2,
    first: at('retry\\.attempts', 'too small: expected number to be >=1 \\(got 0\\)'),
  },
  {
    name: 'monitoring port out of range',
    args: async ({ cfg }) => withConfig(await cfg({ top: { monitoring: { port: 99999 } } }), 'check'),
    code: 2,
    first: at('monitoring\\.port', 'too big: expected number to be <=65535 \\(got 99999\\)'),
  },
  {
    name: 'webhook that is not a URL (a secret: value not shown)',
    args: async ({ cfg }) =>
      withConfig(await cfg({ top: { monitoring: { alertWebhookUrl: 'slack-hook-xyz' } } }), 'check'),
    code: 2,
    first: at(
      'monitoring\\.alertWebhookUrl',
      'expected an http:// or https:// URL such as https://hooks\\.slack\\.com/services/… \\(got <redacted>\\)',
    ),
  },
  {
    name: 'unknown log level',
    args: async ({ cfg }) => withConfig(await cfg({ top: { log: { level: 'verbose' } } }), 'check'),
    code: 2,
    first: at('log\\.level', 'expected one of .*"info".* \\(got "verbose"\\)'),
  },
  // ---- SFTP and S3 keys
  {
    name: 'SFTP port out of range',
    args: async ({ sftp }) => withConfig(await sftp({ port: 70000 }), 'check'),
    code: 2,
    first: at('reports\\[0\\]\\.sftp\\.port', 'too big: expected number to be <=65535 \\(got 70000\\)'),
  },
  {
    name: 'host key fingerprint in the wrong form',
    args: async ({ sftp }) => withConfig(await sftp({ hostKeySha256: 'ab:cd:ef' }), 'check'),
    code: 2,
    first: at(
      'reports\\[0\\]\\.sftp\\.hostKeySha256',
      'expected a fingerprint as `ssh-keygen -lf` prints it.*\\(got "ab:cd:ef"\\)',
    ),
  },
  {
    name: 'no host key pinned',
    args: async ({ sftp }) => withConfig(await sftp({ hostKeySha256: undefined }), 'check'),
    code: 2,
    first: at(
      'reports\\[0\\]\\.sftp\\.hostKeySha256',
      'host key pinning is mandatory: set hostKeySha256 or knownHostsFile',
    ),
  },
  {
    name: 'relative remote directory',
    args: async ({ sftp }) => withConfig(await sftp({ directory: 'inbox' }), 'check'),
    code: 2,
    first: at('reports\\[0\\]\\.sftp\\.directory', 'expected an absolute remote path \\(got "inbox"\\)'),
  },
  {
    name: 'file mode as an unquoted YAML number',
    args: async ({ sftp }) => withConfig(await sftp({ fileMode: 640 }), 'check'),
    code: 2,
    first: at(
      'reports\\[0\\]\\.sftp\\.fileMode',
      'expected an octal mode as a quoted string, e.g. "0640", or null \\(got 640\\)',
    ),
  },
  {
    name: 'password file that does not exist',
    args: async ({ sftp }) =>
      withConfig(await sftp({ privateKeyFile: undefined, passwordFile: 'no-such-secret' }), 'check'),
    code: 2,
    first: at('reports\\[0\\]\\.sftp\\.passwordFile', 'cannot read \\S+no-such-secret: no such file'),
  },
  {
    name: 'S3 endpoint that is not a URL',
    args: async ({ fx, report }) =>
      withConfig(
        await report({ s3: { ...(fx.baseReport().s3 as object), endpoint: 'localhost:9000' } }),
        'check',
      ),
    code: 2,
    first: at(
      'reports\\[0\\]\\.s3\\.endpoint',
      'expected an http:// or https:// URL such as http://127\\.0\\.0\\.1:9000 \\(got "localhost:9000"\\)',
    ),
  },
  {
    name: 'bucket name too short',
    args: async ({ fx, report }) =>
      withConfig(await report({ s3: { ...(fx.baseReport().s3 as object), bucket: 'ab' } }), 'check'),
    code: 2,
    first: at(
      'reports\\[0\\]\\.s3\\.bucket',
      'too small: expected string to have >=3 characters \\(got "ab"\\)',
    ),
  },
  // ---- database URL (a secret: the value is never shown)
  {
    name: 'database URL without a scheme (node-postgres would silently use localhost:5432)',
    args: async ({ cfg }) =>
      withConfig(await cfg({ top: { database: { url: 'dbhost:6543/ledger' } } }), 'status'),
    code: 2,
    first: at(
      'database\\.url',
      'expected a URL such as postgres://user:password@host:5432/database; this one does not start with postgres://',
    ),
  },
  {
    name: 'database URL with a bad port (node-postgres: "Invalid URL")',
    args: async ({ cfg }) =>
      withConfig(
        await cfg({ top: { database: { url: 'postgres://u:secret@dbhost:54x2/ledger' } } }),
        'status',
      ),
    code: 2,
    first: at('database\\.url', 'port "54x2" is not a number from 1 to 65535'),
  },
  {
    name: 'database URL with another scheme',
    args: async ({ cfg }) =>
      withConfig(await cfg({ top: { database: { url: 'mysql://u:secret@dbhost/ledger' } } }), 'status'),
    code: 2,
    first: at('database\\.url', 'scheme "mysql://" is not PostgreSQL\'s'),
  },
  {
    name: 'database URL with an unknown sslmode',
    args: async ({ cfg }) =>
      withConfig(
        await cfg({ top: { database: { url: 'postgres://u:secret@dbhost/ledger?sslmode=on' } } }),
        'status',
      ),
    code: 2,
    first: at('database\\.url', 'sslmode "on" is not one of disable, prefer, require'),
  },
  {
    name: 'no database URL anywhere',
    args: async ({ cfg }) => withConfig(await cfg(), 'status'),
    env: ({ fx }) => ({ ...fx.env, DATABASE_URL: '' }),
    code: 2,
    first: at('database\\.url', 'not set; set database\\.url, database\\.urlFile or DATABASE_URL'),
  },
  {
    name: 'EOD_LOG_LEVEL that is not a level',
    args: async ({ cfg }) => withConfig(await cfg(), 'run', '--date', '2024-01-02'),
    env: ({ fx }) => ({ ...fx.env, EOD_LOG_LEVEL: 'verbose' }),
    code: 2,
    first:
      /^error: EOD_LOG_LEVEL: "verbose" is not a log level; expected one of trace, debug, info, warn, error, fatal \(or unset it to use log\.level\)$/,
  },
  {
    name: 'EOD_ONE_PASS that is neither on nor off',
    args: async ({ cfg }) => withConfig(await cfg(), 'run', '--date', '2024-01-02'),
    env: ({ fx }) => ({ ...fx.env, EOD_ONE_PASS: 'maybe' }),
    code: 2,
    first: /^error: EOD_ONE_PASS: "maybe" is not on or off \(or unset it: one pass\)$/,
  },
  {
    name: 'check refuses the EOD_ONE_PASS that run would refuse',
    args: async ({ cfg }) => withConfig(await cfg(), 'check'),
    env: ({ fx }) => ({ ...fx.env, EOD_ONE_PASS: 'maybe' }),
    code: 2,
    first: /^error: EOD_ONE_PASS: "maybe" is not on or off \(or unset it: one pass\)$/,
  },
  {
    name: 'check refuses the EOD_LOG_LEVEL that run would refuse',
    args: async ({ cfg }) => withConfig(await cfg(), 'check'),
    env: ({ fx }) => ({ ...fx.env, EOD_LOG_LEVEL: 'verbose' }),
    code: 2,
    first: /^error: EOD_LOG_LEVEL: "verbose" is not a log level/,
  },
  // ---- command-line options
  {
    name: 'status --limit lots',
    args: async ({ cfg }) => withConfig(await cfg(), 'status', '--limit', 'lots'),
    code: 2,
    first: /^error: --limit: "lots" is not a whole number from 1 to 1000$/,
  },
  {
    name: 'status --limit 0',
    args: async ({ cfg }) => withConfig(await cfg(), 'status', '--limit', '0'),
    code: 2,
    first: /^error: --limit: "0" is not a whole number from 1 to 1000$/,
  },
  {
    name: 'status --limit 2.5',
    args: async ({ cfg }) => withConfig(await cfg(), 'status', '-n', '2.5'),
    code: 2,
    first: /^error: --limit: "2\.5" is not a whole number from 1 to 1000$/,
  },
  {
    name: 'run --date not in the calendar',
    args: async ({ cfg }) => withConfig(await cfg(), 'run', '--date', '2026-02-30'),
    code: 2,
    first: /^error: --date: "2026-02-30" is not a calendar date; expected YYYY-MM-DD \(e\.g\. 2026-02-28\)$/,
  },
  {
    name: 'run --date in words',
    args: async ({ cfg }) => withConfig(await cfg(), 'run', '--date', 'yesterday'),
    code: 2,
    first: /^error: --date: "yesterday" is not a calendar date; expected YYYY-MM-DD/,
  },
  {
    name: 'status --date month 13',
    args: async ({ cfg }) => withConfig(await cfg(), 'status', '--date', '2026-13-01'),
    code: 2,
    first: /^error: --date: "2026-13-01" is not a calendar date; expected YYYY-MM-DD/,
  },
  {
    name: 'run --report that is not configured',
    args: async ({ cfg }) => withConfig(await cfg(), 'run', '--report', 'nope', '--date', '2026-01-05'),
    code: 2,
    first: /^error: --report: unknown report "nope"; configured: eod-tx$/,
  },
  {
    name: 'run --report given twice (the first was silently ignored)',
    args: async ({ cfg }) => withConfig(await cfg(), 'run', '--report', 'nope', '--report', 'eod-tx'),
    code: 2,
    first: /^error: --report: given twice \("nope", then "eod-tx"\); give it once$/,
  },
  {
    name: 'run --date given twice',
    args: async ({ cfg }) => withConfig(await cfg(), 'run', '-d', '2026-01-01', '--date', '2026-01-02'),
    code: 2,
    first: /^error: --date: given twice \("2026-01-01", then "2026-01-02"\); give it once$/,
  },
  {
    name: 'verify --since in words',
    args: async ({ cfg }) => withConfig(await cfg(), 'verify', '--since', 'last-week'),
    code: 2,
    first: /^error: --since: "last-week" is not a calendar date; expected YYYY-MM-DD/,
  },
  {
    name: 'verify with neither --date nor --since',
    args: async ({ cfg }) => withConfig(await cfg(), 'verify'),
    code: 2,
    first: /^error: verify needs exactly one of --date YYYY-MM-DD or --since YYYY-MM-DD \(got neither\)$/,
  },
  {
    name: 'resolve --report given twice (would settle the wrong report)',
    args: async ({ cfg }) =>
      withConfig(
        await cfg(),
        'resolve',
        '-r',
        'eod-other',
        '-r',
        'eod-tx',
        '--date',
        '2026-01-05',
        '--submitted',
        '--reason',
        'x',
      ),
    code: 2,
    first: /^error: --report: given twice \("eod-other", then "eod-tx"\); give it once$/,
  },
  {
    name: 'resolve --date not in the calendar',
    args: async ({ cfg }) =>
      withConfig(await cfg(), 'resolve', '-r', 'eod-tx', '-d', '2026-04-31', '--submitted', '--reason', 'x'),
    code: 2,
    first: /^error: --date: "2026-04-31" is not a calendar date; expected YYYY-MM-DD/,
  },
  {
    name: 'demo --rows in words',
    args: async () => ['demo', '--rows', 'many'],
    code: 2,
    first: /^error: --rows: "many" is not a whole number from 0 to 10000000$/,
  },
  {
    name: 'unknown option',
    args: async ({ cfg }) => withConfig(await cfg(), 'run', '--dry-run'),
    code: 2,
    first: /^error: unknown option '--dry-run'$/,
  },
  {
    name: 'unknown command',
    args: async ({ cfg }) => withConfig(await cfg(), 'rn'),
    code: 2,
    first: /^error: unknown command 'rn'$/,
  },
  {
    name: 'a date given as an argument instead of --date',
    args: async ({ cfg }) => withConfig(await cfg(), 'run', '2026-01-05'),
    code: 2,
    first: /^error: too many arguments for 'run'\. Expected 0 arguments but got 1\.$/,
  },
  {
    name: '--config without its path',
    args: async () => ['status', '--config'],
    code: 2,
    first: /^error: option '-c, --config <path>' argument missing$/,
  },
  // ---- servers that are not there, or not ready
  {
    name: 'run against a database port nobody listens on',
    args: async (tools) => withConfig(await deadDatabaseConfig(tools), 'run', '--date', '2026-01-05'),
    code: 1,
    first:
      /^error: database: cannot connect to 127\.0\.0\.1:\d+ \(ECONNREFUSED\): connection refused; is PostgreSQL running .*database\.url/,
  },
  ...(['status', 'migrate'] as const).map(
    (command): Case => ({
      name: `${command} against a database port nobody listens on`,
      args: async (tools) => withConfig(await deadDatabaseConfig(tools), command),
      code: 1,
      first: /^error: database: cannot connect to 127\.0\.0\.1:\d+ \(ECONNREFUSED\)/,
    }),
  ),
  {
    name: 'check against a database port nobody listens on',
    args: async (tools) => withConfig(await deadDatabaseConfig(tools), 'check'),
    code: 1,
    from: 'check',
    first: /^FAILED database: cannot connect to 127\.0\.0\.1:\d+ \(ECONNREFUSED\)/,
  },
  {
    name: 'wrong database password',
    args: async ({ cfg, url }) =>
      withConfig(
        await cfg({
          top: {
            database: {
              url: await url((u) => {
                u.password = 'wrong-password';
              }),
            },
          },
        }),
        'status',
      ),
    code: 2,
    first:
      /^error: database: password authentication failed for user "\w+"; check the user and password in database\.url/,
  },
  {
    name: 'database name that does not exist',
    args: async ({ cfg, url }) =>
      withConfig(
        await cfg({
          top: {
            database: {
              url: await url((u) => {
                u.pathname = '/no_such_db';
              }),
            },
          },
        }),
        'status',
      ),
    code: 2,
    first: /^error: database: database "no_such_db" does not exist; check the database name in database\.url/,
  },
  {
    name: 'TLS required by the URL, not offered by the server',
    args: async ({ cfg, url }) =>
      withConfig(
        await cfg({
          top: {
            database: {
              url: await url((u) => {
                u.searchParams.set('sslmode', 'verify-full');
              }),
            },
          },
        }),
        'status',
      ),
    code: 2,
    first: /^error: database: the server does not support TLS but database\.url .* asks for it \(sslmode\)/,
  },
  {
    name: 'status before migrate (relation does not exist)',
    args: async ({ cfg, raw }) => withConfig(await cfg({ top: { database: { url: raw.url } } }), 'status'),
    code: 2,
    first: /^error: database schema is at migration 0, this eod-report needs \d+: run `eod-report migrate`$/,
  },
  {
    name: 'run before migrate',
    args: async ({ cfg, raw }) =>
      withConfig(await cfg({ top: { database: { url: raw.url } } }), 'run', '--date', '2026-01-05'),
    code: 2,
    first: /^error: database schema is at migration 0, this eod-report needs \d+: run `eod-report migrate`$/,
  },
  {
    name: 'verify before migrate',
    args: async ({ cfg, raw }) =>
      withConfig(await cfg({ top: { database: { url: raw.url } } }), 'verify', '--date', '2026-01-05'),
    code: 2,
    first:
      /^error: database: relation "\w+" does not exist: the eod-report tables are not there; run `eod-report migrate` first/,
  },
  {
    name: 'check: SFTP port nobody listens on',
    args: async ({ sftp }) => withConfig(await sftp({ port: await freePort() }), 'check'),
    code: 1,
    from: 'check',
    first: /^FAILED sftp eod-tx: SFTP connection to \S+@127\.0\.0\.1:\d+ failed: connect ECONNREFUSED/,
  },
  {
    name: 'check: S3 endpoint nobody listens on',
    args: async ({ fx, report }) =>
      withConfig(
        await report({
          s3: { ...(fx.baseReport().s3 as object), endpoint: `http://127.0.0.1:${await freePort()}` },
        }),
        'check',
      ),
    code: 1,
    from: 'check',
    first: /^FAILED s3 eod-tx: s3 bucket "[\w-]+" at http:\/\/127\.0\.0\.1:\d+: connect ECONNREFUSED/,
  },
  {
    name: 'check: private key file that does not exist',
    args: async ({ sftp }) => withConfig(await sftp({ privateKeyFile: 'no-such-key' }), 'check'),
    code: 1,
    from: 'check',
    first:
      /^FAILED sftp eod-tx: SFTP private key file \S+no-such-key \(sftp\.privateKeyFile\) for \S+ cannot be read \(no such file\)/,
  },
  {
    name: 'check: private key file that is not a key',
    args: async ({ sftp, file }) =>
      withConfig(await sftp({ privateKeyFile: await file('not-a-key', 'hello\n') }), 'check'),
    code: 1,
    from: 'check',
    first:
      /^FAILED sftp eod-tx: SFTP private key \S+not-a-key \(sftp\.privateKeyFile\) for \S+ cannot be used: /,
  },
  // ---- found by an operator's first hour (breaker)
  {
    name: 'run --date today (not ended yet)',
    args: async ({ cfg }) => withConfig(await cfg(), 'run', '--date', londonDate()),
    code: 2,
    first:
      /^error: --date \S+: report eod-tx's day \S+ has not ended yet in Europe\/London: it ends at local midnight, \S+; database time is \S+\. Only finished days are run; nothing was recorded$/,
  },
  {
    name: 'run --date tomorrow (not ended yet)',
    args: async ({ cfg }) => withConfig(await cfg(), 'run', '--date', londonDate(1)),
    code: 2,
    first: /^error: --date \S+: report eod-tx's day \S+ has not ended yet in Europe\/London/,
  },
  {
    name: 'run: SFTP server offers another host key than the pinned one',
    args: async ({ sftp }) =>
      withConfig(await sftp({ hostKeySha256: WRONG_HOST_KEY }), 'run', '--date', '2026-02-02'),
    code: 1,
    from: 'stdout',
    first:
      /^eod-tx 2026-02-02: submit failed \(process \d+\): SFTP host key of 127\.0\.0\.1:\d+ is not pinned: server offered SHA256:\S+ \(\S+\), expected SHA256:A{43} \(reports\[\]\.sftp\.hostKeySha256\)$/,
  },
  {
    name: 'check: SFTP server offers another host key than the pinned one',
    args: async ({ sftp }) => withConfig(await sftp({ hostKeySha256: WRONG_HOST_KEY }), 'check'),
    code: 1,
    from: 'check',
    first:
      /^FAILED sftp eod-tx: SFTP host key of 127\.0\.0\.1:\d+ is not pinned: server offered SHA256:\S+ \(\S+\), expected SHA256:A{43} \(reports\[\]\.sftp\.hostKeySha256\)$/,
  },
  {
    name: 'run: wrong SFTP password (a literal containing "secret@", never printed)',
    args: async ({ sftp }) =>
      withConfig(
        await sftp({ privateKeyFile: undefined, password: 'not-a-secret@regulator' }),
        'run',
        '--date',
        '2026-02-03',
      ),
    code: 1,
    from: 'stdout',
    first:
      /^eod-tx 2026-02-03: submit failed \(process \d+\): SFTP authentication failed for \S+@127\.0\.0\.1:\d+ \(tried: password/,
  },
  {
    name: 'check: no S3 credentials anywhere',
    args: async ({ cfg }) => withConfig(await cfg(), 'check'),
    env: noAwsCredentials,
    code: 1,
    from: 'check',
    first:
      /^FAILED s3 eod-tx: s3 bucket "[\w-]+" at http:\/\/127\.0\.0\.1:\d+: no AWS credentials found \(set AWS_ACCESS_KEY_ID\/AWS_SECRET_ACCESS_KEY, AWS_PROFILE, or use an instance role\)/,
  },
  {
    name: 'run: no S3 credentials anywhere (the archive step fails naming them)',
    args: async ({ cfg }) => withConfig(await cfg(), 'run', '--date', '2026-02-04'),
    env: noAwsCredentials,
    code: 1,
    from: 'stdout',
    first:
      /^eod-tx 2026-02-04: archive failed \(process \d+\): archiving to s3:\/\/\S+ failed \(\w+\): CredentialsProviderError: no AWS credentials found \(set AWS_ACCESS_KEY_ID\/AWS_SECRET_ACCESS_KEY/,
  },
  {
    name: 'check: S3 bucket that does not exist',
    args: async ({ fx, report }) =>
      withConfig(
        await report({ s3: { ...(fx.baseReport().s3 as object), bucket: 'no-such-bucket-here' } }),
        'check',
      ),
    code: 1,
    from: 'check',
    first:
      /^FAILED s3 eod-tx: s3 bucket "no-such-bucket-here" at \S+: bucket "no-such-bucket-here" does not exist/,
  },
  {
    name: 'serve: monitoring.port already in use by another program',
    args: async ({ cfg }) =>
      withConfig(await cfg({ top: { monitoring: { port: await portInUse() } } }), 'serve'),
    code: 2,
    first:
      /^error: monitoring\.port: 127\.0\.0\.1:\d+ is already in use \(EADDRINUSE\); expected a free port: give each eod-report serve on this host its own monitoring\.port \(0 takes any free port\)$/,
  },
  {
    name: 'serve: monitoring.host that is not an address of this host',
    args: async ({ cfg }) =>
      withConfig(await cfg({ top: { monitoring: { host: '192.0.2.1', port: 0 } } }), 'serve'),
    code: 2,
    first:
      /^error: monitoring\.host: "192\.0\.2\.1" is not an address of this host \(EADDRNOTAVAIL\); expected 127\.0\.0\.1, 0\.0\.0\.0 or an address of one of its interfaces$/,
  },
  {
    name: 'resolve with both --submitted and --not-submitted',
    args: async ({ cfg }) =>
      withConfig(
        await cfg(),
        'resolve',
        ...['--report', 'eod-tx', '--date', '2026-02-05', '--submitted', '--not-submitted', '--reason', 'x'],
      ),
    code: 2,
    first: /^error: give exactly one of --submitted or --not-submitted$/,
  },
  {
    name: 'resolve without --reason',
    args: async ({ cfg }) =>
      withConfig(await cfg(), 'resolve', '--report', 'eod-tx', '--date', '2026-02-05', '--submitted'),
    code: 2,
    first: /^error: required option '--reason <text>' not specified$/,
  },
  {
    name: 'resolve a date that has no process (a mistyped --date)',
    args: async ({ cfg }) =>
      withConfig(
        await cfg(),
        'resolve',
        ...['--report', 'eod-tx', '--date', '2026-02-06', '--submitted', '--reason', 'regulator said so'],
      ),
    code: 2,
    first: /^error: eod-tx 2026-02-06: no process recorded; nothing to resolve$/,
  },
];

describe('bad-input catalogue: the real CLI, exit code and first line', () => {
  let ctx: Context;
  beforeAll(async () => {
    const fx = await createFixture('catalogue');
    await fx.pool.query(TRANSACTIONS_DDL);
    const raw = await createTestDatabase('catalogue_unmigrated');
    const dir = path.join(fx.dir, 'files');
    await mkdir(dir);
    const cfg: Context['cfg'] = (overrides) => fx.writeConfig(overrides);
    ctx = {
      fx,
      raw,
      cfg,
      report: (fields) => cfg({ report: fields }),
      sftp: (fields) => cfg({ report: { sftp: { ...(fx.baseReport().sftp as object), ...fields } } }),
      file: async (name, text) => {
        const file = path.join(dir, name);
        await writeFile(file, text);
        return file;
      },
      url: async (change) => {
        const url = new URL(fx.db.url);
        await change(url);
        return url.toString();
      },
    };
  });
  afterAll(async () => {
    await ctx?.raw.drop();
    await ctx?.fx.close();
  });

  it('has at least 40 cases', () => {
    expect(CASES.length).toBeGreaterThanOrEqual(40);
  });

  for (const c of CASES) {
    it(`${c.name}: exit ${c.code}`, async () => {
      const args = await c.args(ctx);
      const env = c.env?.(ctx) ?? ctx.fx.env;
      const result = await runCli(args, env, { timeoutMs: 30_000 });
      const output = `stdout:\n${result.stdout}\nstderr:\n${result.stderr}`;
      expect(result.code, output).toBe(c.code);
      const first =
        c.from === 'check'
          ? result.stdout.split('\n').find((line) => line.startsWith('FAILED'))
          : (c.from === 'stdout' ? result.stdout : result.stderr).split('\n')[0];
      expect(first, output).toMatch(c.first);
      // Never the database URL or a password written in one.
      expect(result.stdout + result.stderr).not.toContain(ctx.fx.db.url);
      expect(result.stdout + result.stderr).not.toContain(`:${new URL(ctx.fx.db.url).password}@`);
      expect(result.stdout + result.stderr).not.toContain('secret@');
    });
  }
});
