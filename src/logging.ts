/**
 * JSON logs that cannot carry a secret (PRODUCT.md §7). Two layers: values under secret-looking
 * keys are censored wherever they sit, and every known secret value is replaced in every string,
 * including error messages and stacks; a last pass over each serialized line catches what the
 * first layer cannot see (pino derives `msg` from an error after the hooks ran).
 */
import pino from 'pino';
import { redactSecrets, usableSecrets } from './core/redact.js';

export interface LoggerOptions {
  level: string;
  /** Values to replace by `***` wherever they appear (LoadedConfig.secrets). */
  secrets: readonly string[];
  /** Default: stdout. */
  destination?: pino.DestinationStream;
  /** Replaces pino's default `pid` and `hostname` fields. */
  base?: Record<string, unknown>;
}

const CENSORED = '[Redacted]';

/** Keys whose value is a credential whatever it contains; compared lower-cased. */
const SECRET_KEYS = new Set([
  'password',
  'passphrase',
  'privatekey',
  'connectionstring',
  'secretaccesskey',
  'sessiontoken',
  'authorization',
  'database_url',
]);

/** Deep enough for any log object we write; deeper parts are summarised rather than walked. */
const MAX_DEPTH = 10;

export function createLogger(options: LoggerOptions): pino.Logger {
  const secrets = usableSecrets(options.secrets);
  // Inside a JSON line a secret with quotes or backslashes appears escaped.
  const lineSecrets = usableSecrets(secrets.flatMap((s) => [s, JSON.stringify(s).slice(1, -1)]));
  const scrub = (value: unknown) => scrubValue(value, secrets, undefined, 0, new Set());
  const scrubText = (text: string) => redactSecrets(text, secrets);

  const pinoOptions: pino.LoggerOptions = {
    level: options.level,
    ...(options.base === undefined ? {} : { base: options.base }),
    // formatters.log has already serialized (and scrubbed) errors; pino's err serializer would
    // take the result for an error again and report its type as "Object".
    serializers: { err: (value: unknown) => value },
    formatters: {
      bindings: (bindings) => scrub(bindings) as pino.Bindings,
      log: (object) => scrub(object) as Record<string, unknown>,
    },
    hooks: {
      logMethod(args, method) {
        const [first, ...rest] = args as unknown[];
        const scrubbedRest = rest.map((arg) => (typeof arg === 'string' ? scrubText(arg) : scrub(arg)));
        // pino would take the message from the raw error; hand it the scrubbed one instead.
        const error = first instanceof Error ? first : errorIn(first);
        if (error && typeof rest[0] !== 'string' && !hasOwnMessage(first)) {
          scrubbedRest.unshift(scrubText(error.message));
        }
        const head = typeof first === 'string' ? scrubText(first) : first;
        return method.apply(this, [head, ...scrubbedRest] as Parameters<pino.LogFn>);
      },
      streamWrite: (line) => redactSecrets(line, lineSecrets),
    },
  };
  return options.destination === undefined ? pino(pinoOptions) : pino(pinoOptions, options.destination);
}

function scrubValue(
  value: unknown,
  secrets: readonly string[],
  key: string | undefined,
  depth: number,
  path: Set<object>,
): unknown {
  if (typeof value === 'string') return redactSecrets(value, secrets);
  if (typeof value !== 'object' || value === null) return value;
  if (path.has(value)) return '[Circular]';
  if (depth >= MAX_DEPTH) return Array.isArray(value) ? '[Array]' : '[Object]';
  path.add(value);
  try {
    const next = (child: unknown, childKey: string | undefined) =>
      scrubValue(child, secrets, childKey, depth + 1, path);
    // The standard serializer keeps type, message, stack, causes and custom fields, as plain data.
    if (value instanceof Error) return next(pino.stdSerializers.err(value), key);
    // URL, Date, Buffer…: scrub what JSON.stringify would print.
    const toJSON = (value as { toJSON?: unknown }).toJSON;
    if (typeof toJSON === 'function') return next(toJSON.call(value), key);
    if (Array.isArray(value)) return value.map((item) => next(item, key));
    const out: Record<string, unknown> = {};
    for (const [childKey, child] of Object.entries(value)) {
      out[childKey] = isSecretKey(childKey, key) ? CENSORED : next(child, childKey);
    }
    return out;
  } finally {
    path.delete(value);
  }
}

function isSecretKey(key: string, parentKey: string | undefined): boolean {
  const lower = key.toLowerCase();
  return SECRET_KEYS.has(lower) || (lower === 'url' && parentKey?.toLowerCase() === 'database');
}

function errorIn(value: unknown): Error | undefined {
  const err = (value as { err?: unknown } | null | undefined)?.err;
  return err instanceof Error ? err : undefined;
}

function hasOwnMessage(value: unknown): boolean {
  return (
    typeof value === 'object' && value !== null && !(value instanceof Error) && Object.hasOwn(value, 'msg')
  );
}
