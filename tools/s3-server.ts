/// <reference path="../test/types/s3rver.d.ts" />
/**
 * A local S3-compatible server (s3rver) for development and tests.
 *
 *   npm run build && node dist/tools/s3-server.js [port] [--bucket NAME] [--directory DIR] [--data-dir DIR]
 *
 * Listens on 127.0.0.1 (port 4569 unless given), keeps objects in
 * <data dir>/s3rver, and prints what `cloudlocker serve` needs to use it.
 * s3rver is a development dependency: this works in a checkout, not in an
 * installed package.
 *
 * s3rver 3.7 differs from S3 in ways that break cloudlocker; startLocalS3Server
 * fixes five of them in the running server (see fixS3rver below). The rest
 * (no AbortMultipartUpload, no ListMultipartUploads, If-None-Match ignored) are
 * declared to the backend as server gaps by the tests; docs/storage.md lists them.
 */
import crypto from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { pathToFileURL } from 'node:url';
import S3rver from 's3rver';
import { platformDataDir } from '../src/config/data-dir.js';
import { compareUtf8 } from '../src/storage/names.js';

export const DEFAULT_S3_PORT = 4569;
export const DEFAULT_S3_BUCKET = 'cloudlocker';
/** s3rver's built-in account; it accepts no other. */
export const S3RVER_ACCESS_KEY_ID = 'S3RVER';
export const S3RVER_SECRET_ACCESS_KEY = 'S3RVER';

export interface LocalS3ServerOptions {
  readonly port: number;
  readonly directory: string;
  readonly buckets: readonly string[];
  /** Default 127.0.0.1. */
  readonly address?: string;
  /** Log every request (default false). */
  readonly verbose?: boolean;
}

export interface LocalS3Server {
  readonly endpoint: string;
  readonly port: number;
  /** Stop; with `abrupt`, cut open connections as a crash would. */
  stop(options?: { abrupt?: boolean }): Promise<void>;
}

export async function startLocalS3Server(options: LocalS3ServerOptions): Promise<LocalS3Server> {
  const address = options.address ?? '127.0.0.1';
  const server = new S3rver({
    port: options.port,
    address,
    silent: options.verbose !== true,
    directory: options.directory,
    configureBuckets: options.buckets.map((name) => ({ name })),
  });
  fixS3rver(server);
  const { port } = await server.run();
  return {
    endpoint: `http://${address}:${port}`,
    port,
    async stop({ abrupt = false } = {}) {
      if (abrupt) server.httpServer?.closeAllConnections();
      await server.close();
    },
  };
}

/**
 * Make s3rver answer as S3 does where cloudlocker depends on it:
 * - listings in UTF-8 byte order (s3rver walks its directory tree, so "a/b"
 *   came before "a" and "a-b", and StartAfter then skipped keys);
 * - truncated listings at all (its continuation token uses single DES, which
 *   OpenSSL 3 no longer offers by default: every truncated ListObjectsV2
 *   failed with 500);
 * - a range on an empty object is 416 (s3rver announced one byte and sent
 *   none, leaving the client waiting);
 * - a PUT is whole and atomic, and answered once written (s3rver wrote in
 *   place and answered first: concurrent PUTs of one key could mix);
 * - keys up to S3's 1024 bytes (s3rver makes each key segment a file name,
 *   and file systems stop at 255 bytes).
 */
function fixS3rver(server: S3rver): void {
  useTripleDesForSingleDes();
  const store = server.store;
  splitLongSegmentsIntoDirectories(store.constructor as unknown as KeyPathCodec);

  const listObjects = store.listObjects.bind(store);
  store.listObjects = async (bucket, options) => {
    // Delimited listings are not used by cloudlocker; left as they are.
    if (options.delimiter) return listObjects(bucket, options);
    const all = await listObjects(bucket, { ...options, startAfter: undefined, maxKeys: Infinity });
    const startAfter = options.startAfter ?? '';
    const sorted = all.objects
      .filter((object) => startAfter === '' || compareUtf8(object.key, startAfter) > 0)
      .sort((a, b) => compareUtf8(a.key, b.key));
    const maxKeys = options.maxKeys ?? Infinity;
    return { objects: sorted.slice(0, maxKeys), commonPrefixes: all.commonPrefixes, isTruncated: sorted.length > maxKeys };
  };

  // s3rver writes an object in place and answers before the write has
  // finished: two PUTs of one key could leave a mix of both, and a GET
  // right after a PUT could read a short object. S3 makes each PUT whole
  // and atomic; so does this: a temporary file (whose name s3rver's listing
  // ignores), renamed once written.
  store.putObject = async (object) => {
    const objectPath = store.getResourcePath(object.bucket, object.key, 'object');
    await mkdir(path.dirname(objectPath), { recursive: true });
    const temporary = `${objectPath}.${crypto.randomBytes(8).toString('hex')}.partial`;
    const md5 = crypto.createHash('md5');
    let size = 0;
    const content = Buffer.isBuffer(object.content) ? Readable.from([object.content]) : object.content;
    try {
      await pipeline(
        content,
        new Transform({
          transform(chunk: Buffer, _encoding, callback) {
            md5.update(chunk);
            size += chunk.length;
            callback(null, chunk);
          },
        }),
        createWriteStream(temporary),
      );
      await rename(temporary, objectPath);
    } catch (err) {
      await rm(temporary, { force: true });
      throw err;
    }
    const digest = md5.digest('hex');
    await store.putMetadata(object.bucket, object.key, object.metadata, digest);
    return { size, md5: digest };
  };

  const getObject = store.getObject.bind(store);
  store.getObject = async (bucket, key, options) => {
    const object = await getObject(bucket, key, options);
    if (object !== null && object.range !== undefined && object.size === 0) {
      // No content with a range is how s3rver's controller says 416.
      object.content?.destroy();
      object.content = null;
    }
    return object;
  };
}

/** FilesystemStore's static key <-> path mapping. */
interface KeyPathCodec {
  encodeKeyPath(key: string): string;
  decodeKeyPath(keyPath: string): string;
  cloudlockerLongSegments?: true;
}

/** Longest piece of a key segment kept in one file name, leaving room for s3rver's suffixes. */
const MAX_PIECE_BYTES = 200;
/** Ends a piece of a longer segment. A control character: never in a cloudlocker name. */
const PIECE_BREAK = '\u0001/';

function splitLongSegmentsIntoDirectories(codec: KeyPathCodec): void {
  if (codec.cloudlockerLongSegments) return;
  codec.cloudlockerLongSegments = true;
  const encode = codec.encodeKeyPath.bind(codec);
  const decode = codec.decodeKeyPath.bind(codec);
  codec.encodeKeyPath = (key) => encode(key).split('/').map(splitSegment).join('/');
  codec.decodeKeyPath = (keyPath) => decode(keyPath.split(PIECE_BREAK).join(''));
}

function splitSegment(segment: string): string {
  if (Buffer.byteLength(segment, 'utf8') <= MAX_PIECE_BYTES) return segment;
  const pieces: string[] = [];
  let piece = '';
  for (const character of segment) {
    if (Buffer.byteLength(piece + character, 'utf8') > MAX_PIECE_BYTES) {
      pieces.push(piece);
      piece = '';
    }
    piece += character;
  }
  pieces.push(piece);
  return pieces.join(PIECE_BREAK);
}

let tripleDesInstalled = false;

/**
 * DES with one 8-byte key equals 3DES with that key three times; 3DES is
 * still in OpenSSL 3's default provider. Only the "des" algorithm is
 * redirected; every other call goes through unchanged, options included.
 */
function useTripleDesForSingleDes(): void {
  if (tripleDesInstalled) return;
  tripleDesInstalled = true;
  type CipherFactory = (algorithm: string, key: crypto.CipherKey, ...rest: unknown[]) => unknown;
  const patched = crypto as unknown as { createCipheriv: CipherFactory; createDecipheriv: CipherFactory };
  const redirect = (original: CipherFactory): CipherFactory =>
    function (this: unknown, algorithm, key, ...rest) {
      if (algorithm !== 'des') return original.call(this, algorithm, key, ...rest);
      const bytes = Buffer.from(key as Uint8Array);
      return original.call(this, 'des-ede3-cbc', Buffer.concat([bytes, bytes, bytes]), ...rest);
    };
  patched.createCipheriv = redirect(patched.createCipheriv);
  patched.createDecipheriv = redirect(patched.createDecipheriv);
}

interface CliOptions {
  readonly port: number;
  readonly bucket: string;
  readonly directory: string;
  readonly verbose: boolean;
}

function parseArguments(argv: readonly string[]): CliOptions {
  let port = DEFAULT_S3_PORT;
  let bucket = DEFAULT_S3_BUCKET;
  let directory: string | undefined;
  let dataDir = process.env['CLOUDLOCKER_DATA_DIR'] || undefined;
  let verbose = false;
  for (let i = 0; i < argv.length; i++) {
    const argument = argv[i]!;
    const value = (): string => {
      const next = argv[++i];
      if (next === undefined) throw new Error(`${argument} needs a value`);
      return next;
    };
    if (argument === '--bucket') bucket = value();
    else if (argument === '--directory') directory = value();
    else if (argument === '--data-dir') dataDir = value();
    else if (argument === '--verbose') verbose = true;
    else if (argument === '--help' || argument === '-h') {
      process.stdout.write(
        'Usage: node dist/tools/s3-server.js [port] [--bucket NAME] [--directory DIR] [--data-dir DIR] [--verbose]\n',
      );
      process.exit(0);
    } else if (/^\d+$/.test(argument) && Number(argument) <= 65535) port = Number(argument);
    else throw new Error(`unknown argument ${argument}`);
  }
  if (bucket.length < 3) throw new Error('bucket names need at least 3 characters');
  return {
    port,
    bucket,
    directory: path.resolve(directory ?? path.join(dataDir ?? platformDataDir(), 's3rver')),
    verbose,
  };
}

async function main(): Promise<void> {
  let options: CliOptions;
  try {
    options = parseArguments(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`s3-server: ${(err as Error).message}\n`);
    process.exitCode = 2;
    return;
  }
  const server = await startLocalS3Server({
    port: options.port,
    directory: options.directory,
    buckets: [options.bucket],
    verbose: options.verbose,
  });
  process.stdout.write(
    [
      `s3rver listening on ${server.endpoint} (bucket "${options.bucket}", objects in ${options.directory})`,
      '',
      'Start cloudlocker against it with:',
      `  AWS_ACCESS_KEY_ID=${S3RVER_ACCESS_KEY_ID} AWS_SECRET_ACCESS_KEY=${S3RVER_SECRET_ACCESS_KEY} \\`,
      `    cloudlocker serve --storage s3 --s3-bucket ${options.bucket} --s3-endpoint ${server.endpoint} --s3-force-path-style --s3-region us-east-1`,
      'or with the environment:',
      `  CLOUDLOCKER_STORAGE=s3 CLOUDLOCKER_S3_BUCKET=${options.bucket} CLOUDLOCKER_S3_ENDPOINT=${server.endpoint}`,
      '  CLOUDLOCKER_S3_FORCE_PATH_STYLE=true CLOUDLOCKER_S3_REGION=us-east-1',
      `  AWS_ACCESS_KEY_ID=${S3RVER_ACCESS_KEY_ID} AWS_SECRET_ACCESS_KEY=${S3RVER_SECRET_ACCESS_KEY}`,
      '',
      'These are s3rver\'s fixed development credentials, not secrets. Press Ctrl+C to stop.',
      '',
    ].join('\n'),
  );
  const shutdown = (): void => {
    server.stop({ abrupt: true }).then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.once('SIGINT', shutdown);
  process.once('SIGTERM', shutdown);
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  main().catch((err: unknown) => {
    process.stderr.write(`s3-server: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  });
}
