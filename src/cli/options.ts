/**
 * Option value parsers for commander: a bad value fails while the command line is parsed, before
 * any config or database is touched, as a USAGE error (exit 2) whose message starts with the
 * option's long name: `--limit: "lots" is not a whole number from 1 to 1000`.
 */
import { Option } from 'commander';
import { EodError } from '../core/errors.js';
import { isCalendarDate } from '../core/report-date.js';

/** Parses one value of the option named `name` (its long form, e.g. `--date`). */
type Parse<T> = (value: string, name: string) => T;

/** A calendar date as YYYY-MM-DD (2026-02-30 is refused, not rolled over). */
export const calendarDate: Parse<string> = (value, name) => {
  if (!isCalendarDate(value)) {
    throw new EodError(
      'USAGE',
      `${name}: "${value}" is not a calendar date; expected YYYY-MM-DD (e.g. 2026-02-28)`,
    );
  }
  return value;
};

/** A whole number from `min` to `max`, written in decimal digits only. */
export function wholeNumber(min: number, max: number): Parse<number> {
  return (value, name) => {
    const n = Number(value);
    if (!/^\d+$/.test(value) || n < min || n > max) {
      throw new EodError('USAGE', `${name}: "${value}" is not a whole number from ${min} to ${max}`);
    }
    return n;
  };
}

/**
 * An option that takes one value. Commander keeps the last of repeated values, so
 * `--report a --report b` would silently drop `a`; here a second value is an error naming both.
 */
export function single<T = string>(
  flags: string,
  description: string,
  parse: Parse<T> = (value) => value as T,
): Option {
  const option = new Option(flags, description);
  const name = option.long ?? option.short ?? flags;
  let first: string | undefined;
  return option.argParser((value: string) => {
    if (first !== undefined) {
      throw new EodError('USAGE', `${name}: given twice ("${first}", then "${value}"); give it once`);
    }
    first = value;
    return parse(value, name);
  });
}
