/** S3 errors turned into operator-readable reasons, without the credentials SDK errors may carry. */
import type { S3Config } from '../../config/schema.js';
import { EodError } from '../../core/errors.js';

export interface Explanation {
  code: string;
  reason: string;
  facts: Record<string, unknown>;
  /**
   * A refusal that another attempt with the same config and credentials meets again (a bucket that
   * does not exist, credentials the server does not accept): `fix` says what to change (empty when
   * the reason already does). Retrying only delays the alert.
   */
  permanent?: { fix: string };
}

const CREDENTIALS = 'fix AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY (or AWS_PROFILE, the instance role)';

/**
 * S3's error code and an operator-readable reason, and whether the refusal is permanent; never
 * credentials, which SDK errors may carry as fields.
 */
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
  // HEAD responses have no body, so the SDK can only name them after the status, or not at all
  // ("Unknown", seen for 403 with @aws-sdk/client-s3 3.9xx).
  if ((code === 'Unknown' || code === 'UnknownError') && status !== undefined)
    code = STATUS_NAMES[status] ?? code;
  if (code === 'NotFound' && operation !== 'HeadObject') code = 'NoSuchBucket';
  if (code === 'Forbidden') code = 'AccessDenied';
  const message = typeof err.message === 'string' && err.message !== 'UnknownError' ? err.message : undefined;
  const bucket = `bucket "${config.bucket}"`;
  let reason: string;
  let permanent: Explanation['permanent'];
  switch (code) {
    case 'NoSuchBucket':
      reason = `${bucket} does not exist`;
      permanent = {
        fix: 'create it or correct reports[].s3.bucket',
      };
      break;
    case 'AccessDenied':
      reason = accessDenied(
        config,
        operation,
        message !== undefined && status !== undefined && !isHead(operation),
      );
      break;
    case 'InvalidAccessKeyId':
      reason = 'the server does not know the access key id';
      permanent = { fix: CREDENTIALS };
      break;
    case 'SignatureDoesNotMatch':
      reason = 'the secret access key does not match the access key id';
      permanent = { fix: CREDENTIALS };
      break;
    case 'CredentialsProviderError':
      reason =
        'no AWS credentials found (set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE, or use an instance role)';
      permanent = { fix: '' };
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
    ...(permanent === undefined ? {} : { permanent }),
    facts: {
      bucket: config.bucket,
      ...(operation === undefined ? {} : { operation }),
      s3Code: code,
      ...optional('httpStatus', status),
      ...optional('requestId', err.$metadata?.requestId),
    },
  };
}

const STATUS_NAMES: Readonly<Record<number, string>> = {
  301: 'PermanentRedirect',
  400: 'BadRequest',
  403: 'Forbidden',
  404: 'NotFound',
  412: 'PreconditionFailed',
};

const isHead = (operation: string | undefined) => operation === undefined || operation.startsWith('Head');

/** The S3 action each of our operations needs (README, "S3 permissions"). */
const ACTION: Readonly<Record<string, string>> = {
  HeadObject: 's3:GetObject',
  GetObject: 's3:GetObject',
  PutObject: 's3:PutObject',
  CreateMultipartUpload: 's3:PutObject',
  UploadPart: 's3:PutObject',
  CompleteMultipartUpload: 's3:PutObject',
  AbortMultipartUpload: 's3:AbortMultipartUpload',
  HeadBucket: 's3:ListBucket',
};

/**
 * A 403 names its likely causes. A HEAD answer has no body, so S3 cannot say which one it was:
 * a wrong secret, an unknown key id or a skewed clock read exactly like a missing permission.
 */
function accessDenied(
  config: S3Config,
  operation: string | undefined,
  serverSaidAccessDenied: boolean,
): string {
  const action = ACTION[operation ?? 'HeadBucket'] ?? 'the action';
  const resource =
    operation === undefined || operation === 'HeadBucket'
      ? `arn:aws:s3:::${config.bucket}`
      : `arn:aws:s3:::${config.bucket}/${config.prefix.split('{')[0]}*`;
  const causes = [
    `the identity lacks ${action} on ${resource} (README, "S3 permissions")`,
    ...(operation === 'HeadObject'
      ? ['or lacks s3:ListBucket, without which a missing object also answers 403']
      : []),
    ...(config.sseKmsKeyId !== undefined
      ? [`or lacks kms:GenerateDataKey/kms:Decrypt on ${config.sseKmsKeyId}`]
      : []),
    'or a bucket policy, an SCP or a VPC endpoint policy denies it',
    ...(serverSaidAccessDenied
      ? []
      : [
          'or the secret access key is wrong (a HEAD answer has no body to say SignatureDoesNotMatch)',
          "or this host's clock is more than 15 minutes off",
        ]),
  ];
  return `access denied (HTTP 403) to bucket "${config.bucket}": ${causes.join(', ')}`;
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

/**
 * The EodError of a failed S3 call: `message` (which already holds the reason) followed by the
 * fix of a permanent refusal, which is then not retried (`said`: the message says so).
 */
export function s3Failure(
  message: string,
  explained: Explanation,
  facts: Record<string, unknown>,
  said: { notRetried: boolean } = { notRetried: true },
): EodError {
  const { permanent } = explained;
  if (permanent === undefined) return new EodError('UNAVAILABLE', message, facts);
  const tail = [permanent.fix, ...(said.notRetried ? ['not retried'] : [])].filter((t) => t !== '');
  return new EodError('UNAVAILABLE', tail.length === 0 ? message : `${message}; ${tail.join('; ')}`, facts, {
    retryable: false,
  });
}
