/** SQLSTATE codes we act on (https://www.postgresql.org/docs/current/errcodes-appendix.html). */
export const SQLSTATE = Object.freeze({
  UNIQUE_VIOLATION: '23505',
  LOCK_NOT_AVAILABLE: '55P03',
  UNDEFINED_TABLE: '42P01',
  DUPLICATE_TABLE: '42P07',
  QUERY_CANCELED: '57014',
  IDLE_IN_TRANSACTION_TIMEOUT: '25P03',
  ADMIN_SHUTDOWN: '57P01',
});

export function sqlState(error: unknown): string | undefined {
  if (typeof error === 'object' && error !== null && 'code' in error) {
    const code = (error as { code: unknown }).code;
    return typeof code === 'string' ? code : undefined;
  }
  return undefined;
}
