/**
 * Option value parsers for commander: a bad value fails while the command line is parsed, before
 * any config or database is touched, with commander's first line
 * `error: option '<flags>' argument '<value>' is invalid. <what is expected>` and exit 2.
 */
import { InvalidArgumentError, Option } from 'commander';
import { isCalendarDate } from '../core/report-date.js';

type Parse<T> = (value: string) => T;

/** A calendar date as YYYY-MM-DD (2026-02-30 is refused, not rolled over). */
export const calendarDate: Parse<string> = (value) => {
  if (!isCalendarDate(value)) {
    throw new InvalidArgumentError('expected a calendar date as YYYY-MM-DD (e.g. 2026-02-28)');
  }
  return value;
};

/** A whole number from `min` to `max`, written in decimal digits only. */
export function wholeNumber(min: number, max: number): Parse<number> {
  return (value) => {
    const n = Number(value);
    if (!/^\d+$/.test(value) || n < min || n > max) {
      throw new InvalidArgumentError(`expected a whole number from ${min} to ${max}`);
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
  let first: string | undefined;
  return new Option(flags, description).argParser((value: string) => {
    if (first !== undefined) {
      throw new InvalidArgumentError(`given twice ("${first}", then "${value}"); give it once`);
    }
    first = value;
    return parse(value);
  });
}
