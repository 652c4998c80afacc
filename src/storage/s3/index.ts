/**
 * The S3-compatible storage backend (AWS S3, MinIO, Cloudflare R2, Ceph...).
 * See docs/storage.md, "S3-compatible stores".
 */
import type { Storage } from '../storage.js';
import { resolveS3Config, type S3StorageConfig } from './config.js';
import { S3Storage, type S3StorageHooks } from './s3-storage.js';

export { S3ConfigError, S3_DEFAULTS } from './config.js';
export type { S3Credentials, S3ServerGaps, S3StorageConfig } from './config.js';
export { MIN_PART_SIZE, MAX_PARTS } from './object-writer.js';
export type { S3StorageHooks } from './s3-storage.js';

/** Throws S3ConfigError when the configuration cannot work (no bucket, bad endpoint URL...). */
export function createS3Storage(config: S3StorageConfig, hooks: S3StorageHooks = {}): Storage {
  return new S3Storage(resolveS3Config(config), hooks);
}
