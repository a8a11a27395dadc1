/**
 * The configuration contract (PRODUCT.md §5). Every option is documented here, where it is
 * declared, with its default; the README's reference table is generated from these
 * descriptions (`npm run config:reference`) and a test fails when the two drift.
 */
import { Cron } from 'croner';
import { z } from 'zod';
import { parseDuration } from '../core/duration.js';
import { isCalendarDate } from '../core/report-date.js';
import { scanSql } from '../core/sql-scan.js';
import { templateProblems } from '../core/templates.js';
import { databaseUrlProblem } from './database-url.js';

/** pino's levels, lowest first: `log.level` and EOD_LOG_LEVEL take one of them. */
export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** Refinements below run even when a sibling field failed, so one pass reports every problem. */
const whenObject = ({ value }: { value: unknown }) => typeof value === 'object' && value !== null;

// `x-type` lets the generated reference (reference.ts) say "duration", "cron"… where JSON Schema
// can only say "string".
const duration = (description: string) =>
  z
    .string()
    .meta({ description, 'x-type': 'duration' })
    .transform((text, ctx) => {
      const ms = parseDuration(text);
      if (ms === undefined) {
        ctx.addIssue({
          code: 'custom',
          message: `"${text}" is not a duration; expected a number followed by ms, s, m, h or d (e.g. 30s, 30m, 2h)`,
        });
        return z.NEVER;
      }
      return ms;
    });

/** zod's url() alone takes "localhost:9000" for a URL with the scheme "localhost:". */
const httpUrl = (example: string) =>
  z.url({ protocol: /^https?$/, error: `expected an http:// or https:// URL such as ${example}` });

const isoDate = z
  .string()
  // abort: a malformed string is not worth a second, confusing "not a calendar date" issue.
  .regex(/^\d{4}-\d{2}-\d{2}$/, { message: 'expected a date as YYYY-MM-DD', abort: true })
  .refine(isCalendarDate, 'is not a calendar date')
  .meta({ 'x-type': 'date (YYYY-MM-DD)' });

const timeZone = z
  .string()
  .refine((zone) => {
    try {
      new Intl.DateTimeFormat('en-US', { timeZone: zone });
      return true;
    } catch {
      return false;
    }
  }, 'is not an IANA time zone known to this Node.js (e.g. Europe/London)')
  .meta({ 'x-type': 'time zone' });

const CRON_FIELDS = 'expected 5 or 6 fields, e.g. "0 0 * * *" or "*/5 * * * * *"';

const cronExpression = z
  .string()
  .superRefine((expr, ctx) => {
    const fail = (message: string) => ctx.addIssue({ code: 'custom', message });
    // croner also takes a 7th field, the year: "0 0 0 * * * 2020" passed and `run` then delivered
    // a day of 2020. A report's schedule is daily business, not a calendar of years.
    const fields = expr.trim().split(/\s+/).length;
    if (fields !== 5 && fields !== 6)
      return fail(`is not a cron expression: it has ${fields} fields; ${CRON_FIELDS}`);
    let cron: Cron;
    try {
      cron = new Cron(expr, { paused: true });
    } catch (error) {
      const reason = (error as Error).message.replace(/^CronPattern: /, '');
      // croner names the field that is out of range ("Invalid value for minute: 61"); its value
      // there is not always the one written (32 days reads "day: 31"), so only the field is named.
      const field = /^Invalid value for (\w+)/.exec(reason)?.[1];
      return fail(
        field
          ? `is not a cron expression: its ${field} is out of range; ${CRON_FIELDS}`
          : `is not a cron expression (${reason}); ${CRON_FIELDS}`,
      );
    }
    // "0 0 31 2 *" parses but never comes: `run` would fall back to yesterday on every start.
    if (cron.nextRun() === null)
      fail('is a cron expression that never fires (no such date ahead, e.g. 31 February)');
  })
  .meta({ 'x-type': 'cron' });

/** Report names become lock names (shedlock.name is VARCHAR(64)) and template values. */
const reportName = z
  .string()
  .regex(
    /^[a-z0-9][a-z0-9._-]{0,47}$/,
    'expected 1-48 characters of a-z, 0-9, ".", "_" or "-", starting with a letter or digit',
  );

const sftp = z
  .strictObject({
    host: z.string().min(1).describe('SFTP server host name or address.'),
    port: z.number().int().min(1).max(65535).default(22).describe('SFTP server port.'),
    username: z.string().min(1).describe('SSH user name.'),
    privateKeyFile: z
      .string()
      .min(1)
      .optional()
      .describe('Path of the SSH private key (OpenSSH format), relative to the config file.'),
    passphrase: z
      .string()
      .optional()
      // biome-ignore lint/suspicious/noTemplateCurlyInString: ${ENV_VAR} is config file syntax, not a template.
      .describe('Passphrase of the private key; use ${ENV_VAR} or passphraseFile.'),
    passphraseFile: z
      .string()
      .optional()
      .describe('File holding the private key passphrase (relative to the config file).'),
    password: z
      .string()
      .optional()
      // biome-ignore lint/suspicious/noTemplateCurlyInString: ${ENV_VAR} is config file syntax, not a template.
      .describe('SSH password; use ${ENV_VAR} or passwordFile, never a literal.'),
    passwordFile: z
      .string()
      .optional()
      .describe('File holding the SSH password (relative to the config file).'),
    hostKeySha256: z
      .string()
      .regex(
        /^SHA256:[A-Za-z0-9+/]{43}=?$/,
        'expected a fingerprint as `ssh-keygen -lf` prints it, e.g. SHA256:abc…',
      )
      .optional()
      .describe('Pinned host key fingerprint, as printed by `ssh-keygen -lf`.'),
    knownHostsFile: z
      .string()
      .optional()
      .describe(
        'known_hosts file holding the pinned host key (alternative to hostKeySha256), relative to the config file.',
      ),
    directory: z
      .string()
      .startsWith('/', 'expected an absolute remote path')
      .describe('Remote directory the file is delivered to.'),
    fileMode: z
      // YAML reads an unquoted 0640 as the decimal number 640, so say how to write it.
      .string({ error: 'expected an octal mode as a quoted string, e.g. "0640", or null' })
      .regex(/^0?[0-7]{3}$/, 'expected an octal mode such as 0640')
      .nullable()
      .default('0640')
      .transform((mode) => (mode === null ? null : Number.parseInt(mode, 8)))
      .meta({ 'x-type': 'octal string \\| null' })
      .describe(
        "Mode set on the delivered file (SETSTAT). null: no SETSTAT at all, the file gets the server's default mode (for servers that refuse or lack chmod).",
      ),
    tempDirectory: z
      .string()
      .startsWith('/', 'expected an absolute remote path')
      .optional()
      .describe(
        'Remote directory for the temporary file, then renamed into `directory` (same file system). For inboxes that collect every closed file; default: `directory`.',
      ),
    atomicity: z
      .enum(['rename', 'direct'])
      .default('rename')
      .describe(
        '`rename`: upload to a temporary name, verify, rename. `direct`: write the final name only, for servers that forbid rename; a failed or interrupted upload leaves a partial file under the final name.',
      ),
    verify: z
      .enum(['readback', 'stat', 'none'])
      .default('readback')
      .describe(
        'How a file on the server is checked: a fresh upload by STAT of its size after close and the bytes the server acknowledged (sha256 of what was sent, in the proof); a file already under the final name (a resumed run) `readback` reads back and compares sha256, `stat` by size only; `none` trusts the bytes the server acknowledged (upload-only inboxes). A full re-read of any day: `eod-report verify`.',
      ),
    maxInFlight: z
      .number()
      .int()
      .min(1)
      .max(256)
      .optional()
      .describe(
        "SFTP write requests awaiting the server's answer at once; default: automatic (about 2 MiB in flight). 1 writes strictly in order.",
      ),
    writeSize: z
      .number()
      .int()
      .min(1024)
      .max(261_120)
      .optional()
      .describe(
        'Bytes per SFTP write request; default: what the server announces (limits@openssh.com), else 261120 and 32 KiB if the server refuses that. Set 32768 for a server that drops the connection on larger requests.',
      ),
    algorithms: z
      .strictObject({
        kex: z
          .array(z.string().min(1))
          .min(1)
          .optional()
          .describe('Key exchange algorithms, in order of preference.'),
        cipher: z.array(z.string().min(1)).min(1).optional().describe('Ciphers, in order of preference.'),
        serverHostKey: z
          .array(z.string().min(1))
          .min(1)
          .optional()
          .describe('Host key algorithms, in order of preference.'),
        hmac: z
          .array(z.string().min(1))
          .min(1)
          .optional()
          .describe('MAC algorithms, in order of preference.'),
      })
      .optional()
      .describe(
        "SSH algorithms to offer, in ssh2's option shape, replacing its defaults; only for legacy servers (e.g. `kex: [diffie-hellman-group14-sha1]`). Off by default: SHA-1 key exchange is weaker.",
      ),
    connectTimeout: duration('Time allowed to connect and authenticate.').prefault('20s'),
    requestTimeout: duration(
      'Time allowed for the server to answer each SFTP request (open, write, rename, stat…); then the step fails and is retried.',
    ).prefault('60s'),
    noProgressTimeout: duration('An upload that moves no bytes for this long fails and is retried.').prefault(
      '2m',
    ),
  })
  .refine((s) => s.hostKeySha256 !== undefined || s.knownHostsFile !== undefined, {
    message: 'host key pinning is mandatory: set hostKeySha256 or knownHostsFile',
    path: ['hostKeySha256'],
    when: whenObject,
  })
  .refine((s) => s.privateKeyFile !== undefined || s.password !== undefined || s.passwordFile !== undefined, {
    message: 'set privateKeyFile, password or passwordFile',
    path: ['privateKeyFile'],
    when: whenObject,
  });

const s3 = z.strictObject({
  bucket: z.string().min(3).describe('Archive bucket.'),
  prefix: z
    .string()
    .default('')
    .describe('Key prefix template ({yyyy} {MM} {dd} {report}); may contain "/".'),
  region: z.string().default('us-east-1').describe('AWS region.'),
  endpoint: httpUrl('http://127.0.0.1:9000')
    .optional()
    .describe('Endpoint of an S3-compatible server (omit for AWS).'),
  forcePathStyle: z.boolean().default(false).describe('Path-style addressing (most S3-compatible servers).'),
  objectLock: z
    .strictObject({
      mode: z.enum(['GOVERNANCE', 'COMPLIANCE']).describe('Object Lock retention mode.'),
      retainFor: duration('Retention period from the time of archiving, e.g. 2555d.'),
    })
    .optional()
    .describe('Object Lock retention for the archived object (bucket must have Object Lock enabled).'),
  sseKmsKeyId: z.string().optional().describe('KMS key for SSE-KMS encryption; omit for the bucket default.'),
  connectTimeout: duration('Time allowed to open a connection to S3.').prefault('10s'),
  requestTimeout: duration(
    'Time allowed for each S3 request without a body (HEAD, multipart create/complete); then the step fails and is retried.',
  ).prefault('60s'),
  noProgressTimeout: duration(
    'A connection carrying the upload (or awaiting its answer) that is idle this long fails and is retried.',
  ).prefault('2m'),
  multipartThreshold: z
    .number()
    .int()
    .min(5 * 1024 * 1024)
    .default(4 * 1024 ** 3)
    .describe('Reports larger than this many bytes are uploaded in parts.'),
});

/**
 * The query must use its date and the templates must render, before anything runs: a query that
 * ignores $1 delivers another day's rows under this date's name, and a bad template would only fail
 * after the rows are captured (or, for the prefix, after the file is at the regulator).
 */
function checkReportTexts(r: Record<string, unknown>, ctx: z.core.$RefinementCtx<Record<string, unknown>>) {
  const name = typeof r.name === 'string' ? r.name : 'report';
  if (typeof r.query === 'string' && r.query !== '') {
    for (const message of queryProblems(r.query, r.allowQueryWithoutDate === true))
      ctx.addIssue({ code: 'custom', path: ['query'], message });
  }
  if (typeof r.fileName === 'string' && r.fileName !== '') {
    for (const message of templateProblems(r.fileName, 'fileName', name))
      ctx.addIssue({ code: 'custom', path: ['fileName'], message });
  }
  const prefix = (r.s3 as { prefix?: unknown } | undefined)?.prefix;
  if (typeof prefix === 'string') {
    for (const message of templateProblems(prefix, 'prefix', name))
      ctx.addIssue({ code: 'custom', path: ['s3', 'prefix'], message });
  }
}

/** Problems that refuse a query: not using $1 (unless allowed), other parameters, bad quoting. */
export function queryProblems(query: string, allowWithoutDate: boolean): string[] {
  const scan = scanSql(query);
  if (scan.unterminated)
    return [`ends inside an unterminated ${scan.unterminated}; cannot tell which parameters it uses`];
  const problems: string[] = [];
  const others = [...scan.parameters].filter((p) => p !== 1).sort((a, b) => a - b);
  if (others.length > 0)
    problems.push(
      `uses ${others.map((p) => `$${p}`).join(', ')}; only $1 (the report date, an ISO date string) is bound`,
    );
  if (!scan.parameters.has(1) && !allowWithoutDate)
    problems.push(
      'does not use $1 (the report date), so every date would get the same rows; filter on it (e.g. WHERE booked_on = $1::date), or set allowQueryWithoutDate: true for a whole-table report',
    );
  return problems;
}

const report = z
  .strictObject({
    name: reportName.describe('Report name: the lock name and the {report} template value.'),
    schedule: cronExpression
      .default('0 0 * * *')
      .describe('Cron schedule in the report time zone (seconds field allowed).'),
    timezone: timeZone.describe('IANA time zone of the report date, the schedule and CSV timestamps.'),
    reportDate: z
      .enum(['previous-day', 'same-day'])
      .default('previous-day')
      .describe(
        'Which date a tick reports: previous-day (the local day before the tick; midnight runs) or same-day (the local day of the tick; end-of-business runs, the tick closes the day).',
      ),
    catchUpDays: z
      .number()
      .int()
      .min(0)
      .max(366)
      .default(3)
      .describe(
        'Report dates of the schedule before the newest one that `serve` still completes (counts ticks, not calendar days).',
      ),
    startDate: isoDate
      .optional()
      .describe(
        'No report date before this one is ever run by `serve`. Without it, a report with no process yet starts with its newest due date only.',
      ),
    query: z
      .string()
      .min(1)
      .describe(
        'SQL query; $1 is the report date (ISO string) and must be used. Use ORDER BY for a stable order.',
      ),
    allowQueryWithoutDate: z
      .boolean()
      .default(false)
      .describe(
        "Accept a query that does not use $1 (a whole-table report): every date then gets the same rows. Risk: a date filter written as current_date sends another day's rows under this date's name.",
      ),
    fileName: z.string().min(1).describe('File name template: {yyyy} {MM} {dd} {report}.'),
    deadline: z
      .string()
      .regex(/^([01]\d|2[0-3]):[0-5]\d$/, 'expected HH:MM')
      .meta({ 'x-type': 'time (HH:MM)' })
      .optional()
      .describe('Alert when not submitted by this local time on the day after the report date.'),
    slowStepAfter: duration('A step running longer than this is reported slow (metric and alert).').prefault(
      '15m',
    ),
    sftp: sftp.describe('Delivery to the regulator; host key pinning is mandatory.'),
    s3: s3.describe('Archive of the delivered file; credentials from the standard AWS chain.'),
  })
  .superRefine(checkReportTexts, { when: whenObject })
  .describe('A report.');

export const configSchema = z
  .strictObject({
    database: z
      .strictObject({
        url: z
          .string()
          .min(1)
          .superRefine((url, ctx) => {
            const problem = databaseUrlProblem(url);
            if (problem) ctx.addIssue({ code: 'custom', message: problem });
          })
          .optional()
          .describe('PostgreSQL URL; default: env DATABASE_URL.'),
        urlFile: z
          .string()
          .optional()
          .describe('File holding the PostgreSQL URL (relative to the config file).'),
        poolSize: z.number().int().min(2).max(100).default(5).describe('Connections per instance.'),
        rowsSchema: z
          .string()
          .regex(/^[a-z_][a-z0-9_$]{0,62}$/, 'expected a lower-case schema name (letters, digits, _)')
          .optional()
          .describe(
            'Schema of the row snapshots of versions before migration 0010 (new captures store the CSV itself and create no tables); default: end_of_day_reporting_rows, or the schema of our tables.',
          ),
        statementTimeout: duration(
          'statement_timeout of control statements (events, locks, alerts); the capture and the renders lift it. 0s: none.',
        ).prefault('30s'),
      })
      .prefault({}),
    instance: z
      .strictObject({
        id: z
          .string()
          .min(1)
          .max(200)
          .optional()
          .describe('Instance identity written on events and locks; default host:pid.'),
      })
      .prefault({}),
    lock: z
      .strictObject({
        strategy: z
          .enum(['lease', 'table'])
          .default('lease')
          .describe('lease (per report, fenced) or table (LOCK TABLE … NOWAIT).'),
        atMostFor: duration('Lease length; a holder that stops renewing loses the lock after this.').prefault(
          '30m',
        ),
        atLeastFor: duration('Minimum time a lock stays taken after acquisition.').prefault('30s'),
        renewEvery: duration('Keep-alive renewal interval; default atMostFor / 3.').optional(),
        safetyMargin: duration(
          'Lease time that must be left, right after the renewal before each irreversible act (SFTP rename, S3 put/complete), for the act to go ahead; default atMostFor / 3.',
        ).optional(),
      })
      .prefault({})
      .refine((l) => l.safetyMargin === undefined || l.safetyMargin < l.atMostFor, {
        message: 'safetyMargin must be less than atMostFor',
        path: ['safetyMargin'],
        when: ({ value }) => {
          const lock = value as { safetyMargin?: unknown; atMostFor?: unknown } | null;
          return typeof lock?.safetyMargin === 'number' && typeof lock.atMostFor === 'number';
        },
      })
      .refine((l) => l.atLeastFor <= l.atMostFor, {
        message: 'atLeastFor must not exceed atMostFor',
        path: ['atLeastFor'],
        when: ({ value }) => {
          const lock = value as { atLeastFor?: unknown; atMostFor?: unknown } | null;
          return typeof lock?.atLeastFor === 'number' && typeof lock.atMostFor === 'number';
        },
      }),
    retry: z
      .strictObject({
        attempts: z
          .number()
          .int()
          .min(1)
          .max(100)
          .default(3)
          .describe('Attempts per step before the run fails.'),
        initialDelay: duration('Delay before the first retry (doubles each time, with jitter).').prefault(
          '2s',
        ),
        maxDelay: duration('Upper bound of the retry delay.').prefault('1m'),
      })
      .prefault({}),
    reports: z
      .array(report)
      .min(1, 'expected at least one report')
      .describe('The reports to produce; at least one.'),
    monitoring: z
      .strictObject({
        port: z
          .number()
          .int()
          .min(0)
          .max(65535)
          .default(9464)
          .describe('HTTP port of `serve` (metrics, status page).'),
        host: z.string().default('127.0.0.1').describe('HTTP listen address of `serve`.'),
        alertWebhookUrl: httpUrl('https://hooks.slack.com/services/…')
          .optional()
          .describe('Slack-compatible webhook for failures and missed deadlines.'),
        deadManSwitchUrl: httpUrl('https://hc-ping.com/<uuid>')
          .optional()
          .describe('healthchecks-style base URL: pinged at /start, on success, at /fail.'),
        livenessStaleAfter: duration(
          '/healthz fails when the running steps moved no bytes and renewed no lease for this long, or, with no step running, the scheduler timer did not beat for this long. A query silent for longer before its first row counts as stuck.',
        )
          .refine((ms) => ms >= 1000, 'expected at least 1s')
          .prefault('90s'),
        alertReclaimAfter: duration(
          'An alert claimed but not sent this long ago (webhook down through the retries, instance died) is sent by the next instance that looks; a sender gives up its own retries after half of it.',
        )
          .refine((ms) => ms >= 1000, 'expected at least 1s')
          .prefault('5m'),
      })
      .prefault({}),
    serve: z
      .strictObject({
        shutdownGrace: duration(
          'On SIGTERM, time the running step gets to finish before it is stopped at a safe point.',
        ).prefault('30s'),
        retryFailedAfter: duration(
          'First delay before `serve` retries a failed day (doubles per failure, with jitter).',
        ).prefault('1m'),
        retryFailedAtMost: duration('Upper bound of that delay.').prefault('30m'),
        statusDays: z
          .number()
          .int()
          .min(1)
          .max(366)
          .default(30)
          .describe('Days per report on the status page.'),
        concurrency: z
          .number()
          .int()
          .min(1)
          .max(64)
          .default(1)
          .describe('Reports one instance runs at the same time; while busy, other instances take the rest.'),
      })
      .prefault({}),
    retention: z
      .strictObject({
        capturedDays: z
          .number()
          .int()
          .min(1)
          .max(36_500)
          .default(35)
          .describe(
            'Captured rows of a day are dropped (`prune`, and `serve` daily) once the day is archived and its date is more than this many days old; events and proof are kept, `verify` reads the archive. Risk: a dropped day can no longer be re-sent from the database.',
          ),
      })
      .prefault({}),
    log: z
      .strictObject({
        level: z.enum(LOG_LEVELS).default('info').describe('Minimum level of the JSON log lines.'),
      })
      .prefault({}),
  })
  .superRefine(
    (config, ctx) => {
      const seen = new Set<string>();
      config.reports.forEach((r, i) => {
        // With `when`, entries that failed validation arrive as they were written, even null.
        if (typeof r?.name !== 'string') return;
        if (seen.has(r.name))
          ctx.addIssue({
            code: 'custom',
            path: ['reports', i, 'name'],
            message: `duplicate report name "${r.name}"`,
          });
        seen.add(r.name);
      });
    },
    {
      when: ({ value }) => Array.isArray((value as { reports?: unknown } | null)?.reports),
    },
  );

export type ConfigInput = z.input<typeof configSchema>;
export type Config = z.output<typeof configSchema>;
export type ReportConfig = Config['reports'][number];
export type SftpConfig = ReportConfig['sftp'];
export type S3Config = ReportConfig['s3'];
export type LockConfig = Config['lock'];
