import { EodError } from '../core/errors.js';

export function invalid(message: string, facts: Record<string, unknown> = {}): EodError {
  return new EodError('CONFIG_INVALID', message, facts);
}

/** A header naming the file, then one problem per line; the lines are also a fact. */
export function invalidConfig(file: string, lines: readonly string[]): EodError {
  return invalid(`invalid config ${file}:\n${lines.join('\n')}`, { path: file, issues: lines });
}
