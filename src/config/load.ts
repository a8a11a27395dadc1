/**
 * Reads, expands and validates the config file (PRODUCT.md §5, §7). Everything that can be
 * wrong is reported at once, one `<key path>: <problem>` per line, and no secret value ever
 * reaches a message. Reads files, writes nothing.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { z } from 'zod';
import { redactSecrets } from '../core/redact.js';
import { scanSql } from '../core/sql-scan.js';
import { invalid, invalidConfig } from './config-errors.js';
import { parseConfigText } from './parse-text.js';
import { type Config, configSchema } from './schema.js';

export interface LoadedConfig {
  /** Deeply frozen. */
  readonly config: Config;
  /** Every secret value resolved, for redaction of logs and messages. */
  readonly secrets: readonly string[];
  /** Absolute path of the file read. */
  readonly path: string;
  /** Accepted but risky settings, one `<key path>: <what and why>` each; logged at start. */
  readonly warnings: readonly string[];
}

type KeyPath = readonly PropertyKey[];
type Json = Record<string, unknown>;

interface Problem {
  path: KeyPath;
  message: string;
}

const REDACTED_VALUE = '<redacted>';

/** Values whose full text is never shown; the message stays, the value becomes <redacted>. */
const SECRET_KEYS = new Set(['password', 'passphrase']);
/** Webhook and ping URLs embed their own credentials, like the database URL. */
const SECRET_URLS: readonly (readonly string[])[] = [
  ['database', 'url'],
  ['monitoring', 'alertWebhookUrl'],
  ['monitoring', 'deadManSwitchUrl'],
];

/** `…File` keys whose content replaces the key they name. */
const DATABASE_SECRET_FILES = [['urlFile', 'url']] as const;
const SFTP_SECRET_FILES = [
  ['passwordFile', 'password'],
  ['passphraseFile', 'passphrase'],
] as const;
/** Paths that stay paths, made absolute so the working directory does not matter later. */
const SFTP_PATHS = ['privateKeyFile', 'knownHostsFile'] as const;

export async function loadConfig(
  options: { path?: string; env?: NodeJS.ProcessEnv } = {},
): Promise<LoadedConfig> {
  const env = options.env ?? process.env;
  const given = options.path || env.EOD_REPORT_CONFIG;
  if (!given) throw invalid('no config file: pass --config <path> or set EOD_REPORT_CONFIG');
  const file = path.resolve(given);

  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    throw invalid(`cannot read config file ${file}: ${describeFsError(error)}`, { path: file });
  }

  const parsed = parseConfigText(text.replace(/^\uFEFF/, ''), file);
  if (!isRecord(parsed)) {
    throw invalidConfig(file, [`(top level): expected a mapping of settings, got ${kindOf(parsed)}`]);
  }

  const problems: Problem[] = [];
  const input = substituteEnv(parsed, [], env, problems) as Json;
  await resolveFiles(input, path.dirname(file), problems);
  defaultDatabaseUrl(input, env, problems);
  const secrets = collectSecrets(input);

  // One parse per process: zod's compiled fast path (built with new Function on the first parse)
  // costs more than it saves here, about 4 ms of start-up (issue 11). Same result either way.
  const result = configSchema.safeParse(input, { jitless: true });
  const lines = [
    ...problems.map((p) => `${formatKeyPath(p.path)}: ${p.message}`),
    ...(result.success ? [] : issueLines(result.error.issues, input, secrets)),
  ];
  if (!result.success || lines.length > 0) {
    // The redaction is a backstop: lines are built not to contain secrets in the first place.
    throw invalidConfig(
      file,
      [...new Set(lines)].map((line) => redactSecrets(line, secrets)),
    );
  }

  return deepFreeze({ config: result.data, secrets, path: file, warnings: configWarnings(result.data) });
}

/**
 * One line per zod issue: `<key path>: <problem>`, with the offending value when it is not a
 * secret. `input` is what was validated; values are looked up there by the issue path.
 */
export function formatConfigIssues(error: z.ZodError, input: unknown, secrets: readonly string[]): string {
  return issueLines(error.issues, input, secrets).join('\n');
}

function issueLines(
  issues: readonly z.core.$ZodIssue[],
  input: unknown,
  secrets: readonly string[],
): string[] {
  const lines: string[] = [];
  for (const issue of issues) {
    const where = formatKeyPath(issue.path);
    if (issue.code === 'unrecognized_keys') {
      // Only the key: its value may be a misspelt password.
      for (const key of issue.keys) lines.push(`${where}: unknown key ${JSON.stringify(key)}`);
      continue;
    }
    const value = valueAt(input, issue.path);
    const secret = isSecretPath(issue.path) || isSecretValue(value, secrets);
    lines.push(`${where}: ${describeIssue(issue, value, secret)}`);
  }
  return lines;
}

function describeIssue(issue: z.core.$ZodIssue, value: unknown, secret: boolean): string {
  if (issue.code === 'invalid_type' && value === undefined) return `is required (expected ${issue.expected})`;
  // zod's generic prefixes ("Invalid input: ") add nothing once the key path is in front.
  let message = issue.message
    .replace(/^Invalid \w+: /, '')
    .replace(/^Too (small|big):/, (m) => m.toLowerCase());
  if (!isShowable(value)) return message;
  if (secret) {
    // Our own checks of secret values (the database URL) say what is wrong without the value.
    if (issue.code === 'custom') return message;
    if (typeof value === 'string' && value.length > 0) message = message.split(value).join(REDACTED_VALUE);
    return withValue(message, REDACTED_VALUE);
  }
  // Messages such as the duration one already quote the string they reject.
  if (typeof value === 'string' && message.includes(JSON.stringify(value))) return message;
  return withValue(message, preview(value));
}

/** `"2x" is not a duration` reads naturally; other messages get the value appended. */
function withValue(message: string, shown: string): string {
  return message.startsWith('is ') ? `${shown} ${message}` : `${message} (got ${shown})`;
}

function isShowable(value: unknown): value is string | number | boolean | null {
  return value === null || ['string', 'number', 'boolean'].includes(typeof value);
}

function preview(value: string | number | boolean | null): string {
  const text = JSON.stringify(value);
  return text.length > 80 ? `${text.slice(0, 77)}…"` : text;
}

function isSecretPath(keyPath: KeyPath): boolean {
  const last = keyPath.at(-1);
  if (typeof last === 'string' && SECRET_KEYS.has(last)) return true;
  // `database: postgres://…` written as a string instead of a mapping is still a URL.
  if (keyPath.length === 1 && keyPath[0] === 'database') return true;
  return SECRET_URLS.some((p) => p.length === keyPath.length && p.every((k, i) => k === keyPath[i]));
}

function isSecretValue(value: unknown, secrets: readonly string[]): boolean {
  if (typeof value !== 'string') return false;
  return secrets.some((s) => s === value || (s.length >= 4 && value.includes(s)));
}

export function formatKeyPath(keyPath: KeyPath): string {
  let out = '';
  for (const key of keyPath) {
    if (typeof key === 'number') out += `[${key}]`;
    else if (typeof key === 'string' && /^[A-Za-z_$][\w$]*$/.test(key)) out += out ? `.${key}` : key;
    else out += `[${JSON.stringify(String(key))}]`;
  }
  return out || '(top level)';
}

function valueAt(root: unknown, keyPath: KeyPath): unknown {
  let node = root;
  for (const key of keyPath) {
    if (typeof node !== 'object' || node === null || typeof key === 'symbol') return undefined;
    if (!Object.hasOwn(node, key)) return undefined;
    node = (node as Record<PropertyKey, unknown>)[key];
  }
  return node;
}

/** PRODUCT.md §5: a query without ORDER BY is accepted, with a warning, as its order is not stable. */
function configWarnings(config: Config): string[] {
  const warnings: string[] = [];
  config.reports.forEach((report, i) => {
    if (!scanSql(report.query).topLevelOrderBy)
      warnings.push(
        `${formatKeyPath(['reports', i, 'query'])}: has no ORDER BY, so its rows come out in no stable order and two captures of the same rows may differ; add ORDER BY on a unique key`,
      );
  });
  return warnings;
}

// ---- expansion -------------------------------------------------------------------------------

/** `$${` is a literal `${`; `${NAME}` is the variable; any other `${` is a mistake. */
const REFERENCE = /\$\$\{|\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$\{/g;
// Spelled in two parts: a literal `${` in a plain string reads as a forgotten template literal.
const OPEN = '$' + '{';
const MALFORMED_REFERENCE = `"${OPEN}" must start a reference such as ${OPEN}NAME}; write "$${OPEN}" for a literal "${OPEN}"`;

/** Returns a copy with `${VAR}` replaced in every string; unresolved references stay as written. */
function substituteEnv(node: unknown, at: KeyPath, env: NodeJS.ProcessEnv, problems: Problem[]): unknown {
  if (typeof node === 'string') {
    return node.replace(REFERENCE, (match: string, name: string | undefined) => {
      if (match === `$${OPEN}`) return OPEN;
      if (name === undefined) {
        problems.push({ path: at, message: MALFORMED_REFERENCE });
        return match;
      }
      const value = env[name];
      if (value === undefined) {
        problems.push({ path: at, message: `environment variable ${name} is not set` });
        return match;
      }
      return value;
    });
  }
  if (Array.isArray(node)) return node.map((item, i) => substituteEnv(item, [...at, i], env, problems));
  if (isRecord(node)) {
    return Object.fromEntries(
      Object.entries(node).map(([k, v]) => [k, substituteEnv(v, [...at, k], env, problems)]),
    );
  }
  return node;
}

/**
 * Reads `…File` secrets into their keys and makes other paths absolute, in place (on the copy
 * made by substituteEnv). Shapes the schema will reject are left alone for it to report.
 */
async function resolveFiles(input: Json, dir: string, problems: Problem[]): Promise<void> {
  const database = input.database;
  if (isRecord(database)) {
    for (const [fileKey, valueKey] of DATABASE_SECRET_FILES) {
      await readSecretFile(database, ['database'], fileKey, valueKey, dir, problems);
    }
  }
  if (!Array.isArray(input.reports)) return;
  for (const [i, report] of input.reports.entries()) {
    const sftp = isRecord(report) ? report.sftp : undefined;
    if (!isRecord(sftp)) continue;
    const at = ['reports', i, 'sftp'];
    for (const [fileKey, valueKey] of SFTP_SECRET_FILES) {
      await readSecretFile(sftp, at, fileKey, valueKey, dir, problems);
    }
    for (const key of SFTP_PATHS) {
      const value = sftp[key];
      if (typeof value === 'string' && value !== '') sftp[key] = path.resolve(dir, value);
    }
  }
}

async function readSecretFile(
  owner: Json,
  at: KeyPath,
  fileKey: string,
  valueKey: string,
  dir: string,
  problems: Problem[],
): Promise<void> {
  const given = owner[fileKey];
  if (given === undefined) return;
  if (owner[valueKey] !== undefined) {
    problems.push({ path: [...at, fileKey], message: `set either ${valueKey} or ${fileKey}, not both` });
    return;
  }
  if (typeof given !== 'string' || given === '') return;
  const file = path.resolve(dir, given);
  try {
    const content = await readFile(file, 'utf8');
    // Editors end files with a newline; it is never part of the secret.
    owner[valueKey] = content.replace(/\r?\n$/, '');
    Reflect.deleteProperty(owner, fileKey);
  } catch (error) {
    // The …File key stays, so the schema accepts it and the only report is this one.
    owner[fileKey] = file;
    problems.push({ path: [...at, fileKey], message: `cannot read ${file}: ${describeFsError(error)}` });
  }
}

function defaultDatabaseUrl(input: Json, env: NodeJS.ProcessEnv, problems: Problem[]): void {
  if (input.database === undefined) input.database = {};
  const database = input.database;
  if (!isRecord(database) || database.url !== undefined || database.urlFile !== undefined) return;
  if (env.DATABASE_URL) database.url = env.DATABASE_URL;
  else
    problems.push({
      path: ['database', 'url'],
      message: 'not set; set database.url, database.urlFile or DATABASE_URL',
    });
}

/** Collected before validation, so even an invalid config's messages can be redacted. */
function collectSecrets(input: Json): string[] {
  const secrets: string[] = [];
  const add = (value: unknown) => {
    if (typeof value === 'string' && value !== '') secrets.push(value);
  };
  const database = input.database;
  if (typeof database === 'string') add(database);
  if (isRecord(database) && typeof database.url === 'string') {
    add(database.url);
    for (const part of urlPasswords(database.url)) add(part);
  }
  if (Array.isArray(input.reports)) {
    for (const report of input.reports) {
      const sftp = isRecord(report) ? report.sftp : undefined;
      if (!isRecord(sftp)) continue;
      add(sftp.password);
      add(sftp.passphrase);
    }
  }
  if (isRecord(input.monitoring)) {
    add(input.monitoring.alertWebhookUrl);
    add(input.monitoring.deadManSwitchUrl);
  }
  return [...new Set(secrets)];
}

/** The password of a URL or key=value connection string, as written and percent-decoded. */
function urlPasswords(connection: string): string[] {
  const found: string[] = [];
  try {
    const url = new URL(connection);
    found.push(url.password, url.searchParams.get('password') ?? '');
  } catch {
    // Not a URL: libpq's `host=… password=…` form.
  }
  const keyword = /(?:^|\s)password\s*=\s*(?:'((?:[^'\\]|\\.)*)'|(\S+))/.exec(connection);
  if (keyword) found.push(keyword[1] ?? keyword[2] ?? '');
  return found.flatMap((p) => [p, safeDecode(p)]).filter((p) => p !== '');
}

function safeDecode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

// ---- helpers ---------------------------------------------------------------------------------

function isRecord(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function kindOf(value: unknown): string {
  if (value === null || value === undefined) return 'an empty document';
  if (Array.isArray(value)) return 'a list';
  return `a ${typeof value}`;
}

function describeFsError(error: unknown): string {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  switch (code) {
    case 'ENOENT':
      return 'no such file';
    case 'EACCES':
    case 'EPERM':
      return 'permission denied';
    case 'EISDIR':
      return 'is a directory';
    default:
      return code ?? (error instanceof Error ? error.message : String(error));
  }
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}
