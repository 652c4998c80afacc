/**
 * rewriteHeader on S3 (see storage.ts): a new multipart upload of the same
 * key whose first part is the new header (plus payload bytes up to S3's
 * 5 MiB minimum part) and whose other parts are the old object's payload,
 * published only if the object is still the version read.
 *
 * - "server-side-copy" stores (UploadPartCopy with CopySourceRange and
 *   CopySourceIfMatch honoured, probed at init()): the payload parts are
 *   copied inside the store; only the first part passes through here.
 * - "streamed" stores (s3rver: UploadPartCopy answers 501): every part is
 *   read (ranged GET, its ETag checked) and uploaded again.
 * - an object of at most 5 MiB in all: one GET and one PutObject.
 *
 * Every byte read comes from the version read: each GET's answer must carry
 * that ETag, and each copy is conditional on it (CopySourceIfMatch:
 * SOURCE_CHANGED where the store honours it; Ceph RGW 16.2 ignores it). The
 * publish is S3ObjectWriter.completeIfVersion on the same key (If-Match
 * where the store honours it on Complete; else the name's claim around a
 * HeadObject check, or a check), so the object was still that version when
 * the copies had all been made. What that leaves where CopySourceIfMatch is
 * ignored: an object replaced and then put back byte for byte (same ETag)
 * while a part was being copied could give that part another version's
 * bytes; the format's authentication refuses such an object at download
 * (INTEGRITY), it is never silently wrong.
 * Any failure or cancel aborts the upload: the old object stays as it was.
 */
import { GetObjectCommand, type GetObjectCommandOutput, HeadObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { CloudlockerError } from '../../errors.js';
import { checkRewriteArguments, sourceChanged } from '../header-rewrite.js';
import { checkStoredMetadata } from '../metadata.js';
import type { ObjectInfo, ObjectMetadata, RewriteHeaderOptions } from '../storage.js';
import { isAbort, isInvalidRange, isObjectNotFound, toStorageError, type S3ErrorContext } from './errors.js';
import { fromS3Metadata, MAX_PARTS, MIN_PART_SIZE, type S3ObjectWriter } from './object-writer.js';

/** Payload parts copied inside the store: few requests, each one the store's own work. */
export const COPY_PART_SIZE = 64 * 1024 * 1024;
const COPY_CONCURRENCY = 4;
/** Parts streamed through this process: memory is STREAM_PART_SIZE × STREAM_CONCURRENCY. */
export const STREAM_PART_SIZE = 8 * 1024 * 1024;
const STREAM_CONCURRENCY = 3;

export interface S3RewriteContext {
  readonly client: S3Client;
  /**
   * A ranged GET: through raw-get.ts's reader over plain http (each body
   * piece a view of the connection's one buffer, copied straight into the
   * part buffer), else through `client`. The SDK's own HTTP client allocates
   * a new off-heap Buffer per socket read, ~60 MiB of which waited for V8's
   * external-memory limit during a streamed 1 GiB rewrite (docs/benchmarks.md, s3mem).
   */
  sendGet(command: GetObjectCommand, signal: AbortSignal | undefined): Promise<GetObjectCommandOutput>;
  readonly bucket: string;
  readonly location: string;
  keyOf(name: string): string;
  /** A writer of `name` for the new object. */
  newWriter(
    name: string,
    options: { expectedSize: number; signal: AbortSignal | undefined; metadata: ObjectMetadata | undefined },
  ): S3ObjectWriter;
  /** The CopySourceIfMatch form the store honours; undefined: stream the payload. */
  readonly copyIfMatch: 'quoted' | 'bare' | undefined;
}

export async function rewriteS3Header(
  context: S3RewriteContext,
  name: string,
  expectedVersion: string,
  oldHeaderLength: number,
  newHeader: Uint8Array,
  options: RewriteHeaderOptions = {},
): Promise<ObjectInfo> {
  checkRewriteArguments(expectedVersion, oldHeaderLength, newHeader);
  const { signal, onProgress } = options;
  if (signal?.aborted) throw new CloudlockerError('CANCELLED');
  const key = context.keyOf(name);
  const errorContext: S3ErrorContext = { location: context.location, doing: 'rewriting a header', stage: 'write', signal };

  let head;
  try {
    head = await context.client.send(new HeadObjectCommand({ Bucket: context.bucket, Key: key }), { abortSignal: signal });
  } catch (err) {
    if (isObjectNotFound(err) && !isAbort(err, signal)) throw new CloudlockerError('NOT_FOUND');
    throw toStorageError(err, errorContext);
  }
  if (!head.ETag || head.ETag !== expectedVersion) throw sourceChanged(name);
  const size = head.ContentLength ?? 0;
  if (oldHeaderLength > size) throw new RangeError(`oldHeaderLength ${oldHeaderLength} is beyond the object's ${size} bytes.`);

  const headerLength = newHeader.byteLength;
  const payloadLength = size - oldHeaderLength;
  const newSize = headerLength + payloadLength;
  const version = head.ETag;
  /**
   * Bytes [start, end) of the new object into `target` (end - start bytes),
   * read from the version read where they are payload.
   */
  const newBytesInto = async (target: Uint8Array, start: number, end: number): Promise<void> => {
    if (start < headerLength) target.set(newHeader.subarray(start, Math.min(end, headerLength)), 0);
    const payloadStart = Math.max(start, headerLength) - headerLength;
    const payloadEnd = end - headerLength;
    if (payloadEnd <= payloadStart) return;
    const into = target.subarray(Math.max(start, headerLength) - start, end - start);
    await readVersionInto(context, name, key, version, oldHeaderLength + payloadStart, into, signal);
  };
  // Streamed parts reuse at most STREAM_CONCURRENCY part buffers (as an
  // upload's parts do), rather than a new one per part: a 1 GiB rewrite would
  // otherwise leave ~128 part-sized buffers for the GC to sweep, and the
  // process's RSS grows by what it has not swept yet.
  const spareBuffers: Uint8Array[] = [];

  // The user metadata stays as it was (checked: it comes from the store).
  const metadata = checkStoredMetadata(name, fromS3Metadata(head.Metadata));
  const writer = context.newWriter(name, { expectedSize: newSize, signal, metadata });
  let payloadDone = 0;
  const progressed = async (start: number, end: number) => {
    payloadDone += Math.max(0, end - Math.max(start, headerLength));
    await onProgress?.(payloadDone, payloadLength);
  };
  try {
    await onProgress?.(0, payloadLength);
    const parts = planParts(newSize, headerLength, context.copyIfMatch !== undefined);
    /** The largest part that passes through here (with server-side copy: part 0 only). */
    const largestPart = Math.max(...parts.filter((part) => !part.copy).map((part) => part.end - part.start));
    await forEachConcurrently(parts, parts.some((part) => part.copy) ? COPY_CONCURRENCY : STREAM_CONCURRENCY, async (part) => {
      if (part.copy && context.copyIfMatch !== undefined) {
        await writer.copyPart(part.index, part.start, {
          name,
          key,
          etag: version,
          ifMatchForm: context.copyIfMatch,
          start: oldHeaderLength + part.start - headerLength,
          length: part.end - part.start,
        });
      } else {
        const buffer = spareBuffers.pop() ?? new Uint8Array(largestPart);
        const bytes = buffer.subarray(0, part.end - part.start);
        await newBytesInto(bytes, part.start, part.end);
        await writer.writePart(part.index, part.start, bytes);
        // Only once the part is written (writePart holds it until then); a failed part's buffer is left to the GC.
        spareBuffers.push(buffer);
      }
      await progressed(part.start, part.end);
    });
    return await writer.completeIfVersion(version);
  } catch (err) {
    await writer.abort();
    if (signal?.aborted && !(err instanceof CloudlockerError && err.reason === 'SOURCE_CHANGED')) {
      throw new CloudlockerError('CANCELLED');
    }
    throw toStorageError(err, errorContext);
  }
}

interface PlannedPart {
  readonly index: number;
  /** Range of the new object. */
  readonly start: number;
  readonly end: number;
  /** Payload only, copied inside the store. */
  readonly copy: boolean;
}

/**
 * The new object's parts. With server-side copy: part 0 is the header and
 * enough payload to make 5 MiB (S3's smallest part but the last), the rest
 * copied in COPY_PART_SIZE parts. Streamed: STREAM_PART_SIZE parts. Both
 * grow the part size to stay within 10,000 parts.
 */
export function planParts(newSize: number, headerLength: number, serverSideCopy: boolean): PlannedPart[] {
  if (newSize === 0) return [{ index: 0, start: 0, end: 0, copy: false }];
  const parts: PlannedPart[] = [];
  let start = 0;
  if (serverSideCopy) {
    const first = Math.min(newSize, Math.max(MIN_PART_SIZE, headerLength));
    parts.push({ index: 0, start: 0, end: first, copy: false });
    start = first;
  }
  const partSize = Math.max(serverSideCopy ? COPY_PART_SIZE : STREAM_PART_SIZE, Math.ceil((newSize - start) / (MAX_PARTS - 1)));
  while (start < newSize) {
    const end = Math.min(newSize, start + partSize);
    parts.push({ index: parts.length, start, end, copy: serverSideCopy });
    start = end;
  }
  return parts;
}

/**
 * `into.length` bytes from `offset` of the object, which must still be
 * `version`, into `into`: the answer's ETag is checked (any store sends it;
 * not every store honours If-Match on GET in the same form), and so are
 * where it starts and its length.
 */
async function readVersionInto(
  context: S3RewriteContext,
  name: string,
  key: string,
  version: string,
  offset: number,
  into: Uint8Array,
  signal: AbortSignal | undefined,
): Promise<void> {
  const length = into.byteLength;
  const errorContext: S3ErrorContext = { location: context.location, doing: 'reading the payload to rewrite', stage: 'read', signal };
  let result;
  try {
    result = await context.sendGet(new GetObjectCommand({ Bucket: context.bucket, Key: key, Range: `bytes=${offset}-${offset + length - 1}` }), signal);
  } catch (err) {
    // Gone, or shorter than the version read: replaced.
    if ((isObjectNotFound(err) || isInvalidRange(err)) && !isAbort(err, signal)) throw sourceChanged(name);
    throw toStorageError(err, errorContext);
  }
  const body = result.Body as (AsyncIterable<Uint8Array> & { destroy?: () => void }) | undefined;
  if (result.ETag !== version) {
    body?.destroy?.();
    throw sourceChanged(name);
  }
  const answeredFrom = /^bytes (\d+)-/.exec(result.ContentRange ?? '')?.[1];
  if (answeredFrom === undefined || Number(answeredFrom) !== offset) {
    body?.destroy?.();
    throw toStorageError(new Error(`asked for bytes from ${offset}, the store answered ${result.ContentRange ?? 'no range'}`), errorContext);
  }
  let filled = 0;
  try {
    for await (const chunk of body ?? []) {
      if (filled + chunk.byteLength > length) throw new Error('the store sent more bytes than asked for');
      into.set(chunk, filled);
      filled += chunk.byteLength;
    }
  } catch (err) {
    throw toStorageError(err, errorContext);
  }
  if (filled !== length) throw toStorageError(new Error(`the store sent ${filled} of ${length} bytes`), errorContext);
}

/**
 * Runs `task` on every item, at most `limit` at once; a failure stops new
 * tasks and rejects once those running settle, with SOURCE_CHANGED if any
 * task found it (the definitive answer: other parts may then fail for the
 * same reason in other ways), else the first failure.
 */
async function forEachConcurrently<T>(items: readonly T[], limit: number, task: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  let failure: { error: unknown } | undefined;
  const worker = async () => {
    while (failure === undefined && next < items.length) {
      const item = items[next++] as T;
      try {
        await task(item);
      } catch (error) {
        if (failure === undefined || (error instanceof CloudlockerError && error.reason === 'SOURCE_CHANGED')) failure = { error };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  if (failure !== undefined) throw failure.error;
}
