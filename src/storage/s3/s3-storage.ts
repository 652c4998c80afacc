/**
 * The Storage contract on an S3 bucket (AWS S3 or an S3-compatible store).
 * Object key = prefix + name.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import {
  AbortMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  ListPartsCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { CloudlockerError, InvalidParamsError } from '../../errors.js';
import { compareUtf8, encodeNameCursor, MAX_LIST_LIMIT, objectNameProblem } from '../names.js';
import type {
  InitOptions,
  ListOptions,
  FolderInfo,
  ListPage,
  ObjectInfo,
  ObjectWriter,
  ResumeWriteOptions,
  RewriteHeaderOptions,
  Storage,
  StorageCapabilities,
  WriteOptions,
} from '../storage.js';
import { createRawGetClient, createS3Client } from './client.js';
import { RawGetUnsupported } from './raw-get.js';
import type { ResolvedS3Config } from './config.js';
import {
  isAbort,
  isInvalidRange,
  isObjectNotFound,
  isRefusal,
  isUploadGone,
  toStorageError,
  type S3ErrorContext,
} from './errors.js';
import { fromS3Metadata, parseResumeToken, S3ObjectWriter, type CommitMode, type S3WriteTarget } from './object-writer.js';
import { checkMetadataToWrite, checkStoredMetadata } from '../metadata.js';
import { probeStore, type S3Probe } from './probe.js';
import { abortStaleUploads } from './stale-uploads.js';
import { rewriteS3Header } from './header-rewrite.js';

/** S3's longest key in UTF-8 bytes. */
const MAX_KEY_BYTES = 1024;

export interface S3StorageHooks {
  /** Told about problems the backend tolerated (e.g. a server that cannot list unfinished uploads). */
  readonly onWarning?: (message: string) => void;
}

export class S3Storage implements Storage {
  readonly kind = 's3';
  readonly location: string;
  /**
   * Downloads stream 8 MiB ranges (readRangeStream), the size AWS advises
   * for ranged GETs. Larger ones cost the store more, not less: Ceph RGW
   * spent a third more CPU (0.7-1.3 s per GiB) serving 16 MiB ranges than
   * 8 MiB or 4 MiB ones, in three same-run comparisons, on the cores it
   * shares with us here (why, inside radosgw, was not found:
   * docs/benchmarks.md, rr11). Smaller ranges mean more requests for the
   * SDK to sign; a crash refetches less.
   */
  readonly preferredReadSize = 8 * 1024 * 1024;

  private readonly client: S3Client;
  private readonly singleAttemptClient: S3Client;
  /** Ranged GETs of downloads over plain http (raw-get.ts); undefined: `client` serves them. */
  private readonly rawGetClient: S3Client | undefined;
  private closed = false;
  /** What init() found; until then, what the configuration declares. */
  private probe: S3Probe | undefined;
  readonly warnings: string[] = [];

  constructor(
    private readonly config: ResolvedS3Config,
    private readonly hooks: S3StorageHooks = {},
  ) {
    this.location = config.location;
    this.client = createS3Client(config);
    this.singleAttemptClient = createS3Client({ ...config, maxAttempts: 1 });
    this.rawGetClient = createRawGetClient(config);
  }

  get capabilities(): StorageCapabilities {
    return {
      abortCleansUp: !this.config.gaps.noAbortMultipartUpload && (this.probe?.abortMultipart ?? true),
      atomicNoOverwrite: this.commitMode !== 'check',
      headerRewrite: this.probe?.copy === undefined ? 'streamed' : 'server-side-copy',
    };
  }

  /** How rewriteHeader's "only if still that version" holds (object-writer.ts, replaceMode). */
  private get replaceMode(): CommitMode {
    if (this.config.gaps.noConditionalWrites || this.probe === undefined) return 'check';
    if (this.probe.completeIfMatch !== undefined && this.probe.ifMatch !== undefined) return 'conditional';
    return this.probe.conditionalPut ? 'claim' : 'check';
  }

  /** How overwrite: false is enforced (object-writer.ts). */
  private get commitMode(): CommitMode {
    if (this.config.gaps.noConditionalWrites) return 'check';
    if (this.probe === undefined || this.probe.conditionalComplete) return 'conditional';
    return this.probe.conditionalPut ? 'claim' : 'check';
  }

  /**
   * Probes what the store can do (probe.ts), then aborts stale multipart
   * uploads, except those `keepWrites` names (by their resumeTokens).
   */
  async init(options: InitOptions = {}): Promise<void> {
    this.assertOpen();
    this.probe = await probeStore({
      client: this.client,
      bucket: this.config.bucket,
      keyPrefix: this.config.keyPrefix,
      location: this.location,
      warn: (message) => this.warn(message),
    });
    if (this.commitMode === 'claim' && this.probe.ifMatch === undefined) {
      this.warn(
        `The S3 store ${this.location} honours neither CompleteMultipartUpload's If-None-Match nor PutObject's If-Match: ` +
          'overwrite: false is atomic through name claims, but a claim left by a crashed writer blocks its name until it is ' +
          'removed by hand (see docs/storage.md).',
      );
    }
    if (this.commitMode === 'check') {
      this.warn(
        `The S3 store ${this.location} does not honour conditional writes (If-None-Match: *): ` +
          'overwrite: false is checked just before publishing, not enforced atomically. Two services writing ' +
          'the same new name at the same moment may both be told success, and one upload is then lost (see docs/storage.md).',
      );
    }
    await abortStaleUploads({
      keepUploadIds: new Set((options.keepWrites ?? []).map((token) => parseResumeToken(token).uploadId)),
      client: this.client,
      bucket: this.config.bucket,
      keyPrefix: this.config.keyPrefix,
      location: this.location,
      staleUploadAgeMs: this.config.staleUploadAgeMs,
      now: new Date(),
      warn: (message) => this.warn(message),
    });
  }

  private warn(message: string): void {
    if (!this.warnings.includes(message)) this.warnings.push(message);
    this.hooks.onWarning?.(message);
  }

  /**
   * The resumeToken names the multipart upload and its marker (see
   * parseResumeToken in object-writer.ts); the parts' ETags come from
   * the caller (s3rver has no ListParts). ListParts, where the server has it,
   * only confirms the upload still exists.
   */
  async resumeWrite(name: string, resumeToken: string, options: ResumeWriteOptions): Promise<ObjectWriter> {
    this.assertOpen();
    const key = this.writableKeyOf(name);
    if (options.signal?.aborted) throw new CloudlockerError('CANCELLED');
    const { uploadId, marker } = parseResumeToken(resumeToken);
    try {
      await this.client.send(
        new ListPartsCommand({ Bucket: this.config.bucket, Key: key, UploadId: uploadId, MaxParts: 1 }),
        { abortSignal: options.signal },
      );
    } catch (err) {
      if (isUploadGone(err)) throw new CloudlockerError('NOT_FOUND', 'The unfinished upload is no longer in the store.');
      if (!isRefusal(err)) throw toStorageError(err, this.context('resuming an upload', options.signal));
    }
    return this.writer(name, key, options, { uploadId, marker, parts: options.parts });
  }

  async discardWrite(name: string, resumeToken: string): Promise<void> {
    try {
      await this.client.send(
        new AbortMultipartUploadCommand({
          Bucket: this.config.bucket,
          Key: this.keyOf(name),
          UploadId: parseResumeToken(resumeToken).uploadId,
        }),
      );
    } catch {
      // Never rejects (contract): what remains is removed as a stale upload by a later init().
    }
  }

  async beginWrite(name: string, options: WriteOptions = {}): Promise<ObjectWriter> {
    this.assertOpen();
    const key = this.writableKeyOf(name);
    checkMetadataToWrite(options.metadata);
    if (options.signal?.aborted) throw new CloudlockerError('CANCELLED');
    return this.writer(name, key, options);
  }

  /** A writer of `key`, new or (with `resume`) continuing a multipart upload. */
  private writer(
    name: string,
    key: string,
    options: WriteOptions,
    resume?: S3WriteTarget['resume'],
  ): S3ObjectWriter {
    return new S3ObjectWriter({
      client: this.client,
      bucket: this.config.bucket,
      key,
      name,
      location: this.location,
      expectedSize: options.expectedSize,
      signal: options.signal,
      metadata: options.metadata,
      commitMode: this.commitMode,
      replaceMode: this.replaceMode,
      ifMatchComplete: this.probe?.completeIfMatch,
      claims: {
        client: this.client,
        bucket: this.config.bucket,
        keyPrefix: this.config.keyPrefix,
        leaseMs: this.config.claimLeaseMs,
        ifMatch: this.probe?.ifMatch,
      },
      singleAttemptClient: this.singleAttemptClient,
      ...(resume === undefined ? {} : { resume }),
    });
  }

  /** See storage.ts and header-rewrite.ts. */
  async rewriteHeader(
    name: string,
    expectedVersion: string,
    oldHeaderLength: number,
    newHeader: Uint8Array,
    options: RewriteHeaderOptions = {},
  ): Promise<ObjectInfo> {
    this.assertOpen();
    const key = this.writableKeyOf(name);
    return rewriteS3Header(
      {
        client: this.client,
        sendGet: (command, getSignal) => this.sendGet(command, getSignal),
        bucket: this.config.bucket,
        location: this.location,
        keyOf: () => key,
        newWriter: (writerName, writeOptions) => this.writer(writerName, key, writeOptions),
        copyIfMatch: this.probe?.copy?.ifMatch,
      },
      name,
      expectedVersion,
      oldHeaderLength,
      newHeader,
      options,
    );
  }

  /** readRangeStream gathered: one request (more only if its body breaks off), the same errors. */
  async readRange(name: string, offset: number, length: number, signal?: AbortSignal): Promise<Uint8Array> {
    const pieces: Uint8Array[] = [];
    // Each piece is valid only until the next is asked for: kept as a copy.
    for await (const piece of this.readRangeStream(name, offset, length, signal)) pieces.push(Buffer.from(piece));
    return pieces.length === 1 ? (pieces[0] as Uint8Array) : Buffer.concat(pieces);
  }

  /**
   * readRangeStream copied into `target` as the pieces arrive: no buffer per
   * piece and none per range. A caller that reads many ranges into one reused
   * buffer (unshareFile) then leaves no garbage per read; readRange's copies
   * are off-heap Buffers that no young-generation collection reclaims, so they
   * pile up until V8's external-memory limit (docs/benchmarks.md, s3mem).
   */
  async readRangeInto(name: string, offset: number, target: Uint8Array, signal?: AbortSignal): Promise<number> {
    let filled = 0;
    for await (const piece of this.readRangeStream(name, offset, target.byteLength, signal)) {
      target.set(piece, filled);
      filled += piece.byteLength;
    }
    return filled;
  }

  /**
   * Ranged GETs read as their bodies arrive (see the contract). A body that
   * breaks off is asked for again from the first byte not yet yielded, up to
   * maxAttempts times: a part then costs one more request, not a new part.
   * Over plain http the pieces are views of a connection's buffer
   * (raw-get.ts), each valid until the next is asked for.
   */
  async *readRangeStream(name: string, offset: number, length: number, signal?: AbortSignal): AsyncGenerator<Uint8Array> {
    this.assertOpen();
    checkRange(offset, length);
    const context = this.context('reading an object', signal);
    if (length === 0) {
      await this.statWith(name, context);
      return;
    }
    const end = offset + length;
    let position = offset;
    for (let attempt = 1; position < end; attempt++) {
      let result;
      try {
        result = await this.sendGet(this.getCommand(name, position, end - position), signal);
      } catch (err) {
        if (isObjectNotFound(err) && !isAbort(err, signal)) throw new CloudlockerError('NOT_FOUND');
        // At or after the end (416): the object ended first.
        if (isInvalidRange(err)) {
          await this.statWith(name, context);
          return;
        }
        throw toStorageError(err, context);
      }
      // A server that ignores Range sends the whole object (200, no Content-Range).
      const wholeObject = result.ContentRange === undefined && result.$metadata.httpStatusCode === 200;
      const answeredFrom = /^bytes (\d+)-/.exec(result.ContentRange ?? '')?.[1];
      if (answeredFrom !== undefined && Number(answeredFrom) !== position) {
        (result.Body as { destroy?: () => void } | undefined)?.destroy?.();
        throw toStorageError(new Error(`asked for bytes from ${position}, the store answered from ${answeredFrom}`), context);
      }
      let toSkip = wholeObject ? position : 0;
      let broken: unknown;
      try {
        for await (const chunk of (result.Body ?? []) as AsyncIterable<Uint8Array>) {
          let piece = chunk;
          if (toSkip > 0) {
            const dropped = Math.min(toSkip, piece.byteLength);
            toSkip -= dropped;
            piece = piece.subarray(dropped);
          }
          if (piece.byteLength > end - position) piece = piece.subarray(0, end - position);
          if (piece.byteLength > 0) {
            position += piece.byteLength;
            yield piece;
          }
          // A ranged answer is read to its end, so its connection can be
          // reused; the rest of a whole object is not (leaving the loop
          // destroys the stream).
          if (wholeObject && position >= end) break;
        }
      } catch (err) {
        if (isAbort(err, signal)) throw toStorageError(err, context);
        broken = err;
      }
      if (position >= end) return;
      // Ended early: a connection dropped mid-body, a server that announced
      // bytes it never sent (unpatched s3rver does so for empty objects), or
      // an object shorter than the range.
      const info = await this.statWith(name, context);
      if (position >= info.storedSize) return;
      if (attempt >= this.config.maxAttempts) throw toStorageError(broken ?? new Error('the object body ended early'), context);
      await sleep(backoffMs(attempt), undefined, { signal }).catch(() => undefined);
    }
  }

  /** Through the raw-GET client where there is one; a request it does not read raw goes through the SDK's handler. */
  private async sendGet(command: GetObjectCommand, signal: AbortSignal | undefined) {
    if (this.rawGetClient !== undefined) {
      try {
        return await this.rawGetClient.send(command, { abortSignal: signal });
      } catch (err) {
        if (!(err instanceof RawGetUnsupported)) throw err;
      }
    }
    return this.client.send(command, { abortSignal: signal });
  }

  private getCommand(name: string, offset: number, length: number): GetObjectCommand {
    return new GetObjectCommand({ Bucket: this.config.bucket, Key: this.keyOf(name), Range: `bytes=${offset}-${offset + length - 1}` });
  }

  async stat(name: string): Promise<ObjectInfo> {
    this.assertOpen();
    return this.statWith(name, this.context('looking up an object'));
  }

  private async statWith(name: string, context: S3ErrorContext): Promise<ObjectInfo> {
    try {
      const head = await this.client.send(new HeadObjectCommand({ Bucket: this.config.bucket, Key: this.keyOf(name) }), {
        abortSignal: context.signal,
      });
      const metadata = checkStoredMetadata(name, fromS3Metadata(head.Metadata));
      return {
        name,
        storedSize: head.ContentLength ?? 0,
        modifiedAt: head.LastModified ?? new Date(0),
        ...(head.ETag ? { version: head.ETag } : {}),
        ...(metadata === undefined ? {} : { metadata }),
      };
    } catch (err) {
      if (isObjectNotFound(err) && !isAbort(err, context.signal)) throw new CloudlockerError('NOT_FOUND');
      throw toStorageError(err, context);
    }
  }

  async list(options: ListOptions): Promise<ListPage> {
    this.assertOpen();
    const { limit } = options;
    if (!Number.isInteger(limit) || limit < 1 || limit > MAX_LIST_LIMIT) {
      throw new InvalidParamsError(`The page size must be 1..${MAX_LIST_LIMIT}.`, 'limit');
    }
    const after = options.cursor === undefined ? undefined : decodeKeyCursor(options.cursor);
    const prefix = this.config.keyPrefix;
    if (options.delimiter === '/') return this.listFolderView(options.prefix ?? '', after, limit);
    let listing;
    try {
      listing = await this.client.send(
        new ListObjectsV2Command({
          Bucket: this.config.bucket,
          Prefix: prefix + (options.prefix ?? '') || undefined,
          StartAfter: after === undefined ? undefined : prefix + after,
          MaxKeys: limit,
        }),
      );
    } catch (err) {
      throw toStorageError(err, this.context('listing objects'));
    }
    const objects: ObjectInfo[] = [];
    let lastName: string | undefined;
    for (const entry of listing.Contents ?? []) {
      if (entry.Key === undefined || !entry.Key.startsWith(prefix)) continue;
      const name = entry.Key.slice(prefix.length);
      lastName = name;
      // Keys other tools put under the prefix ("folder/" markers of web
      // consoles, names with "//") are not names cloudlocker can serve.
      if (objectNameProblem(name) !== undefined) continue;
      objects.push({
        name,
        storedSize: entry.Size ?? 0,
        modifiedAt: entry.LastModified ?? new Date(0),
        ...(entry.ETag ? { version: entry.ETag } : {}),
      });
    }
    // The cursor is the last key seen, not a server token: stable, and the
    // same for every S3-compatible server.
    const nextCursor = listing.IsTruncated === true && lastName !== undefined ? encodeNameCursor(lastName) : null;
    return { objects, nextCursor };
  }

  /**
   * A folder view through ListObjectsV2's Delimiter. The cursor is the last
   * entry seen (a name, or a folder ending in "/"). After a folder, S3 is
   * asked to start after the folder's prefix itself: the keys under it then
   * roll up into that same folder again, which is dropped here, so such a
   * page may hold one entry fewer than the limit.
   */
  private async listFolderView(listPrefix: string, after: string | undefined, limit: number): Promise<ListPage> {
    const prefix = this.config.keyPrefix;
    let listing;
    try {
      listing = await this.client.send(
        new ListObjectsV2Command({
          Bucket: this.config.bucket,
          Prefix: prefix + listPrefix || undefined,
          Delimiter: '/',
          StartAfter: after === undefined ? undefined : prefix + after,
          // One more after a folder: the folder itself comes back first and is dropped.
          MaxKeys: after?.endsWith('/') === true ? Math.min(limit + 1, MAX_LIST_LIMIT) : limit,
        }),
      );
    } catch (err) {
      throw toStorageError(err, this.context('listing objects'));
    }
    type Entry = { readonly name: string; readonly object?: ObjectInfo };
    const entries: Entry[] = [];
    for (const entry of listing.Contents ?? []) {
      if (entry.Key === undefined || !entry.Key.startsWith(prefix)) continue;
      const name = entry.Key.slice(prefix.length);
      const object: ObjectInfo = {
        name,
        storedSize: entry.Size ?? 0,
        modifiedAt: entry.LastModified ?? new Date(0),
        ...(entry.ETag ? { version: entry.ETag } : {}),
      };
      entries.push({ name, ...(objectNameProblem(name) === undefined ? { object } : {}) });
    }
    for (const common of listing.CommonPrefixes ?? []) {
      if (common.Prefix === undefined || !common.Prefix.startsWith(prefix)) continue;
      entries.push({ name: common.Prefix.slice(prefix.length) });
    }
    entries.sort((a, b) => compareUtf8(a.name, b.name));
    const objects: ObjectInfo[] = [];
    const folders: FolderInfo[] = [];
    let lastName: string | undefined;
    let truncated = listing.IsTruncated === true;
    for (const entry of entries) {
      if (after !== undefined && compareUtf8(entry.name, after) <= 0) continue;
      if (objects.length + folders.length === limit) {
        truncated = true;
        break;
      }
      lastName = entry.name;
      if (entry.object !== undefined) objects.push(entry.object);
      // A folder whose name is not the start of a valid name ("a//", "/") holds nothing cloudlocker can serve.
      else if (entry.name.endsWith('/') && objectNameProblem(entry.name.slice(0, -1)) === undefined) folders.push({ name: entry.name });
    }
    // Every entry dropped (keys another tool wrote) yet more to come: go on from the last key S3 gave.
    const resumeAt = lastName ?? entries.at(-1)?.name;
    return { objects, folders, nextCursor: truncated && resumeAt !== undefined ? encodeNameCursor(resumeAt) : null };
  }

  async delete(name: string): Promise<void> {
    this.assertOpen();
    const context = this.context('deleting an object');
    // DeleteObject succeeds on a missing key; the contract wants NOT_FOUND.
    await this.statWith(name, context);
    try {
      await this.client.send(new DeleteObjectCommand({ Bucket: this.config.bucket, Key: this.keyOf(name) }));
    } catch (err) {
      throw toStorageError(err, context);
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.client.destroy();
    this.singleAttemptClient.destroy();
    this.rawGetClient?.destroy();
  }

  private writableKeyOf(name: string): string {
    const key = this.keyOf(name);
    if (Buffer.byteLength(key, 'utf8') > MAX_KEY_BYTES) {
      throw new InvalidParamsError(
        `The remote name is too long for this store: with the prefix "${this.config.keyPrefix}" it exceeds S3's ${MAX_KEY_BYTES}-byte key limit.`,
        'name',
      );
    }
    return key;
  }

  private keyOf(name: string): string {
    return this.config.keyPrefix + name;
  }

  private context(doing: string, signal?: AbortSignal): S3ErrorContext {
    return { location: this.location, doing, stage: 'read', signal };
  }

  private assertOpen(): void {
    if (this.closed) throw new Error('The S3 storage is closed.');
  }
}

function checkRange(offset: number, length: number): void {
  if (!Number.isSafeInteger(offset) || offset < 0) throw new RangeError(`Invalid read offset ${offset}.`);
  if (!Number.isSafeInteger(length) || length < 0) throw new RangeError(`Invalid read length ${length}.`);
}

/**
 * The key name a cursor from encodeNameCursor stands for. Unlike
 * decodeNameCursor it accepts names that are not valid object names: a page
 * can end on a key another tool put under the prefix, which list() skips.
 */
function decodeKeyCursor(cursor: string): string {
  const malformed = () =>
    new InvalidParamsError('The cursor is not one this server returned: start the listing again without it.', 'cursor');
  if (typeof cursor !== 'string' || !/^[A-Za-z0-9_-]+$/.test(cursor)) throw malformed();
  const bytes = Buffer.from(cursor, 'base64url');
  const name = bytes.toString('utf8');
  // Only the canonical encoding of valid UTF-8 round-trips.
  if (bytes.toString('base64url') !== cursor || !Buffer.from(name, 'utf8').equals(bytes)) throw malformed();
  return name;
}

/** Full-jitter exponential backoff, as the SDK's standard strategy uses. */
function backoffMs(attempt: number): number {
  return Math.floor(Math.random() * Math.min(50 * 2 ** attempt, 5_000));
}
