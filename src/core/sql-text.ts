/**
 * Just enough of PostgreSQL's lexer to find where a report query really ends, so it can be
 * embedded in our own statements: string literals ('…', E'…', $tag$…$tag$), quoted identifiers,
 * `--` line comments and nested block comments are skipped; only top-level `;` count.
 * Whether `$1` is used is asked of the server (PREPARE), not guessed from the text.
 */
import { EodError } from './errors.js';

/**
 * The query without its trailing `;` (and whatever comments or blanks follow them). Comments
 * inside and at the end stay: callers embed the result on lines of its own, so a trailing
 * `-- comment` ends at our newline.
 *
 * Throws EodError QUERY_REFUSED when the text holds more than one statement (a `;` followed by more SQL):
 * a report query is one query.
 */
export function singleStatement(query: string): string {
  const semicolons: number[] = [];
  let lastSignificantEnd = 0;
  let i = 0;
  const n = query.length;
  while (i < n) {
    const c = query[i] as string;
    const next = query[i + 1];
    if (c === '-' && next === '-') {
      const end = query.indexOf('\n', i);
      i = end === -1 ? n : end + 1;
      continue;
    }
    if (c === '/' && next === '*') {
      i = skipBlockComment(query, i);
      continue;
    }
    if (/\s/.test(c)) {
      i++;
      continue;
    }
    if (c === ';') {
      semicolons.push(i);
      i++;
      continue;
    }
    if (semicolons.length > 0) {
      throw new EodError(
        'QUERY_REFUSED',
        `the query holds more than one statement (a ";" is followed by "${query.slice(i, i + 30)}"); a report query is a single SELECT`,
      );
    }
    i = skipToken(query, i);
    lastSignificantEnd = i;
  }
  return semicolons.length > 0 ? query.slice(0, lastSignificantEnd) : query;
}

function skipBlockComment(text: string, start: number): number {
  let depth = 0;
  let i = start;
  while (i < text.length) {
    if (text.startsWith('/*', i)) {
      depth++;
      i += 2;
    } else if (text.startsWith('*/', i)) {
      depth--;
      i += 2;
      if (depth === 0) return i;
    } else i++;
  }
  return text.length;
}

const IDENT_CHAR = /[A-Za-z0-9_$\u0080-\uffff]/;
const DOLLAR_TAG = /^\$([A-Za-z_\u0080-\uffff][A-Za-z0-9_\u0080-\uffff]*)?\$/;

/** Index just past the token starting at `i` (a literal, quoted identifier or one other char). */
function skipToken(text: string, i: number): number {
  const c = text[i] as string;
  const previous = i > 0 ? (text[i - 1] as string) : '';
  if (c === "'") {
    const escapes = /[eE]/.test(previous) && !IDENT_CHAR.test(i > 1 ? (text[i - 2] as string) : '');
    return skipQuoted(text, i, "'", escapes);
  }
  if (c === '"') return skipQuoted(text, i, '"', false);
  if (c === '$' && !IDENT_CHAR.test(previous)) {
    const tag = DOLLAR_TAG.exec(text.slice(i, i + 200));
    if (tag) {
      const end = text.indexOf(tag[0], i + tag[0].length);
      return end === -1 ? text.length : end + tag[0].length;
    }
  }
  return i + 1;
}

function skipQuoted(text: string, start: number, quote: string, backslashEscapes: boolean): number {
  let i = start + 1;
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
  return text.length;
}
