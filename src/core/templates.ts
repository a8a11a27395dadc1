import { EodError, isEodError } from './errors.js';

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
  throw new EodError('CONFIG_INVALID', `${what} ${JSON.stringify(value)} ${why}`, { value, why });
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

export const PLACEHOLDERS = ['{yyyy}', '{MM}', '{dd}', '{report}'] as const;

/**
 * What is wrong with a template, checked before any run (config load): unknown placeholders
 * (`{YYYY}`, `{unknown}`, a stray brace) and what the rendering gives for `report` on a sample
 * date. Returns one message per problem, each naming the value and what is allowed; [] when fine.
 */
export function templateProblems(template: string, kind: 'fileName' | 'prefix', report: string): string[] {
  const problems: string[] = [];
  const allowed = PLACEHOLDERS.join(' ');
  const shown = JSON.stringify(template);
  for (const match of template.matchAll(/\{[^{}]*\}?|\}/g)) {
    const token = match[0];
    if ((PLACEHOLDERS as readonly string[]).includes(token)) continue;
    problems.push(
      token.length > 1 && token.endsWith('}')
        ? `${shown} has an unknown placeholder ${token}; allowed: ${allowed} (case matters)`
        : `${shown} has a "${token[0]}" that is not part of a placeholder; allowed: ${allowed}`,
    );
  }
  if (problems.length > 0) return problems;
  try {
    // Dates only contribute digits, so one sample date checks every date.
    const values = { date: '2026-01-31', report };
    if (kind === 'fileName') renderFileName(template, values);
    else renderKeyPrefix(template, values);
  } catch (error) {
    const rendered = renderTemplate(template, { date: '2026-01-31', report });
    const why = isEodError(error) ? String(error.facts.why) : String(error);
    problems.push(
      kind === 'fileName'
        ? `${shown} renders as ${JSON.stringify(rendered)}: ${why}; a file name is one path segment: no "/" or "\\", no "..", no control characters`
        : `${shown} renders as ${JSON.stringify(rendered)}: ${why}; a prefix may contain "/" between non-empty segments other than "." and "..", no control characters`,
    );
  }
  return problems;
}
