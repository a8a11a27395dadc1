import { EodError } from './errors.js';

export interface TemplateValues {
  date: string;
  report: string;
}

const PLACEHOLDER = /\{(yyyy|MM|dd|report)\}/g;

export function renderTemplate(template: string, values: TemplateValues): string {
  const [yyyy, MM, dd] = values.date.split('-');
  const table: Record<string, string | undefined> = { yyyy, MM, dd, report: values.report };
  return template.replace(PLACEHOLDER, (_, key: string) => table[key] ?? '');
}

// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what we reject
const CONTROL = /[\u0000-\u001f\u007f]/;

function reject(what: string, value: string, why: string): never {
  throw new EodError('CONFIG_INVALID', `${what} ${JSON.stringify(value)} ${why}`, { value });
}

/** A remote file name: one path segment, no control characters, no `..`, no leftover braces. */
export function renderFileName(template: string, values: TemplateValues): string {
  const name = renderTemplate(template, values);
  if (name.length === 0 || name.length > 255) reject('file name', name, 'must be 1-255 characters');
  if (name.includes('/') || name.includes('\\')) reject('file name', name, 'must not contain "/" or "\\"');
  if (name === '.' || name === '..' || name.includes('..'))
    reject('file name', name, 'must not contain ".."');
  if (CONTROL.test(name)) reject('file name', name, 'must not contain control characters');
  if (/[{}]/.test(name))
    reject('file name', name, 'has an unknown placeholder; known: {yyyy} {MM} {dd} {report}');
  return name;
}

/** An S3 key prefix: may contain "/" but no empty, "." or ".." segments and no control characters. */
export function renderKeyPrefix(template: string, values: TemplateValues): string {
  const prefix = renderTemplate(template, values);
  if (CONTROL.test(prefix)) reject('s3 prefix', prefix, 'must not contain control characters');
  if (/[{}]/.test(prefix))
    reject('s3 prefix', prefix, 'has an unknown placeholder; known: {yyyy} {MM} {dd} {report}');
  if (prefix.startsWith('/')) reject('s3 prefix', prefix, 'must not start with "/"');
  const segments = prefix.split('/').slice(0, -1);
  if (segments.some((s) => s === '' || s === '.' || s === '..'))
    reject('s3 prefix', prefix, 'must not contain empty, "." or ".." segments');
  return prefix;
}
