/**
 * An s3rver (S3 API on loopback) for tests, and S3 storages that talk to it.
 *
 * The server comes from tools/s3-server.ts, which fixes the s3rver gaps that
 * would break cloudlocker (listing order, truncated listings, ranges on empty
 * objects). The gaps left (AbortMultipartUpload answers 405,
 * ListMultipartUploads 501, If-None-Match on writes ignored) are found by the
 * backend's probes at init(), so its capabilities tell the conformance suite
 * (abortCleansUp and atomicNoOverwrite false); nothing is declared.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createS3Storage, type S3StorageConfig } from '../../src/storage/s3/index.js';
import type { Storage } from '../../src/storage/storage.js';
import {
  S3RVER_ACCESS_KEY_ID,
  S3RVER_SECRET_ACCESS_KEY,
  startLocalS3Server,
  type LocalS3Server,
} from '../../tools/s3-server.js';

export const TEST_BUCKET = 'cloudlocker-test';
/** s3rver's built-in account (dummy credentials). */
export const S3RVER_CREDENTIALS = { accessKeyId: S3RVER_ACCESS_KEY_ID, secretAccessKey: S3RVER_SECRET_ACCESS_KEY } as const;

export interface StartS3rverOptions {
  readonly buckets?: readonly string[];
  /** Default 0: a free port. */
  readonly port?: number;
  /** Where objects are kept. Default: a new temporary directory, removed by stop(). */
  readonly directory?: string;
}

export interface RunningS3rver {
  readonly endpoint: string;
  readonly port: number;
  readonly directory: string;
  /**
   * Stop like a crash: open connections are cut. Removes a directory the
   * helper created, unless `removeDirectory: false` (to restart() later).
   */
  stop(options?: { removeDirectory?: boolean }): Promise<void>;
  /** Start again on the same port and directory. */
  restart(): Promise<void>;
}

export async function startS3rver(options: StartS3rverOptions = {}): Promise<RunningS3rver> {
  const buckets = options.buckets ?? [TEST_BUCKET];
  const ownDirectory = options.directory === undefined;
  const directory = options.directory ?? (await mkdtemp(path.join(tmpdir(), 'cloudlocker-s3rver-')));
  let server: LocalS3Server | undefined = await startLocalS3Server({ port: options.port ?? 0, directory, buckets });
  const { port, endpoint } = server;

  return {
    endpoint,
    port,
    directory,
    async stop({ removeDirectory = true } = {}) {
      const running = server;
      server = undefined;
      await running?.stop({ abrupt: true });
      if (removeDirectory && ownDirectory) await rm(directory, { recursive: true, force: true });
    },
    async restart() {
      if (server !== undefined) throw new Error('s3rver is still running');
      server = await startLocalS3Server({ port, directory, buckets });
    },
  };
}

export type TestS3StorageOptions = Partial<Omit<S3StorageConfig, 'kind' | 'endpoint'>>;

/**
 * An S3 storage on the given s3rver endpoint: dummy credentials, path-style
 * addressing, region us-east-1, nothing declared (init() probes), three attempts per
 * request so that failure tests take well under a second.
 */
export function createTestS3Storage(endpoint: string, options: TestS3StorageOptions = {}): Storage {
  return createS3Storage({
    kind: 's3',
    bucket: TEST_BUCKET,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: S3RVER_CREDENTIALS,
    // Few attempts, so a dead server is reported at once (connection refused
    // needs no timeout); timeouts roomy enough for a loaded CI machine.
    maxAttempts: 3,
    connectTimeoutMs: 5_000,
    idleTimeoutMs: 20_000,
    ...options,
    endpoint,
  });
}
