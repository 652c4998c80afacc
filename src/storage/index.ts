/**
 * The storage layer's entry point: the contract, and a factory that builds
 * the configured backend. The S3 backend is loaded only when configured, so a
 * local-only server never loads the AWS SDK.
 */
import { LocalStorage } from './local/local-storage.js';
import type { S3StorageConfig } from './s3/index.js';
import type { Storage } from './storage.js';

export type * from './storage.js';
export { LocalStorage, type LocalStorageOptions } from './local/local-storage.js';

export interface LocalStorageConfig {
  readonly kind: 'local';
  /** The store directory (`<dataDir>/store` or `--store-dir`). */
  readonly directory: string;
}

export type { S3StorageConfig } from './s3/index.js';

export type StorageConfig = LocalStorageConfig | S3StorageConfig;

export interface StorageHooks {
  /** Something the operator should know that does not stop the backend (a stale upload it could not abort). */
  readonly onWarning?: (message: string) => void;
}

/** The backend `config` names, not yet initialised: call init() before use. */
export async function createStorage(config: StorageConfig, hooks: StorageHooks = {}): Promise<Storage> {
  switch (config.kind) {
    case 'local':
      return new LocalStorage({ directory: config.directory });
    case 's3': {
      // Loaded only when configured, so a local-only server never loads the AWS SDK.
      const { createS3Storage } = await import('./s3/index.js').catch(explainMissingS3Sdk);
      return createS3Storage(config, hooks.onWarning === undefined ? {} : { onWarning: hooks.onWarning });
    }
    default:
      // Reachable from untyped callers (a config file read by JavaScript).
      throw new Error(`Unknown storage kind: ${String((config as { kind: unknown }).kind)}`);
  }
}

/**
 * The AWS SDK is an optional peer dependency (most of an install's size, and
 * a local-only app never loads it): say how to add it when S3 is configured
 * without it. (The bundle, npm run bundle, carries it in lazy chunks.)
 */
function explainMissingS3Sdk(err: unknown): never {
  const code = (err as NodeJS.ErrnoException).code;
  if ((code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') && String((err as Error).message).includes('@aws-sdk/')) {
    throw new Error('The S3 store needs the AWS SDK, an optional dependency of cloudlocker: npm install @aws-sdk/client-s3 (the version in cloudlocker\'s peerDependencies).');
  }
  throw err;
}
