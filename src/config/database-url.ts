/**
 * Checks a PostgreSQL connection URL the way a user needs it checked: node-postgres either throws
 * a bare "Invalid URL" at connect time or, for text that is not a URL at all, silently connects to
 * localhost:5432 with the text as the database name. Messages never quote the URL (it holds the
 * password); they quote only the part that is wrong when that part is not the password.
 */
const EXAMPLE = 'postgres://user:password@host:5432/database';
const SSL_MODES = ['disable', 'prefer', 'require', 'verify-ca', 'verify-full', 'no-verify'];

/** The problem with `text` as a database URL, or undefined when node-postgres will read it as meant. */
export function databaseUrlProblem(text: string): string | undefined {
  // node-postgres reads "/socket/dir database" as a Unix socket directory and a database name.
  if (text.startsWith('/')) return undefined;
  const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):\/\//.exec(text)?.[1];
  if (scheme === undefined)
    return `expected a URL such as ${EXAMPLE}; this one does not start with postgres://`;
  if (!['postgres', 'postgresql'].includes(scheme.toLowerCase())) {
    return `scheme "${scheme}://" is not PostgreSQL's; expected ${EXAMPLE}`;
  }
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    const port = /@(?:\[[^\]]*\]|[^/:@?#]*):([^/?#]*)/.exec(text)?.[1];
    if (port !== undefined && !/^\d{1,5}$/.test(port)) {
      return `port "${port}" is not a number from 1 to 65535; expected ${EXAMPLE}`;
    }
    return `is not a valid URL (a character that needs percent-encoding, e.g. in the password?); expected ${EXAMPLE}`;
  }
  if (url.hostname === '') return `has no host; expected ${EXAMPLE}`;
  if (url.port !== '' && (Number(url.port) < 1 || Number(url.port) > 65535)) {
    return `port "${url.port}" is not a number from 1 to 65535; expected ${EXAMPLE}`;
  }
  const sslmode = url.searchParams.get('sslmode');
  if (sslmode !== null && !SSL_MODES.includes(sslmode)) {
    return `sslmode "${sslmode}" is not one of ${SSL_MODES.join(', ')}`;
  }
  return undefined;
}
