/**
 * The parts of s3rver 3.7 (no published types) that tools/s3-server.ts and
 * the tests use. tools/s3-server.ts references this file, so that
 * `npm run build` (which leaves test/ out) sees it too.
 */
declare module 's3rver' {
  interface S3rverBucketConfig {
    name: string;
    configs?: Array<string | Buffer>;
  }

  interface S3rverOptions {
    address?: string;
    port?: number;
    silent?: boolean;
    directory?: string;
    resetOnClose?: boolean;
    allowMismatchedSignatures?: boolean;
    vhostBuckets?: boolean;
    configureBuckets?: S3rverBucketConfig[];
  }

  interface S3rverStoredObject {
    readonly key: string;
    readonly size: number;
    /** Set on ranged reads; no content with a range makes the server answer 416. */
    range?: { start: number; end: number };
    content: import('node:stream').Readable | null;
  }

  interface S3rverGetOptions {
    start?: number;
    end?: number;
  }

  interface S3rverListOptions {
    delimiter?: string;
    startAfter?: string;
    prefix?: string;
    maxKeys?: number;
  }

  interface S3rverListResult {
    objects: S3rverStoredObject[];
    commonPrefixes: string[];
    isTruncated: boolean;
  }

  /** The filesystem store behind the server. */
  interface S3rverStore {
    listObjects(bucket: string, options: S3rverListOptions): Promise<S3rverListResult>;
    /** null when the object does not exist. */
    getObject(bucket: string, key: string, options?: S3rverGetOptions): Promise<S3rverStoredObject | null>;
    putObject(object: S3rverObjectToPut): Promise<{ size: number; md5: string }>;
    putMetadata(bucket: string, key: string, metadata: Record<string, string>, md5: string): Promise<void>;
    getResourcePath(bucket: string, key: string, resource: string): string;
  }

  /** What s3rver's controllers hand putObject. */
  interface S3rverObjectToPut {
    readonly bucket: string;
    readonly key: string;
    readonly metadata: Record<string, string>;
    readonly content: Buffer | import('node:stream').Readable;
  }

  class S3rver {
    constructor(options?: S3rverOptions);
    readonly store: S3rverStore;
    httpServer?: import('node:http').Server;
    run(): Promise<import('node:net').AddressInfo>;
    close(): Promise<void>;
  }

  export = S3rver;
}
