/**
 * The S3 backend's configuration: what the config layer hands over, its
 * defaults, and the normalised form the rest of the backend uses.
 *
 * Credentials are deliberately not part of the normal configuration: they
 * come from the AWS SDK's standard chain (AWS_ACCESS_KEY_ID /
 * AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN, AWS_PROFILE and the shared
 * config files, SSO, web identity, instance roles). The `credentials` field
 * exists for tests against a local server.
 */

/**
 * Deviations of an S3-compatible server from the S3 API that a deployment
 * may declare. init() finds these two by probing anyway (Ceph RGW 16.2
 * ignores If-None-Match on CompleteMultipartUpload; s3rver ignores it
 * everywhere and refuses AbortMultipartUpload); see docs/storage.md.
 */
export interface S3ServerGaps {
  /**
   * AbortMultipartUpload is refused (s3rver answers 405), so an aborted write
   * leaves its parts on the server. Makes `capabilities.abortCleansUp` false.
   */
  readonly noAbortMultipartUpload?: boolean;
  /**
   * `If-None-Match: *` on PutObject / CompleteMultipartUpload is ignored
   * (s3rver) or refused: the header is then not sent, and `overwrite: false`
   * is only checked with HeadObject just before publishing, not enforced
   * atomically. Makes `capabilities.atomicNoOverwrite` false.
   */
  readonly noConditionalWrites?: boolean;
}

export interface S3Credentials {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly sessionToken?: string;
}

export interface S3StorageConfig {
  readonly kind: 's3';
  readonly bucket: string;
  /** Key prefix every object goes under; a trailing "/" is added when missing. */
  readonly prefix?: string;
  /** Default: the SDK's chain (AWS_REGION, profile); "us-east-1" with a custom endpoint. */
  readonly region?: string;
  /** For S3-compatible stores (MinIO, R2, Ceph, s3rver): e.g. "https://minio.example:9000". */
  readonly endpoint?: string;
  /** Address buckets as endpoint/bucket instead of bucket.endpoint (MinIO, s3rver). */
  readonly forcePathStyle?: boolean;
  /** Attempts per request, the first included, before STORAGE_UNAVAILABLE. Default 5. */
  readonly maxAttempts?: number;
  /** Give up connecting after this long (then retry). Default 10 s. */
  readonly connectTimeoutMs?: number;
  /** Give up on a request whose socket stays idle this long (then retry). Default 60 s. */
  readonly idleTimeoutMs?: number;
  /**
   * init() aborts multipart uploads under the prefix that were started more
   * than this long ago. Default 24 hours, so that a long upload by another
   * cloudlocker sharing the prefix is not cut off.
   */
  readonly staleUploadAgeMs?: number;
  /**
   * On a store that needs name claims for overwrite: false (see claims.ts), a
   * claim left unchanged this long by a writer is taken as abandoned (the
   * writer crashed). Default 60 s.
   */
  readonly claimLeaseMs?: number;
  /**
   * Declared deviations, for a server whose deviations probing cannot find.
   * init() probes conditional writes and AbortMultipartUpload anyway; a
   * declared gap only ever removes a capability.
   */
  readonly serverGaps?: S3ServerGaps;
  /** For tests only: fixed credentials instead of the SDK's chain. */
  readonly credentials?: S3Credentials;
}

export const S3_DEFAULTS = {
  maxAttempts: 5,
  connectTimeoutMs: 10_000,
  idleTimeoutMs: 60_000,
  staleUploadAgeMs: 24 * 60 * 60 * 1000,
  claimLeaseMs: 60_000,
} as const;

/** The configuration after defaults and normalisation. */
export interface ResolvedS3Config {
  readonly bucket: string;
  /** "" or a prefix ending in "/". */
  readonly keyPrefix: string;
  readonly region: string | undefined;
  readonly endpoint: string | undefined;
  readonly forcePathStyle: boolean;
  readonly maxAttempts: number;
  readonly connectTimeoutMs: number;
  readonly idleTimeoutMs: number;
  readonly staleUploadAgeMs: number;
  readonly claimLeaseMs: number;
  readonly gaps: Required<S3ServerGaps>;
  readonly credentials: S3Credentials | undefined;
  /** s3://bucket/prefix/ plus the endpoint's origin when custom; never credentials. */
  readonly location: string;
}

export class S3ConfigError extends Error {
  override readonly name = 'S3ConfigError';
}

export function resolveS3Config(config: S3StorageConfig): ResolvedS3Config {
  const bucket = config.bucket;
  if (typeof bucket !== 'string' || bucket.length === 0 || bucket.includes('/')) {
    throw new S3ConfigError('The S3 bucket must be a bucket name (no "/"): set --s3-bucket.');
  }
  const keyPrefix = normalisePrefix(config.prefix ?? '');
  const endpoint = config.endpoint === undefined || config.endpoint === '' ? undefined : config.endpoint;
  const endpointOrigin = endpoint === undefined ? undefined : publicEndpoint(endpoint);
  return {
    bucket,
    keyPrefix,
    // S3-compatible servers rarely care about the region, but the signature needs one.
    region: config.region ?? (endpoint === undefined ? undefined : 'us-east-1'),
    endpoint,
    forcePathStyle: config.forcePathStyle ?? false,
    maxAttempts: positiveInteger(config.maxAttempts, S3_DEFAULTS.maxAttempts, 'maxAttempts'),
    connectTimeoutMs: positiveInteger(config.connectTimeoutMs, S3_DEFAULTS.connectTimeoutMs, 'connectTimeoutMs'),
    idleTimeoutMs: positiveInteger(config.idleTimeoutMs, S3_DEFAULTS.idleTimeoutMs, 'idleTimeoutMs'),
    staleUploadAgeMs: nonNegativeNumber(config.staleUploadAgeMs, S3_DEFAULTS.staleUploadAgeMs, 'staleUploadAgeMs'),
    claimLeaseMs: positiveInteger(config.claimLeaseMs, S3_DEFAULTS.claimLeaseMs, 'claimLeaseMs'),
    gaps: {
      noAbortMultipartUpload: config.serverGaps?.noAbortMultipartUpload ?? false,
      noConditionalWrites: config.serverGaps?.noConditionalWrites ?? false,
    },
    credentials: config.credentials,
    location: `s3://${bucket}/${keyPrefix}` + (endpointOrigin === undefined ? '' : ` (endpoint ${endpointOrigin})`),
  };
}

/** "a/b" and "/a/b/" both become "a/b/"; "" stays "". */
function normalisePrefix(prefix: string): string {
  const trimmed = prefix.replace(/^\/+/, '');
  if (trimmed === '') return '';
  if (trimmed.split('/').slice(0, -1).some((segment) => segment === '') || trimmed.includes('\\')) {
    throw new S3ConfigError('The S3 prefix must not contain empty segments ("//") or backslashes: fix --s3-prefix.');
  }
  return trimmed.endsWith('/') ? trimmed : `${trimmed}/`;
}

/** The endpoint without user info, query or fragment: safe to show. */
function publicEndpoint(endpoint: string): string {
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch {
    throw new S3ConfigError('The S3 endpoint must be a URL such as https://minio.example.com:9000: fix --s3-endpoint.');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new S3ConfigError('The S3 endpoint must start with http:// or https://: fix --s3-endpoint.');
  }
  const path = url.pathname === '/' ? '' : url.pathname;
  return `${url.protocol}//${url.host}${path}`;
}

function positiveInteger(value: number | undefined, fallback: number, what: string): number {
  if (value === undefined) return fallback;
  if (!Number.isInteger(value) || value < 1) throw new S3ConfigError(`S3 ${what} must be a positive integer.`);
  return value;
}

function nonNegativeNumber(value: number | undefined, fallback: number, what: string): number {
  if (value === undefined) return fallback;
  if (!Number.isFinite(value) || value < 0) throw new S3ConfigError(`S3 ${what} must be a number of at least 0.`);
  return value;
}
