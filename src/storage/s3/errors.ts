/**
 * Turning AWS SDK errors into CloudlockerErrors.
 *
 * SDK errors carry the server's message and, for some codes, fields such as
 * the access key id, the string to sign or the canonical request. None of
 * that reaches a CloudlockerError: messages are written here, naming the
 * store's location and the S3 error code only, and the `cause` is a fresh
 * summary instead of the SDK error itself (loggers serialise causes).
 */
import { CloudlockerError } from '../../errors.js';

/** What this backend reads from an SDK error. */
export interface S3ErrorSummary {
  /** The S3 error code ("NoSuchKey", "SlowDown"...), a Node error code ("ECONNREFUSED") or the error's name. */
  readonly code: string;
  readonly status: number | undefined;
  readonly attempts: number | undefined;
  readonly requestId: string | undefined;
}

interface SdkErrorFields {
  name?: unknown;
  code?: unknown;
  Code?: unknown;
  message?: unknown;
  $metadata?: { httpStatusCode?: unknown; attempts?: unknown; requestId?: unknown };
}

export function summariseS3Error(err: unknown): S3ErrorSummary {
  const fields = (typeof err === 'object' && err !== null ? err : {}) as SdkErrorFields;
  const nodeCode = typeof fields.code === 'string' ? fields.code : undefined;
  const s3Code = typeof fields.Code === 'string' ? fields.Code : undefined;
  const name = typeof fields.name === 'string' ? fields.name : undefined;
  // The SDK wraps errors it does not recognise as Errors (a Node error from
  // another realm, as under Jest) into a message: "...wrapper for Error:
  // connect ECONNREFUSED ...". The code is then only in the message.
  const wrappedCode =
    typeof fields.message === 'string' ? /^AWS SDK error wrapper for .*?\b(E[A-Z_]{3,})\b/.exec(fields.message)?.[1] : undefined;
  // Plain Node errors are named "Error"; their code says more.
  const code =
    (name !== undefined && name !== 'Error' ? name : undefined) ?? s3Code ?? nodeCode ?? wrappedCode ?? name ?? 'Error';
  const metadata = fields.$metadata;
  return {
    code,
    status: typeof metadata?.httpStatusCode === 'number' ? metadata.httpStatusCode : undefined,
    attempts: typeof metadata?.attempts === 'number' ? metadata.attempts : undefined,
    requestId: typeof metadata?.requestId === 'string' ? metadata.requestId : undefined,
  };
}

const NOT_FOUND_CODES = new Set(['NotFound', 'NoSuchKey']);

/** The object does not exist (not: the bucket does not exist). */
export function isObjectNotFound(err: unknown): boolean {
  const { code, status } = summariseS3Error(err);
  return NOT_FOUND_CODES.has(code) || (status === 404 && code !== 'NoSuchBucket' && code !== 'NoSuchUpload');
}

export function isPreconditionFailed(err: unknown): boolean {
  const { code, status } = summariseS3Error(err);
  return code === 'PreconditionFailed' || status === 412;
}

/** AWS answers 409 when two conditional writes of one key race. */
export function isConditionalConflict(err: unknown): boolean {
  const { code, status } = summariseS3Error(err);
  return code === 'ConditionalRequestConflict' || status === 409;
}

export function isInvalidRange(err: unknown): boolean {
  const { code, status } = summariseS3Error(err);
  return code === 'InvalidRange' || status === 416;
}

export function isNoSuchUpload(err: unknown): boolean {
  return summariseS3Error(err).code === 'NoSuchUpload';
}

/**
 * ListParts' answer for an upload that does not exist: NoSuchUpload, or
 * NoSuchKey from Ceph RGW 16.2.
 */
export function isUploadGone(err: unknown): boolean {
  const { code } = summariseS3Error(err);
  return code === 'NoSuchUpload' || code === 'NoSuchKey';
}

/** The server does not offer this call, or these credentials may not make it. */
export function isRefusal(err: unknown): boolean {
  const { code, status } = summariseS3Error(err);
  return (
    code === 'NotImplemented' ||
    code === 'MethodNotAllowed' ||
    code === 'AccessDenied' ||
    status === 501 ||
    status === 405 ||
    status === 403
  );
}

export function isAbort(err: unknown, signal?: AbortSignal): boolean {
  return signal?.aborted === true || (err instanceof Error && err.name === 'AbortError');
}

const DROPPED_CODES = new Set(['ECONNRESET', 'EPIPE', 'ECONNABORTED']);
const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
]);
const CREDENTIAL_CODES = new Set([
  'InvalidAccessKeyId',
  'SignatureDoesNotMatch',
  'ExpiredToken',
  'InvalidToken',
  'TokenRefreshRequired',
  'AuthorizationHeaderMalformed',
]);
const THROTTLING_CODES = new Set(['SlowDown', 'Throttling', 'ThrottlingException', 'RequestLimitExceeded', 'TooManyRequests']);
const FULL_CODES = new Set(['XMinioStorageFull', 'StorageFull', 'QuotaExceeded']);

export interface S3ErrorContext {
  /** The store's public location (s3://bucket/prefix/...). */
  readonly location: string;
  /** What was being done, in words: "reading an object". */
  readonly doing: string;
  /**
   * Which reasons the contract allows: "write" (beginWrite, writePart) may
   * report PERMISSION_DENIED and NO_SPACE, "publish" (complete) NO_SPACE
   * only, "read" (everything else) neither.
   */
  readonly stage: 'read' | 'write' | 'publish';
  readonly signal?: AbortSignal | undefined;
}

export function toStorageError(err: unknown, context: S3ErrorContext): CloudlockerError {
  if (err instanceof CloudlockerError) return err;
  const summary = summariseS3Error(err);
  const cause = new Error(
    `S3 ${summary.code}` +
      (summary.status === undefined ? '' : ` (HTTP ${summary.status})`) +
      (summary.requestId === undefined ? '' : `, request id ${summary.requestId}`),
  );
  const options = { cause, details: { s3Code: summary.code } };
  if (isAbort(err, context.signal)) return new CloudlockerError('CANCELLED', undefined, { cause });

  const { location, doing } = context;
  const { code, status } = summary;
  const attempts = summary.attempts !== undefined && summary.attempts > 1 ? ` after ${summary.attempts} attempts` : '';
  // "AccessDenied, HTTP 403"; answers without a body (HEAD) have no code.
  const what = [code === 'Unknown' ? undefined : code, status === undefined ? undefined : `HTTP ${status}`]
    .filter((part) => part !== undefined)
    .join(', ');
  const unavailable = (message: string): CloudlockerError => new CloudlockerError('STORAGE_UNAVAILABLE', message, options);

  if (code === 'CredentialsProviderError') {
    return unavailable(
      `No S3 credentials were found for ${location}: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE.`,
    );
  }
  if (err instanceof Error && /region is missing/i.test(err.message)) {
    return unavailable(`No region is configured for ${location}: set --s3-region or AWS_REGION.`);
  }
  if (DROPPED_CODES.has(code)) {
    return unavailable(
      `The S3 store ${location} dropped the connection while ${doing} (${code}${attempts}): check the network, then try again.`,
    );
  }
  if (NETWORK_CODES.has(code)) {
    return unavailable(
      `The S3 store ${location} could not be reached (${code}${attempts}): check that it is running and reachable, then try again.`,
    );
  }
  // raw-get.ts refused an answer (malformed head, not the range asked for, bytes nobody asked for).
  if (code === 'EPROTO') {
    return unavailable(`The S3 store ${location} sent a malformed or unexpected answer while ${doing}${attempts}: try again later.`);
  }
  if (code === 'TimeoutError' || code === 'RequestTimeout') {
    return unavailable(`The S3 store ${location} did not answer in time${attempts} while ${doing}: try again later.`);
  }
  if (code === 'NoSuchBucket') {
    return unavailable(`The bucket of ${location} does not exist: create it, or fix --s3-bucket.`);
  }
  if (CREDENTIAL_CODES.has(code)) {
    return unavailable(
      `The S3 store ${location} rejected the credentials (${code}): check AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY or the AWS profile.`,
    );
  }
  if (code === 'AccessDenied' || status === 403) {
    const message = `The S3 store ${location} refused access while ${doing} (${what}): check the permissions of the credentials (see docs/storage.md).`;
    return new CloudlockerError(context.stage === 'write' ? 'PERMISSION_DENIED' : 'STORAGE_UNAVAILABLE', message, options);
  }
  if (context.stage !== 'read' && FULL_CODES.has(code)) {
    return new CloudlockerError('NO_SPACE', `The S3 store ${location} is full (${code}): free some space and try again.`, options);
  }
  if (THROTTLING_CODES.has(code) || status === 429) {
    return unavailable(`The S3 store ${location} kept asking to slow down (${code}${attempts}): try again later.`);
  }
  if (status !== undefined && status >= 500) {
    return unavailable(`The S3 store ${location} failed while ${doing} (${what}${attempts}): try again later.`);
  }
  return unavailable(`The S3 store ${location} refused a request while ${doing} (${what || code}).`);
}
