/**
 * The storage layer's entry point: the contract, and a factory that builds
 * the configured backend. The S3 backend is loaded only when configured, so a
 * local-only server never loads the AWS SDK.
 */
import { LocalStorage } from './local/local-storage.js';
import type { Storage } from './storage.js';

export type * from './storage.js';
export { LocalStorage, type LocalStorageOptions } from './local/local-storage.js';

export interface LocalStorageConfig {
  readonly kind: 'local';
  /** The store directory (`<dataDir>/store` or `--store-dir`). */
  readonly directory: string;
}

/**
 * Settings of the S3 backend; kept loose here until src/storage/s3 exports
 * its own S3StorageConfig, which createS3Storage checks.
 */
export type S3StorageConfigLoose = { readonly kind: 's3' } & Record<string, unknown>;

export type StorageConfig = LocalStorageConfig | S3StorageConfigLoose;

interface S3Module {
  createS3Storage(config: S3StorageConfigLoose): Storage;
}

/** The backend `config` names, not yet initialised: call init() before use. */
export async function createStorage(config: StorageConfig): Promise<Storage> {
  switch (config.kind) {
    case 'local':
      return new LocalStorage({ directory: (config as LocalStorageConfig).directory });
    case 's3': {
      // A variable specifier keeps the type check independent of the S3 module's exact types.
      const specifier = './s3/index.js';
      const s3 = (await import(specifier)) as S3Module;
      return s3.createS3Storage(config);
    }
    default:
      throw new Error(`Unknown storage kind: ${String((config as { kind: unknown }).kind)}`);
  }
}
