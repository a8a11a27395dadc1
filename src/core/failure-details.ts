/** The original design's failure_details column is VARCHAR(255): cut cleanly, never mid code point. */
export const FAILURE_DETAILS_MAX = 255;

export function failureDetails(message: string, max = FAILURE_DETAILS_MAX): string {
  const oneLine = message.replace(/\s+/g, ' ').trim();
  const chars = Array.from(oneLine);
  if (chars.length <= max) return oneLine;
  return `${chars.slice(0, max - 1).join('')}…`;
}
