/** S3 errors turned into operator-readable reasons, without the credentials SDK errors may carry. */
import type { S3Config } from '../../config/schema.js';

export interface Explanation {
  code: string;
  reason: string;
  facts: Record<string, unknown>;
}

/** S3's error code and an operator-readable reason; never credentials, which SDK errors may carry as fields. */
export function explain(error: unknown, config: S3Config, operation: string | undefined): Explanation {
  const status = httpStatus(error);
  const err = error as {
    name?: unknown;
    code?: unknown;
    message?: unknown;
    $metadata?: { requestId?: string };
  };
  const systemCode = typeof err.code === 'string' ? err.code : undefined;
  let code = typeof err.name === 'string' && err.name !== 'Error' ? err.name : (systemCode ?? 'Error');
  // HEAD responses have no body, so the SDK can only name them after the status.
  if (code === 'NotFound' && operation !== 'HeadObject') code = 'NoSuchBucket';
  if (code === 'Forbidden') code = 'AccessDenied';
  const message = typeof err.message === 'string' && err.message !== 'UnknownError' ? err.message : undefined;
  const bucket = `bucket "${config.bucket}"`;
  let reason: string;
  switch (code) {
    case 'NoSuchBucket':
      reason = `${bucket} does not exist`;
      break;
    case 'AccessDenied':
      reason =
        operation === 'HeadObject'
          ? `access denied to ${bucket} (without s3:ListBucket a missing object also reads as 403); check the credentials and the bucket policy`
          : `access denied to ${bucket}; check the credentials and the bucket policy`;
      break;
    case 'InvalidAccessKeyId':
      reason = 'the server does not know the access key id';
      break;
    case 'SignatureDoesNotMatch':
      reason = 'the secret access key does not match the access key id';
      break;
    case 'CredentialsProviderError':
      reason =
        'no AWS credentials found (set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE, or use an instance role)';
      break;
    case 'PermanentRedirect':
    case 'AuthorizationHeaderMalformed':
      reason = `${bucket} is not in region "${config.region}"`;
      break;
    case 'TimeoutError':
      reason = 'no answer in time';
      break;
    default:
      if (systemCode !== undefined && !(error instanceof Object && '$metadata' in error)) {
        reason = `cannot reach ${config.endpoint ?? 'S3'}: ${message ?? systemCode}`;
      } else {
        reason = message ?? `HTTP ${status ?? 'error'}`;
      }
  }
  return {
    code,
    reason,
    facts: {
      bucket: config.bucket,
      ...(operation === undefined ? {} : { operation }),
      s3Code: code,
      ...optional('httpStatus', status),
      ...optional('requestId', err.$metadata?.requestId),
    },
  };
}

export function httpStatus(error: unknown): number | undefined {
  const meta = (error as { $metadata?: { httpStatusCode?: unknown } } | undefined)?.$metadata;
  return typeof meta?.httpStatusCode === 'number' ? meta.httpStatusCode : undefined;
}

export function isPreconditionFailed(error: unknown): boolean {
  return (
    (error as { name?: unknown } | undefined)?.name === 'PreconditionFailed' || httpStatus(error) === 412
  );
}

export function optional<K extends string, V>(name: K, value: V | undefined): { [P in K]?: V } {
  return (value === undefined ? {} : { [name]: value }) as { [P in K]?: V };
}
