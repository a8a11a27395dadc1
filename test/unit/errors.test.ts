import { describe, expect, it } from 'vitest';
import { EodError, exitCodeFor, isRetryable, isRetryableCode } from '../../src/core/errors.js';

describe('EodError.retryable', () => {
  it('is false by default for conflicts, rejected host keys and bad config', () => {
    for (const code of [
      'REMOTE_CONFLICT',
      'ARCHIVE_CONFLICT',
      'HOST_KEY_REJECTED',
      'CONFIG_INVALID',
    ] as const) {
      expect(new EodError(code, 'x').retryable, code).toBe(false);
      expect(isRetryableCode(code), code).toBe(false);
    }
  });
  it('is true by default for passing failures', () => {
    for (const code of ['UNAVAILABLE', 'STEP_FAILED', 'CONTENT_MISMATCH', 'FAILPOINT'] as const) {
      expect(new EodError(code, 'x').retryable, code).toBe(true);
    }
  });
  it('can be overridden per error, keeping code, facts and cause', () => {
    const cause = new Error('socket');
    const permanent = new EodError(
      'UNAVAILABLE',
      'gone for good',
      { host: 'h' },
      { retryable: false, cause },
    );
    expect(permanent.retryable).toBe(false);
    expect(permanent.code).toBe('UNAVAILABLE');
    expect(permanent.facts).toEqual({ host: 'h' });
    expect(permanent.cause).toBe(cause);
    expect(new EodError('CONFIG_INVALID', 'x', {}, { retryable: true }).retryable).toBe(true);
    expect(exitCodeFor(permanent)).toBe(1);
  });
  it('isRetryable trusts the error and treats foreign errors as passing', () => {
    expect(isRetryable(new EodError('REMOTE_CONFLICT', 'x'))).toBe(false);
    expect(isRetryable(new EodError('UNAVAILABLE', 'x'))).toBe(true);
    expect(isRetryable(new Error('ECONNRESET'))).toBe(true);
    expect(isRetryable('string thrown')).toBe(true);
  });
});
