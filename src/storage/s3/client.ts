/**
 * Building the AWS SDK client with the settings this backend depends on.
 */
import { S3Client, type S3ClientConfig } from '@aws-sdk/client-s3';
import type { ResolvedS3Config } from './config.js';
import { RawGetHandler } from './raw-get.js';

/**
 * A client for the ranged GETs of downloads whose HTTP exchange is raw-get.ts's
 * (reading bodies without a buffer per socket read), for a plain-http
 * endpoint; undefined for https (and AWS), where the SDK's handler serves.
 */
export function createRawGetClient(config: ResolvedS3Config): S3Client | undefined {
  if (config.endpoint === undefined || new URL(config.endpoint).protocol !== 'http:') return undefined;
  const handler = new RawGetHandler({ connectTimeoutMs: config.connectTimeoutMs, idleTimeoutMs: config.idleTimeoutMs });
  return createS3Client(config, handler as unknown as S3ClientConfig['requestHandler']);
}

export function createS3Client(config: ResolvedS3Config, requestHandler?: S3ClientConfig['requestHandler']): S3Client {
  const options: S3ClientConfig = {
    region: config.region,
    endpoint: config.endpoint,
    forcePathStyle: config.forcePathStyle,
    // The SDK's own retry strategy ("standard": exponential backoff with full
    // jitter, 50 ms base, 1 s base when throttled, a per-client retry quota)
    // retries 5xx, throttling, timeouts and connection errors.
    retryMode: 'standard',
    maxAttempts: config.maxAttempts,
    requestHandler: requestHandler ?? {
      connectionTimeout: config.connectTimeoutMs,
      // An idle socket, not a total duration: a large part on a slow link may
      // take long, but it keeps moving.
      socketTimeout: config.idleTimeoutMs,
    },
    // Since SDK 3.729 the defaults add CRC checksums and send streamed bodies
    // as aws-chunked, which some S3-compatible servers (s3rver, older MinIO
    // and Ceph) store verbatim: silent corruption. The backend states each
    // part's SHA-256 itself (x-amz-content-sha256, signed) and a single PUT's
    // Content-MD5; the format's GCM tags catch anything a store lets through.
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    // A bucket in another region than the configured one still works.
    followRegionRedirects: true,
  };
  if (config.credentials !== undefined) options.credentials = config.credentials;
  return new S3Client(options);
}
