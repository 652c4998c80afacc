/**
 * One object being written to S3: a single PutObject for small objects, a
 * multipart upload for the rest.
 *
 * Which path is taken:
 * - `expectedSize` known and at most MIN_PART_SIZE: every part is copied into
 *   memory and sent as one PutObject by complete().
 * - otherwise, a part 0 shorter than MIN_PART_SIZE is, by the contract (every
 *   part but the last is at least minPartSize), the whole object: it is
 *   buffered the same way.
 * - anything else goes to a multipart upload, created lazily by the first part
 *   that needs it; part i is UploadPart number i + 1, parts may arrive in any
 *   order and concurrently, and complete() lists them sorted.
 * So memory use is at most MIN_PART_SIZE per write, and an object never
 * becomes visible before complete().
 */
import { createHash, randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  HeadObjectCommand,
  ListPartsCommand,
  PutObjectCommand,
  UploadPartCommand,
  UploadPartCopyCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { CloudlockerError } from '../../errors.js';
import type { CompleteOptions, ObjectInfo, ObjectMetadata, ObjectWriter, ResumedPart } from '../storage.js';
import {
  isConditionalConflict,
  isNoSuchUpload,
  isObjectNotFound,
  isPreconditionFailed,
  isUploadGone,
  summariseS3Error,
  toStorageError,
  type S3ErrorContext,
} from './errors.js';
import { acquireClaim, type ClaimTarget } from './claims.js';
import { sourceChanged } from '../header-rewrite.js';
import { copySourceOf, ifMatchValue } from './probe.js';

/**
 * How overwrite: false is made to hold against a concurrent writer (see
 * docs/storage.md, "No-overwrite"), as init()'s probes found the store:
 * - "conditional": `If-None-Match: *` on PutObject and CompleteMultipartUpload (AWS);
 * - "claim": only PutObject honours it (Ceph RGW 16.2): a name claim (claims.ts) around the publish;
 * - "check": neither (s3rver): HeadObject just before publishing, not atomic.
 */
export type CommitMode = 'conditional' | 'claim' | 'check';

/** S3's smallest part (except the last). */
export const MIN_PART_SIZE = 5 * 1024 * 1024;
/** S3's largest part number. */
export const MAX_PARTS = 10_000;

/**
 * User metadata on every multipart upload cloudlocker starts (S3 gives it to
 * the completed object): a random value per upload. It shows people looking
 * at the bucket which objects cloudlocker wrote, and tells this writer that
 * the object at its key is the one it published when a retried
 * CompleteMultipartUpload finds its upload gone (the first attempt landed
 * but its answer was lost): a size alone would take anyone's object of the
 * same size for ours.
 */
export const UPLOAD_MARKER_KEY = 'cloudlocker-upload';
const UPLOAD_MARKER_PATTERN = /^[0-9a-f]{32}$/;

/**
 * A multipart writer's resumeToken is "<upload id> <marker>", so that a
 * resumed writer still knows its object. Tokens journaled before markers
 * existed are the upload id alone: their object is recognised by its size.
 */
export function parseResumeToken(token: string): { uploadId: string; marker: string | undefined } {
  const space = token.lastIndexOf(' ');
  const marker = token.slice(space + 1);
  if (space > 0 && UPLOAD_MARKER_PATTERN.test(marker)) return { uploadId: token.slice(0, space), marker };
  return { uploadId: token, marker: undefined };
}

export interface S3WriteTarget {
  readonly client: S3Client;
  readonly bucket: string;
  readonly key: string;
  readonly name: string;
  readonly location: string;
  readonly expectedSize: number | undefined;
  readonly signal: AbortSignal | undefined;
  /** User metadata for the object (already checked), stored as x-amz-meta-cl-<key>. */
  readonly metadata?: ObjectMetadata | undefined;
  readonly commitMode: CommitMode;
  /** Where name claims are kept (commitMode "claim"). */
  readonly claims: ClaimTarget;
  /**
   * How "replace only if still this version" (completeIfVersion) is made to
   * hold, as the probes found the store: "conditional": `If-Match` on
   * PutObject and CompleteMultipartUpload (`ifMatchComplete`'s form);
   * "claim": the name's claim around a HeadObject check and the publish;
   * "check": HeadObject just before publishing, not atomic.
   */
  readonly replaceMode: CommitMode;
  /** The If-Match form CompleteMultipartUpload honours (replaceMode "conditional"). */
  readonly ifMatchComplete?: 'quoted' | 'bare' | undefined;
  /**
   * The same store with one attempt per request, for CompleteMultipartUpload:
   * its failures are told apart here (an upload gone answers 500 on Ceph RGW)
   * before anything is retried.
   */
  readonly singleAttemptClient: S3Client;
  /**
   * Continue this multipart upload, whose parts `parts` are already stored
   * (Storage.resumeWrite); `marker` is undefined for a token from before markers.
   */
  readonly resume?: { readonly uploadId: string; readonly marker: string | undefined; readonly parts: readonly ResumedPart[] };
}

type WriterState = 'open' | 'completing' | 'completed' | 'aborted' | 'suspended';

/** What must hold at the key for a publish: anything (overwrite), no object (no-overwrite), or this ETag (a rewrite). */
type PublishCondition = { readonly kind: 'any' } | { readonly kind: 'absent' } | { readonly kind: 'version'; readonly version: string };

type ConditionHeaders = { IfNoneMatch?: '*'; IfMatch?: string };

/** A byte range of another object (its name, key and ETag) that copyPart copies inside the store. */
export interface CopySource {
  readonly name: string;
  readonly key: string;
  readonly etag: string;
  /** How the store wants CopySourceIfMatch (probe.ts). */
  readonly ifMatchForm: 'quoted' | 'bare';
  readonly start: number;
  readonly length: number;
}

/** S3 metadata keys of the caller's metadata: x-amz-meta-cl-<key>. */
export const USER_METADATA_PREFIX = 'cl-';

export function toS3Metadata(metadata: ObjectMetadata | undefined): Record<string, string> {
  return Object.fromEntries(Object.entries(metadata ?? {}).map(([key, value]) => [USER_METADATA_PREFIX + key, value]));
}

/** The caller's metadata among an object's S3 metadata (HeadObject's, keys lower-cased by the SDK), unchecked. */
export function fromS3Metadata(s3Metadata: Record<string, string> | undefined): Record<string, string> {
  return Object.fromEntries(
    Object.entries(s3Metadata ?? {})
      .filter(([key]) => key.startsWith(USER_METADATA_PREFIX))
      .map(([key, value]) => [key.slice(USER_METADATA_PREFIX.length), value]),
  );
}


export class S3ObjectWriter implements ObjectWriter {
  readonly minPartSize = MIN_PART_SIZE;
  readonly maxParts = MAX_PARTS;

  private state: WriterState = 'open';
  private readonly buffered = new Map<number, Uint8Array>();
  private readonly etags = new Map<number, string>();
  /** End of the furthest part written: the object's size once all parts are in. */
  private size = 0;
  private uploadId: Promise<string> | undefined;
  private readonly inFlight = new Set<Promise<unknown>>();
  /** Aborted by abort(), so that parts still uploading stop at once. */
  private readonly stop = new AbortController();
  private readonly signal: AbortSignal;
  private aborting: Promise<void> | undefined;

  /** The multipart upload's id once it exists: with the marker, the resumeToken. */
  private knownUploadId: string | undefined;
  /** This upload's UPLOAD_MARKER_KEY value; undefined only when resumed from a token without one. */
  private readonly marker: string | undefined;

  constructor(private readonly target: S3WriteTarget) {
    this.signal = target.signal === undefined ? this.stop.signal : AbortSignal.any([target.signal, this.stop.signal]);
    this.marker = target.resume === undefined ? randomBytes(16).toString('hex') : target.resume.marker;
    if (target.resume !== undefined) {
      this.knownUploadId = target.resume.uploadId;
      this.uploadId = Promise.resolve(target.resume.uploadId);
      for (const part of target.resume.parts) {
        if (part.receipt === undefined) throw new RangeError(`Resumed part ${part.partIndex} has no ETag.`);
        this.etags.set(part.partIndex, part.receipt);
        this.size = Math.max(this.size, part.offset + part.length);
      }
    }
  }

  get resumeToken(): string | undefined {
    if (this.knownUploadId === undefined || this.marker === undefined) return this.knownUploadId;
    return `${this.knownUploadId} ${this.marker}`;
  }

  partReceipt(partIndex: number): string | undefined {
    return this.etags.get(partIndex);
  }

  /** Stop (parts in flight are cut off; those that did not resolve are not known as written) and keep the upload. */
  async suspend(): Promise<void> {
    if (this.state !== 'open' || this.knownUploadId === undefined) {
      await this.abort();
      return;
    }
    this.state = 'suspended';
    this.stop.abort();
    await Promise.allSettled([...this.inFlight]);
  }

  private get buffersEverything(): boolean {
    return this.target.expectedSize !== undefined && this.target.expectedSize <= MIN_PART_SIZE;
  }

  async writePart(partIndex: number, offset: number, data: Uint8Array): Promise<void> {
    if (!Number.isInteger(partIndex) || partIndex < 0 || partIndex >= MAX_PARTS) {
      throw new RangeError(`S3 accepts part indexes 0..${MAX_PARTS - 1}; got ${partIndex}: use larger parts.`);
    }
    if (!Number.isInteger(offset) || offset < 0) throw new RangeError(`Invalid part offset ${offset}.`);
    if (this.state === 'aborted' || this.state === 'suspended' || this.target.signal?.aborted) {
      throw new CloudlockerError('CANCELLED');
    }
    if (this.state !== 'open') throw new Error(`writePart() on a writer that is ${this.state}.`);
    this.size = Math.max(this.size, offset + data.length);

    if (this.buffersEverything || (partIndex === 0 && data.length < MIN_PART_SIZE)) {
      // A copy: the caller may reuse its buffer once this promise resolves.
      this.buffered.set(partIndex, new Uint8Array(data));
      return;
    }
    const upload = this.uploadPart(partIndex, data);
    this.inFlight.add(upload);
    try {
      await upload;
    } finally {
      this.inFlight.delete(upload);
    }
  }

  private async uploadPart(partIndex: number, data: Uint8Array): Promise<void> {
    const uploadId = await this.ensureUpload();
    try {
      const command = new UploadPartCommand({
        Bucket: this.target.bucket,
        Key: this.target.key,
        UploadId: uploadId,
        PartNumber: partIndex + 1,
        Body: data,
        ContentLength: data.length,
      });
      // The part's integrity on the way: its SHA-256 in x-amz-content-sha256,
      // which the request signature covers and the store checks against the
      // body. Hashed here, once: the SDK, given the header, does not hash it
      // again, and no Content-MD5 is added on top. On this thread rather than
      // by WebCrypto in the thread pool, which copies its input (5 MiB per
      // part in flight); the figures are in docs/benchmarks.md, changes 3 and 8.
      const payloadHash = sha256Hex(data);
      command.middlewareStack.add(
        (next) => async (args) => {
          const request = args.request as { headers?: Record<string, string> };
          if (request.headers !== undefined) request.headers[PAYLOAD_HASH_HEADER] = payloadHash;
          return next(args);
        },
        { step: 'build', name: 'cloudlockerPayloadHash' },
      );
      const result = await this.target.client.send(command, { abortSignal: this.signal });
      if (result.ETag === undefined) throw new Error('UploadPart answered without an ETag');
      this.etags.set(partIndex, result.ETag);
    } catch (err) {
      throw toStorageError(err, this.errorContext('uploading a part', 'write'));
    }
  }

  /**
   * Part `partIndex`, at `offset` of the new object, is `source.length` bytes
   * of another object copied inside the store (UploadPartCopy with
   * CopySourceRange, from `source.start`), never through this process; only
   * while that object is still the version `source.etag` (CopySourceIfMatch,
   * in the form the probe found): otherwise SOURCE_CHANGED. The same size
   * rules as writePart.
   */
  async copyPart(partIndex: number, offset: number, source: CopySource): Promise<void> {
    if (this.state === 'aborted' || this.state === 'suspended' || this.target.signal?.aborted) {
      throw new CloudlockerError('CANCELLED');
    }
    if (this.state !== 'open') throw new Error(`copyPart() on a writer that is ${this.state}.`);
    if (!Number.isSafeInteger(source.start) || source.start < 0 || !Number.isSafeInteger(source.length) || source.length < 1) {
      throw new RangeError(`Invalid copy range ${source.start}+${source.length}.`);
    }
    this.size = Math.max(this.size, offset + source.length);
    const copy = (async () => {
      const uploadId = await this.ensureUpload();
      try {
        const result = await this.target.client.send(
          new UploadPartCopyCommand({
            Bucket: this.target.bucket,
            Key: this.target.key,
            UploadId: uploadId,
            PartNumber: partIndex + 1,
            CopySource: copySourceOf(this.target.bucket, source.key),
            CopySourceRange: `bytes=${source.start}-${source.start + source.length - 1}`,
            CopySourceIfMatch: ifMatchValue(source.ifMatchForm, source.etag),
          }),
          { abortSignal: this.signal },
        );
        const etag = result.CopyPartResult?.ETag;
        if (!etag) throw new Error('UploadPartCopy answered without an ETag');
        this.etags.set(partIndex, etag);
      } catch (err) {
        if ((isPreconditionFailed(err) || isObjectNotFound(err)) && !this.signal.aborted) throw sourceChanged(source.name);
        throw toStorageError(err, this.errorContext('copying a part inside the store', 'write'));
      }
    })();
    this.inFlight.add(copy);
    try {
      await copy;
    } finally {
      this.inFlight.delete(copy);
    }
  }

  /** The upload id, starting the multipart upload on first use; a failed start is retried by the next part. */
  private ensureUpload(): Promise<string> {
    if (this.uploadId === undefined) {
      const starting = this.target.client
        .send(
          new CreateMultipartUploadCommand({
            Bucket: this.target.bucket,
            Key: this.target.key,
            ...this.metadataOf({ marker: true }),
          }),
          { abortSignal: this.signal },
        )
        .then((result) => {
          if (result.UploadId === undefined) throw new Error('CreateMultipartUpload answered without an UploadId');
          this.knownUploadId = result.UploadId;
          return result.UploadId;
        })
        .catch((err: unknown) => {
          if (this.uploadId === starting) this.uploadId = undefined;
          throw toStorageError(err, this.errorContext('starting a multipart upload', 'write'));
        });
      this.uploadId = starting;
    }
    return this.uploadId;
  }

  async complete(options: CompleteOptions): Promise<ObjectInfo> {
    if (options.ifVersion !== undefined) return this.completeIfVersion(options.ifVersion);
    return this.completeWith(options.overwrite ? { kind: 'any' } : { kind: 'absent' });
  }

  /**
   * Publish only if the object at the key is still the one whose ETag is
   * `version` (rewriteHeader); otherwise SOURCE_CHANGED, and the write is
   * aborted. How strongly that holds is `replaceMode`.
   */
  completeIfVersion(version: string): Promise<ObjectInfo> {
    return this.completeWith({ kind: 'version', version });
  }

  private async completeWith(condition: PublishCondition): Promise<ObjectInfo> {
    if (this.state === 'aborted' || this.state === 'suspended' || this.target.signal?.aborted) {
      throw new CloudlockerError('CANCELLED');
    }
    if (this.state !== 'open') throw new Error(`complete() on a writer that is ${this.state}.`);
    this.assertPartsCoverObject();
    this.state = 'completing';
    let version: string | undefined;
    try {
      const mode =
        condition.kind === 'any' ? undefined : condition.kind === 'absent' ? this.target.commitMode : this.target.replaceMode;
      // With a claim the condition is checked once the claim is held (below).
      if (mode !== undefined && mode !== 'claim') await this.checkCondition(condition);
      const claim =
        mode === 'claim'
          ? await acquireClaim(
              this.target.claims,
              this.target.name,
              this.marker ?? randomBytes(16).toString('hex'),
              // A waiting rewriter waits for the claim whatever happens to the name: it checks the version once it holds it.
              () => (condition.kind === 'absent' ? this.exists() : Promise.resolve(false)),
              this.target.signal,
            )
          : undefined;
      if (claim === 'name-taken') throw new CloudlockerError('ALREADY_EXISTS');
      try {
        // Holding the claim: the condition is checked again, now that no
        // other claiming writer can publish the name meanwhile.
        if (claim !== undefined) await this.checkCondition(condition);
        if (claim !== undefined && !(await claim.stillHeld())) {
          // Taken over as stale (this writer was slow): the name may well be
          // free, so the upload is kept and complete() may be called again.
          throw new CloudlockerError(
            'STORAGE_UNAVAILABLE',
            `Another writer took over the claim on "${this.target.name}" while this one was publishing it; try again.`,
          );
        }
        // From here on the signal is not passed: once publishing starts, its
        // outcome must be known, or a "cancelled" write could still appear.
        const headers = this.conditionHeaders(condition, mode);
        if (this.uploadId === undefined) version = await this.putWhole(condition, headers.put);
        else version = await this.completeMultipart(await this.uploadId, condition, headers.complete);
      } finally {
        await claim?.release();
      }
      this.state = 'completed';
    } catch (err) {
      if (err instanceof CloudlockerError && (err.reason === 'ALREADY_EXISTS' || err.reason === 'SOURCE_CHANGED')) {
        await this.abort();
        throw err;
      }
      // Anything else may be retried by calling complete() again.
      this.state = 'open';
      throw toStorageError(err, this.errorContext('publishing an object', 'publish'));
    }
    this.buffered.clear();
    return this.describe(version);
  }

  /** ALREADY_EXISTS / SOURCE_CHANGED when the object at the key fails `condition` now. */
  private async checkCondition(condition: PublishCondition): Promise<void> {
    if (condition.kind === 'absent' && (await this.exists())) throw new CloudlockerError('ALREADY_EXISTS');
    if (condition.kind === 'version' && (await this.currentEtag()) !== condition.version) throw sourceChanged(this.target.name);
  }

  /** The conditional headers the store enforces for `condition` in `mode` (none where it does not). */
  private conditionHeaders(
    condition: PublishCondition,
    mode: CommitMode | undefined,
  ): { put: ConditionHeaders; complete: ConditionHeaders } {
    if (condition.kind === 'absent' && mode !== 'check') return { put: { IfNoneMatch: '*' }, complete: { IfNoneMatch: '*' } };
    if (condition.kind !== 'version') return { put: {}, complete: {} };
    const putForm = this.target.claims.ifMatch;
    const completeForm = mode === 'conditional' ? this.target.ifMatchComplete : undefined;
    return {
      put: putForm === undefined || mode === 'check' ? {} : { IfMatch: ifMatchValue(putForm, condition.version) },
      complete: completeForm === undefined ? {} : { IfMatch: ifMatchValue(completeForm, condition.version) },
    };
  }

  /** Contract violations by the caller, reported as such rather than as a storage failure. */
  private assertPartsCoverObject(): void {
    if (this.uploadId === undefined) return;
    if (this.buffered.size > 0) throw new Error('A part shorter than minPartSize was followed by more parts.');
    const indexes = [...this.etags.keys()].sort((a, b) => a - b);
    if (indexes.length === 0) throw new Error('Part 0 was never written.');
    indexes.forEach((index, position) => {
      if (index !== position) throw new Error(`Part ${position} was never written.`);
    });
  }

  private async exists(): Promise<boolean> {
    return (await this.currentEtag()) !== undefined;
  }

  /** The ETag of the object at the key ('' when the store gives none), undefined when there is none. */
  private async currentEtag(): Promise<string | undefined> {
    try {
      const head = await this.target.client.send(new HeadObjectCommand({ Bucket: this.target.bucket, Key: this.target.key }), {
        abortSignal: this.target.signal,
      });
      return head.ETag ?? '';
    } catch (err) {
      if (isObjectNotFound(err)) return undefined;
      throw err;
    }
  }

  /** Resolves with the object's ETag. */
  private async putWhole(condition: PublishCondition, headers: ConditionHeaders): Promise<string | undefined> {
    const body = concatParts(this.buffered);
    const digest = md5(body);
    const etag = `"${digest.toString('hex')}"`;
    try {
      const result = await this.target.client.send(
        new PutObjectCommand({
          Bucket: this.target.bucket,
          Key: this.target.key,
          Body: body,
          ContentLength: body.length,
          ContentMD5: digest.toString('base64'),
          ...this.metadataOf({ marker: false }),
          ...headers,
        }),
      );
      return result.ETag || etag;
    } catch (err) {
      if (isPreconditionFailed(err) || isConditionalConflict(err)) {
        // A retried PUT whose first attempt succeeded also ends here: the
        // object is then ours, byte for byte.
        if ((await this.headIfOurs(body.length, { etag })) !== undefined) return etag;
        throw this.conditionFailed(condition);
      }
      throw err;
    }
  }

  /**
   * Resolves with the object's ETag: Complete's answer, or HeadObject's when
   * that is empty (Ceph RGW 16.2 answers an empty ETag).
   *
   * One attempt at a time, each failure told apart before another: RGW
   * answers 500 InternalError (not 404 NoSuchUpload) to a Complete whose
   * upload is gone, which the SDK would retry as a server fault and this
   * writer would then report as the store being unavailable.
   */
  private async completeMultipart(
    uploadId: string,
    condition: PublishCondition,
    headers: ConditionHeaders,
  ): Promise<string | undefined> {
    const indexes = [...this.etags.keys()].sort((a, b) => a - b);
    const attempts = 4;
    for (let attempt = 1; ; attempt++) {
      try {
        const result = await this.target.singleAttemptClient.send(
          new CompleteMultipartUploadCommand({
            Bucket: this.target.bucket,
            Key: this.target.key,
            UploadId: uploadId,
            MultipartUpload: { Parts: indexes.map((index) => ({ PartNumber: index + 1, ETag: this.etags.get(index) })) },
            ...headers,
          }),
        );
        if (result.ETag) return result.ETag;
        return (await this.headIfOurs(this.size, { marker: this.marker }))?.ETag;
      } catch (err) {
        if (isPreconditionFailed(err) || isConditionalConflict(err)) {
          // A retried Complete whose first attempt landed meets its own object.
          if (attempt > 1) {
            const ours = await this.headIfOurs(this.size, { marker: this.marker });
            if (ours !== undefined) return ours.ETag;
          }
          throw this.conditionFailed(condition);
        }
        const { status } = summariseS3Error(err);
        const serverFault = status === undefined || status >= 500;
        if (!isNoSuchUpload(err) && !serverFault) throw err;
        // A retried complete whose first attempt succeeded finds no upload;
        // so does one whose upload someone else aborted. Only our marker
        // tells. A server fault may be either too (RGW), or a passing fault.
        const ours = await this.headIfOurs(this.size, { marker: this.marker });
        if (ours !== undefined) return ours.ETag;
        if (isNoSuchUpload(err) || (await this.uploadGone(uploadId))) {
          throw new CloudlockerError(
            'STORAGE_UNAVAILABLE',
            `The S3 store ${this.target.location} no longer holds this upload (aborted or expired) and did not publish it: upload the file again.`,
            { details: { s3Code: 'NoSuchUpload' } },
          );
        }
        if (attempt >= attempts) throw err;
        await sleep(Math.floor(Math.random() * Math.min(100 * 2 ** attempt, 2_000)));
      }
    }
  }

  /** ListParts says the upload does not exist (NoSuchUpload; Ceph RGW 16.2: NoSuchKey). */
  private async uploadGone(uploadId: string): Promise<boolean> {
    try {
      await this.target.client.send(
        new ListPartsCommand({ Bucket: this.target.bucket, Key: this.target.key, UploadId: uploadId, MaxParts: 1 }),
      );
      return false;
    } catch (err) {
      return isUploadGone(err);
    }
  }

  private conditionFailed(condition: PublishCondition): CloudlockerError {
    return condition.kind === 'version' ? sourceChanged(this.target.name) : new CloudlockerError('ALREADY_EXISTS');
  }

  /**
   * The object's S3 user metadata: the caller's, each key prefixed (so other
   * tools' metadata and cloudlocker's own stay apart), and this upload's
   * marker on a multipart upload (a single PUT is known by its ETag).
   */
  private metadataOf(options: { marker: boolean }): { Metadata?: Record<string, string> } {
    const metadata = toS3Metadata(this.target.metadata);
    if (this.marker !== undefined && options.marker) metadata[UPLOAD_MARKER_KEY] = this.marker;
    return Object.keys(metadata).length === 0 ? {} : { Metadata: metadata };
  }

  /** The object now at the key, if it has our size, and our ETag or upload marker (when known). */
  private async headIfOurs(
    size: number,
    expected: { etag?: string | undefined; marker?: string | undefined },
  ): Promise<{ ETag: string | undefined } | undefined> {
    try {
      const head = await this.target.client.send(
        new HeadObjectCommand({ Bucket: this.target.bucket, Key: this.target.key }),
      );
      const ours =
        head.ContentLength === size &&
        (expected.etag === undefined || head.ETag === expected.etag) &&
        (expected.marker === undefined || head.Metadata?.[UPLOAD_MARKER_KEY] === expected.marker);
      return ours ? { ETag: head.ETag } : undefined;
    } catch {
      return undefined;
    }
  }

  /**
   * What complete() resolves with: the size is what was written, the time is
   * this machine's, where stat() reports the store's (to the second); the
   * version is the store's ETag.
   */
  private describe(version: string | undefined): ObjectInfo {
    return {
      name: this.target.name,
      storedSize: this.size,
      modifiedAt: new Date(),
      ...(version ? { version } : {}),
      ...(this.target.metadata === undefined || Object.keys(this.target.metadata).length === 0 ? {} : { metadata: this.target.metadata }),
    };
  }

  abort(): Promise<void> {
    // A suspended upload belongs to whoever resumes it (or discards it with Storage.discardWrite).
    if (this.state === 'completed' || this.state === 'suspended') return Promise.resolve();
    this.aborting ??= this.discard();
    return this.aborting;
  }

  private async discard(): Promise<void> {
    this.state = 'aborted';
    this.buffered.clear();
    this.stop.abort();
    const uploadId = await this.uploadId?.catch(() => undefined);
    if (uploadId === undefined) return;
    // Parts still in flight could otherwise land after the abort and keep
    // their storage.
    await Promise.allSettled([...this.inFlight]);
    try {
      await this.target.client.send(
        new AbortMultipartUploadCommand({ Bucket: this.target.bucket, Key: this.target.key, UploadId: uploadId }),
      );
    } catch {
      // Never rejects (contract). What remains is removed by init() of a
      // later run, or by a bucket lifecycle rule.
    }
  }

  private errorContext(doing: string, stage: S3ErrorContext['stage']): S3ErrorContext {
    return { location: this.target.location, doing, stage, signal: this.target.signal };
  }
}

function md5(data: Uint8Array): Buffer {
  return createHash('md5').update(data).digest();
}

/** The SigV4 header carrying the body's SHA-256 (lowercase hex); the signer uses it instead of hashing the body itself. */
const PAYLOAD_HASH_HEADER = 'x-amz-content-sha256';

function sha256Hex(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

function concatParts(parts: ReadonlyMap<number, Uint8Array>): Uint8Array {
  const ordered = [...parts.entries()].sort(([a], [b]) => a - b).map(([, data]) => data);
  return ordered.length === 1 ? ordered[0]! : Buffer.concat(ordered);
}
