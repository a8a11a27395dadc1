/**
 * The original design's failure_details column is VARCHAR(255). Its text must fit in the
 * database whatever its encoding (a LATIN1 database refuses `…`, Cyrillic, emoji), so it is kept
 * to ASCII: accents are dropped (é → e), common punctuation spelled in ASCII, anything else
 * becomes `?`. The exact message goes into the event's facts.
 */
export const FAILURE_DETAILS_MAX = 255;

const ELLIPSIS = '...';
const PUNCTUATION: Readonly<Record<string, string>> = {
  '\u2026': '...',
  '\u2018': "'",
  '\u2019': "'",
  '\u201c': '"',
  '\u201d': '"',
  '\u2013': '-',
  '\u2014': '-',
  '\u2192': '->',
  '\u00d7': 'x',
  '\u00a0': ' ',
};

/** One line of at most `max` ASCII characters, cut with "..." when longer. */
export function failureDetails(message: string, max = FAILURE_DETAILS_MAX): string {
  const ascii = toAscii(message).replace(/\s+/g, ' ').trim();
  if (ascii.length <= max) return ascii;
  return `${ascii.slice(0, max - ELLIPSIS.length)}${ELLIPSIS}`;
}

function toAscii(text: string): string {
  return Array.from(text.normalize('NFKD'))
    .map((c) => {
      if (c.charCodeAt(0) < 0x80) return c;
      if (/\p{M}/u.test(c)) return '';
      return PUNCTUATION[c] ?? '?';
    })
    .join('');
}
