/**
 * A small lexical scanner for PostgreSQL SQL text, enough to tell what a report query uses: which
 * positional parameters (`$1`) appear as code, and whether the outermost statement has ORDER BY.
 * Comments (`--`, nested block comments), string literals ('…', E'…' with backslash escapes),
 * dollar-quoted strings ($$…$$, $tag$…$tag$) and quoted identifiers ("…") are skipped, so a `$1`
 * or an ORDER BY inside them does not count. Identifiers may contain `$` (`a$1` is one name).
 * Pure; follows the lexical rules of the PostgreSQL manual, §4.1 "Lexical Structure".
 */

import { EodError } from './errors.js';

export interface SqlScan {
  /** Positional parameter numbers used outside comments, literals and quoted identifiers. */
  parameters: ReadonlySet<number>;
  /** Where each positional parameter stands in the text: `$` at `start`, last digit before `end`. */
  placeholders: readonly { start: number; end: number; number: number }[];
  /** True when ORDER BY appears at parenthesis depth 0 (it orders the result, not a subquery). */
  topLevelOrderBy: boolean;
  /** Set when the text ends inside a comment, literal or quoted identifier. */
  unterminated?: 'comment' | 'string' | 'dollar-quoted string' | 'quoted identifier';
  /** Where each `;` outside comments and literals stands. */
  semicolons: readonly number[];
  /** The index just past the last token that is neither a comment, a blank nor a `;`. */
  codeEnd: number;
}

const IDENT_START = /[A-Za-z_\u0080-\uffff]/;
const IDENT_PART = /[A-Za-z0-9_$\u0080-\uffff]/;
const DOLLAR_TAG = /^\$([A-Za-z_\u0080-\uffff][A-Za-z0-9_\u0080-\uffff]*)?\$/;

export function scanSql(text: string): SqlScan {
  const parameters = new Set<number>();
  const placeholders: { start: number; end: number; number: number }[] = [];
  let depth = 0;
  let topLevelOrderBy = false;
  let previousWord = '';
  let i = 0;
  const n = text.length;
  const semicolons: number[] = [];
  let codeEnd = 0;
  let inCode = false;

  const word = (w: string) => {
    const upper = w.toUpperCase();
    if (depth === 0 && previousWord === 'ORDER' && upper === 'BY') topLevelOrderBy = true;
    previousWord = upper;
  };

  while (i < n) {
    // Every branch below consumes one whole token, so the previous one ended here.
    if (inCode) codeEnd = i;
    const c = text[i] as string;
    const next = text[i + 1];
    const comment = (c === '-' && next === '-') || (c === '/' && next === '*');
    inCode = !comment && c !== ';' && !/\s/.test(c);
    if (c === ';') semicolons.push(i);
    if (c === '-' && next === '-') {
      const end = text.indexOf('\n', i);
      i = end === -1 ? n : end + 1;
      continue;
    }
    if (c === '/' && next === '*') {
      let nesting = 1;
      i += 2;
      while (i < n && nesting > 0) {
        if (text[i] === '/' && text[i + 1] === '*') {
          nesting++;
          i += 2;
        } else if (text[i] === '*' && text[i + 1] === '/') {
          nesting--;
          i += 2;
        } else i++;
      }
      if (nesting > 0)
        return { parameters, placeholders, topLevelOrderBy, semicolons, codeEnd, unterminated: 'comment' };
      continue;
    }
    if (c === "'") {
      // E'…' (escape string): a backslash escapes the next character. Otherwise only '' does.
      const escapes = /[eE]/.test(text[i - 1] ?? '') && !IDENT_PART.test(text[i - 2] ?? '');
      i = skipQuoted(text, i + 1, "'", escapes);
      if (i < 0)
        return { parameters, placeholders, topLevelOrderBy, semicolons, codeEnd, unterminated: 'string' };
      previousWord = '';
      continue;
    }
    if (c === '"') {
      i = skipQuoted(text, i + 1, '"', false);
      if (i < 0)
        return {
          parameters,
          placeholders,
          topLevelOrderBy,
          semicolons,
          codeEnd,
          unterminated: 'quoted identifier',
        };
      previousWord = '';
      continue;
    }
    if (c === '$') {
      const digits = /^\$(\d+)/.exec(text.slice(i, i + 12));
      if (digits?.[1]) {
        parameters.add(Number(digits[1]));
        placeholders.push({ start: i, end: i + digits[0].length, number: Number(digits[1]) });
        i += digits[0].length;
        previousWord = '';
        continue;
      }
      const tag = DOLLAR_TAG.exec(text.slice(i, i + 200));
      if (tag) {
        const close = text.indexOf(tag[0], i + tag[0].length);
        if (close === -1)
          return {
            parameters,
            placeholders,
            topLevelOrderBy,
            semicolons,
            codeEnd,
            unterminated: 'dollar-quoted string',
          };
        i = close + tag[0].length;
        previousWord = '';
        continue;
      }
      i++;
      continue;
    }
    if (IDENT_START.test(c)) {
      let end = i + 1;
      while (end < n && IDENT_PART.test(text[end] as string)) end++;
      word(text.slice(i, end));
      i = end;
      continue;
    }
    if (/\d/.test(c)) {
      // A number such as 1e5 or 10.5, never an identifier.
      let end = i + 1;
      while (end < n && /[0-9a-zA-Z_.]/.test(text[end] as string)) end++;
      i = end;
      previousWord = '';
      continue;
    }
    if (c === '(') depth++;
    else if (c === ')') depth = Math.max(0, depth - 1);
    if (!/\s/.test(c)) previousWord = '';
    i++;
  }
  if (inCode) codeEnd = i;
  return { parameters, placeholders, topLevelOrderBy, semicolons, codeEnd };
}

/**
 * The query without its trailing `;` (and the comments or blanks after them), so it can be
 * embedded in our own statements. Comments inside and at the end stay: callers embed the result
 * on lines of its own, so a trailing `-- comment` ends at their newline. Text the scanner cannot
 * finish (an unterminated literal) is returned as it is, for the server to refuse.
 *
 * Throws EodError QUERY_REFUSED when a `;` is followed by more SQL: a report query is one query.
 */
export function singleStatement(query: string): string {
  const scan = scanSql(query);
  if (scan.unterminated) return query;
  const inside = scan.semicolons.find((at) => at < scan.codeEnd);
  if (inside !== undefined) {
    throw new EodError(
      'QUERY_REFUSED',
      `the query holds more than one statement (a ";" is followed by "${query
        .slice(inside + 1)
        .trim()
        .slice(0, 30)}"); a report query is a single SELECT`,
    );
  }
  return scan.semicolons.length > 0 ? query.slice(0, scan.codeEnd) : query;
}

/** The index after the closing quote, or -1 when the text ends first. A doubled quote is one. */
function skipQuoted(text: string, from: number, quote: string, backslashEscapes: boolean): number {
  let i = from;
  while (i < text.length) {
    const c = text[i];
    if (backslashEscapes && c === '\\') {
      i += 2;
      continue;
    }
    if (c === quote) {
      if (text[i + 1] === quote) {
        i += 2;
        continue;
      }
      return i + 1;
    }
    i++;
  }
  return -1;
}
