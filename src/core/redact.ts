/** Secrets shorter than this would turn ordinary words and numbers in logs into `***`. */
const MIN_SECRET_LENGTH = 4;

export const REDACTED = '***';

/**
 * Replaces every occurrence of each secret in `text` with `***`. Longer secrets go first, so a
 * connection string is hidden whole rather than leaving all but its password part visible.
 */
export function redactSecrets(text: string, secrets: readonly string[]): string {
  let result = text;
  for (const secret of usableSecrets(secrets)) {
    if (result.includes(secret)) result = result.split(secret).join(REDACTED);
  }
  return result;
}

/** The secrets worth matching, deduplicated, longest first. */
export function usableSecrets(secrets: readonly string[]): string[] {
  return [...new Set(secrets)]
    .filter((s) => s.length >= MIN_SECRET_LENGTH)
    .sort((a, b) => b.length - a.length);
}
