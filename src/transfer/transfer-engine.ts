/**
 * The transfer engine: uploads and downloads as queued, cancellable
 * transfers whose parts go through one shared p-queue.
 *
 * - At most `maxConcurrentTransfers` run at once; up to `maxQueuedTransfers`
 *   more wait as "queued"; beyond that a new one is refused with BUSY.
 * - Every part of every transfer is one task of the shared part queue, and a
 *   transfer keeps at most `partConcurrency` parts in it, so memory in flight
 *   is bounded by partConcurrency x part size whatever the file sizes, and
 *   transfers share the queue fairly.
 * - One AbortSignal per transfer reaches every stage; cancelling stops the
 *   work within one part, answers the request with CANCELLED and leaves no
 *   object, temporary or partial download behind.
 */
import PQueue from 'p-queue';
import { randomUUID } from 'node:crypto';
import { setMaxListeners } from 'node:events';
import type { FileHandle } from 'node:fs/promises';
import type { Logger } from 'pino';
import type { DownloadResult, ErrorObject, TransferDirection, UploadResult } from '../../protocol/index.js';
import {
  storedFormats,
  type ChunkedLayout,
  type ChunkOpener,
  type ChunkSealer,
  type Credentials,
  type EncryptionSpec,
  type FormatRegistry,
} from '../crypto/index.js';
import { CloudlockerError, InvalidParamsError, fromSystemError, toErrorObject } from '../errors.js';
import type { ObjectWriter, Storage } from '../storage/storage.js';
import { BufferPool } from './buffer-pool.js';
import {
  assertSourceUnchanged,
  createTemporary,
  openSource,
  publishTemporary,
  removeQuietly,
  resolveDestination,
  temporaryPathFor,
  type SourceFile,
} from './local-files.js';
import {
  isInterruption,
  TransferInterruption,
  type DownloadCheckpoints,
  type ResumedTransfer,
  type TransferCheckpoints,
  type UploadCheckpoints,
} from './checkpoints.js';
import { writevFully, type WritevTarget } from './file-io.js';
import { keepYoungGenerationSmall } from './gc-tuning.js';
import { PartLayout, type Part } from './part-layout.js';
import { partTagDigest, sealChunks, sealStart } from './part-seal.js';
import { downloadStreamedPart } from './streamed-part.js';
import { TransferRegistry, type TransferRecord } from './transfer-registry.js';

/**
 * Largest part the engine will hold in memory. With the queue's concurrency
 * it bounds memory; with S3's 10 000 parts it caps one object at about 625 GiB.
 */
const MAX_PART_BYTES = 64 * 1024 * 1024;
/** Chunks of plaintext an upload reads and seals at a time (1 MiB). */
const UPLOAD_SLICE_CHUNKS = 16;
/** Chunks of plaintext gathered before each write of a streamed download part (streamed-part.ts). */
const STREAMED_WRITE_BATCH_CHUNKS = 16;
/**
 * Room for the header at the start of a part-sized buffer, rounded up to
 * this, so that buffers of uploads and downloads, of any format and header
 * length up to it, are one size the pool shares.
 */
const HEADER_ROOM_STEP = 4096;
/** Listeners one transfer's part signal may carry: each part in flight, and each request the store's client makes for it. */
const PART_SIGNAL_MAX_LISTENERS = 100;

export interface TransferEngineOptions {
  readonly storage: Storage;
  readonly registry: TransferRegistry;
  /** Transfers running at once. Default 4. */
  readonly maxConcurrentTransfers?: number;
  /** Transfers allowed to wait beyond those running; more are refused with BUSY. Default 64. */
  readonly maxQueuedTransfers?: number;
  /** Parts in flight across all transfers (the shared queue's concurrency). Default 4. */
  readonly partConcurrency?: number;
  /** Format chunks per part, before raising to the backend's minimum part size. Default 16 (1 MiB). */
  readonly chunksPerPart?: number;
  readonly logger?: Logger;
  /** Journals new transfers so they can resume after a restart (resume.ts); without it nothing is journaled. */
  readonly checkpoints?: CheckpointFactory;
  /**
   * Keep V8's young generation from growing, process-wide, so the chunk
   * buffers Node's ciphers allocate are freed by scavenges (gc-tuning.ts).
   * Default true.
   */
  readonly tuneGarbageCollection?: boolean;
  /** The stored formats it reads and writes. Default: storedFormats (crypto/formats.ts). */
  readonly formats?: FormatRegistry;
}

/** Makes the checkpoints of a new transfer; undefined when it cannot be journaled (it then runs without). */
export interface CheckpointFactory {
  upload(transferId: string, request: UploadRequest): Promise<UploadCheckpoints | undefined>;
  download(transferId: string, request: DownloadRequest, sizes: StoredSizes): Promise<DownloadCheckpoints | undefined>;
}

/** A stored object's size as the store lists it, and its plaintext size. */
export interface StoredSizes {
  readonly storedSize: number;
  readonly plaintextSize: number;
}

export interface UploadRequest {
  readonly transferId?: string;
  readonly source: SourceFile;
  readonly name: string;
  readonly overwrite: boolean;
  /** The format to write and what it seals with (v1: v1Encryption(masterKey)). */
  readonly encryption: EncryptionSpec;
  /** Echoed in the result. */
  readonly keyPath: string;
  readonly keyCreated: boolean;
  /** A transfer resumed after a restart: its checkpoints, start time and bytes already done. */
  readonly resume?: { readonly checkpoints: UploadCheckpoints; readonly resumed: ResumedTransfer };
  /** The id its request reserved (see reserving()); it replaces transferId. */
  readonly reservation?: TransferReservation;
}

export interface DownloadRequest {
  readonly transferId?: string;
  readonly name: string;
  readonly destination: string;
  readonly overwrite: boolean;
  /** What opens the object, whatever its format (v1: masterKeyCredentials(masterKey)). */
  readonly credentials: Credentials;
  /** The key file, journaled so the download can resume after a restart; without it the download is not journaled. */
  readonly keyPath?: string;
  readonly resume?: { readonly checkpoints: DownloadCheckpoints; readonly resumed: ResumedTransfer };
  readonly reservation?: TransferReservation;
}

/**
 * A transfer's id, held from the moment its request arrived while the
 * request is still being checked (see TransferEngine.reserving). A cancel
 * meanwhile aborts its controller, which the transfer then takes over.
 */
export interface TransferReservation {
  readonly transferId: string;
  readonly direction: TransferDirection;
  readonly name: string;
  readonly abortController: AbortController;
}

export class TransferEngine {
  readonly registry: TransferRegistry;
  private readonly storage: Storage;
  private readonly transferQueue: PQueue;
  private readonly partQueue: PQueue;
  private readonly maxQueuedTransfers: number;
  private readonly partConcurrency: number;
  private readonly chunksPerPart: number;
  private readonly buffers: BufferPool;
  private readonly logger: Logger | undefined;
  private readonly checkpointFactory: CheckpointFactory | undefined;
  private readonly formats: FormatRegistry;
  private closed = false;
  /** Transfers past their last cancellable step (publishing the object or the file). */
  private readonly committing = new Set<string>();
  /** Ids of requests still being checked, not yet transfers (see reserving()). */
  private readonly reservations = new Map<string, TransferReservation>();

  constructor(options: TransferEngineOptions) {
    this.storage = options.storage;
    this.registry = options.registry;
    this.transferQueue = new PQueue({ concurrency: options.maxConcurrentTransfers ?? 4 });
    this.partConcurrency = options.partConcurrency ?? 4;
    this.partQueue = new PQueue({ concurrency: this.partConcurrency });
    this.maxQueuedTransfers = options.maxQueuedTransfers ?? 64;
    this.chunksPerPart = options.chunksPerPart ?? 16;
    this.buffers = new BufferPool(this.partConcurrency * 2);
    this.logger = options.logger;
    this.checkpointFactory = options.checkpoints;
    this.formats = options.formats ?? storedFormats;
    if (options.tuneGarbageCollection !== false) keepYoungGenerationSmall();
  }

  /** Encrypt and store a local file. Resolves when the transfer has completed; rejects when it failed or was cancelled. */
  async upload(request: UploadRequest): Promise<UploadResult> {
    const checkpoints =
      request.resume?.checkpoints ?? ((transferId: string) => this.checkpointFactory?.upload(transferId, request));
    return this.run('upload', request, request.source.size, checkpoints, (record, journal) => this.runUpload(record, request, journal));
  }

  /** Fetch, authenticate and decrypt a stored file into a local file. */
  async download(request: DownloadRequest): Promise<DownloadResult> {
    const info = await this.storage.stat(request.name);
    // From the stored size alone when the formats allow it (v1: a fixed header); otherwise from the header.
    const size =
      this.formats.plaintextSizeFromStoredSize(info.storedSize) ??
      (await this.formats.readHeader((position, length) => this.storage.readRange(request.name, position, length))).layout.plaintextSizeFor(
        info.storedSize,
      );
    const sizes: StoredSizes = { storedSize: info.storedSize, plaintextSize: size };
    const checkpoints =
      request.resume?.checkpoints ?? ((transferId: string) => this.checkpointFactory?.download(transferId, request, sizes));
    return this.run('download', request, size, checkpoints, (record, journal) => this.runDownload(record, request, sizes, journal));
  }

  /**
   * Reserve a request's transferId (a random one if it has none) and run
   * `prepare`: the request's checks, ending with upload() or download()
   * given the reservation. The id is held before anything is awaited, so a
   * cancelTransfer sent right after the request finds it although the
   * checks (key file, source, store) take a while: it used to answer
   * NOT_FOUND, and the transfer then ran to the end. A second request with
   * the id is refused meanwhile. A request cancelled before its transfer
   * started answers CANCELLED and is listed as a cancelled transfer.
   */
  async reserving<R>(
    direction: TransferDirection,
    requestedId: string | undefined,
    name: string,
    prepare: (reservation: TransferReservation) => Promise<R>,
  ): Promise<R> {
    const transferId = requestedId ?? randomUUID();
    this.refuseIdInUse(transferId, undefined, undefined);
    const reservation: TransferReservation = { transferId, direction, name, abortController: new AbortController() };
    this.reservations.set(transferId, reservation);
    try {
      return await prepare(reservation);
    } catch (err) {
      // A transfer that started answers for itself; this request failed before (its checks, or refused).
      const started = this.reservations.get(transferId) !== reservation;
      if (started || !reservation.abortController.signal.aborted) throw err;
      const record = this.registry.create(transferId, direction, name, 0);
      this.registry.finish(record, 'cancelled', { error: toErrorObject(new CloudlockerError('CANCELLED')) });
      this.logger?.child({ transferId, direction }).info('transfer cancelled before it started');
      throw new CloudlockerError('CANCELLED');
    } finally {
      if (this.reservations.get(transferId) === reservation) this.reservations.delete(transferId);
    }
  }

  /** Cancel a queued or running transfer, or one whose request is still being checked. `cancelled` is false when it had already finished. */
  cancel(transferId: string): { transferId: string; cancelled: boolean } {
    const record = this.registry.get(transferId);
    const reservation = this.reservations.get(transferId);
    if (record === undefined && reservation !== undefined) {
      // Its request is still being checked: the transfer will start cancelled.
      reservation.abortController.abort(new CloudlockerError('CANCELLED'));
      return { transferId, cancelled: true };
    }
    if (record === undefined) {
      throw new CloudlockerError('NOT_FOUND', 'No transfer has that id: it may have finished and been acknowledged, or finished more than a day ago.');
    }
    // Once publishing has begun the transfer completes: saying "cancelled" would be untrue.
    if (record.finished || this.committing.has(transferId)) return { transferId, cancelled: false };
    record.abortController.abort(new CloudlockerError('CANCELLED'));
    return { transferId, cancelled: true };
  }

  /**
   * Stop everything and wait for the work to stop (server shutdown).
   * Journaled transfers are interrupted, keeping what they have done, to
   * resume at the next start; the others are cancelled.
   */
  async close(): Promise<void> {
    this.closed = true;
    for (const { transferId, state } of this.registry.list().transfers) {
      if (state !== 'queued' && state !== 'running') continue;
      const record = this.registry.get(transferId);
      if (record?.resumable === true && !this.committing.has(transferId)) {
        record.abortController.abort(new TransferInterruption());
      } else {
        this.cancel(transferId);
      }
    }
    await this.transferQueue.onIdle();
  }

  private async run<R extends UploadResult | DownloadResult, C extends TransferCheckpoints>(
    direction: TransferDirection,
    request: UploadRequest | DownloadRequest,
    totalBytes: number,
    checkpointsOf: C | ((transferId: string) => Promise<C | undefined> | undefined),
    work: (record: TransferRecord, checkpoints: C | undefined) => Promise<R>,
  ): Promise<R> {
    const { name, reservation } = request;
    const resumed = request.resume?.resumed;
    if (this.closed) throw new CloudlockerError('BUSY', 'The server is shutting down: try again once it has restarted.');
    const transferId = reservation?.transferId ?? request.transferId ?? randomUUID();
    this.refuseIdInUse(transferId, resumed, reservation);
    if (this.transferQueue.size >= this.maxQueuedTransfers) throw new CloudlockerError('BUSY');

    const record = this.registry.create(transferId, direction, name, totalBytes, resumed);
    if (reservation !== undefined) {
      // The transfer takes over its reservation, and with it a cancel that came while its request was checked.
      record.abortController = reservation.abortController;
      this.reservations.delete(transferId);
    }
    const log = this.logger?.child({ transferId, direction });
    log?.info({ totalBytes, resumedFrom: resumed?.doneBytes }, resumed === undefined ? 'transfer queued' : 'transfer resumed');
    let checkpoints: C | undefined;
    try {
      // Cancelled while its request was checked: nothing to journal or run.
      record.signal.throwIfAborted();
      checkpoints = typeof checkpointsOf === 'function' ? await journalOrNothing(checkpointsOf, transferId, log) : checkpointsOf;
      record.resumable = checkpoints !== undefined;
      const result = await this.whenSlotFree(record, async () => {
        this.registry.setRunning(record);
        return work(record, checkpoints);
      });
      await checkpoints?.finish('completed', { result }).catch((err: unknown) => log?.warn({ err: errorForLog(err) }, 'journal not updated'));
      this.registry.finish(record, 'completed', { result });
      log?.info('transfer completed');
      return result;
    } catch (err) {
      if (checkpoints !== undefined && isInterruption(record.signal)) {
        // Kept, journal and partial data alike, to resume at the next start.
        this.registry.interrupt(record);
        log?.info('transfer interrupted');
        throw new CloudlockerError('CANCELLED', 'The server is shutting down: the transfer resumes when it starts again.', {
          details: { interrupted: true },
        });
      }
      const error = record.signal.aborted ? new CloudlockerError('CANCELLED') : err;
      const errorObject: ErrorObject = toErrorObject(error);
      const outcome = record.signal.aborted ? 'cancelled' : 'failed';
      await checkpoints?.finish(outcome, { error: errorObject }).catch((journalError: unknown) =>
        log?.warn({ err: errorForLog(journalError) }, 'journal not updated'),
      );
      this.registry.finish(record, outcome, { error: errorObject });
      if (outcome === 'cancelled') log?.info('transfer cancelled');
      else log?.warn({ err: errorForLog(err), reason: errorObject.data?.['reason'] }, 'transfer failed');
      throw error;
    } finally {
      this.committing.delete(transferId);
    }
  }

  /** Only a resume may take the id of an interrupted transfer, and only its own reservation a reserved one. */
  private refuseIdInUse(transferId: string, resumed: ResumedTransfer | undefined, reservation: TransferReservation | undefined): void {
    const existing = this.registry.get(transferId);
    const reserved = this.reservations.get(transferId);
    if (
      (existing !== undefined && !(resumed !== undefined && existing.state === 'interrupted')) ||
      (reserved !== undefined && reserved !== reservation)
    ) {
      throw new InvalidParamsError('transferId is already in use: choose another or leave it out.', 'transferId');
    }
  }

  private async runUpload(
    record: TransferRecord,
    request: UploadRequest,
    checkpoints: UploadCheckpoints | undefined,
  ): Promise<UploadResult> {
    const { signal } = record;
    const source = await openSource(request.source);
    let writer: ObjectWriter | undefined;
    try {
      await refuseUnknownSizeFile(source, request.source);
      let encryptor: ChunkSealer;
      let chunksPerPart: number;
      if (checkpoints === undefined) {
        encryptor = this.formats.createSealer(request.encryption);
        writer = await this.storage.beginWrite(request.name, {
          signal,
          expectedSize: encryptor.layout.storedSizeFor(request.source.size),
        });
        chunksPerPart = this.chunksPerPartFor(request.source.size, writer, encryptor.layout);
      } else {
        // A journaled upload: fresh, or resumed with its header, layout and the store's unfinished write.
        ({ encryptor, writer, chunksPerPart } = await checkpoints.prepare({
          storage: this.storage,
          formats: this.formats,
          encryption: request.encryption,
          source,
          signal,
          plaintextSize: request.source.size,
          chunksPerPartFor: (newWriter, chunks) => this.chunksPerPartFor(request.source.size, newWriter, chunks),
        }));
      }
      const parts = new PartLayout(request.source.size, chunksPerPart, encryptor.layout);
      const activeWriter = writer;
      await this.runParts(parts.partCount, signal, async (partIndex, partSignal) => {
        if (checkpoints?.isDone(partIndex) === true) return;
        const part = parts.part(partIndex);
        await this.uploadPart(record, part, parts, source, encryptor, activeWriter, partSignal, checkpoints);
      });
      await assertSourceUnchanged(source, request.source);
      await assertNoBytesAfter(source, request.source);
      this.beginCommit(record);
      await checkpoints?.committing?.();
      const stored = await writer.complete({ overwrite: request.overwrite });
      writer = undefined;
      return {
        transferId: record.transferId,
        name: request.name,
        size: request.source.size,
        storedSize: stored.storedSize,
        keyId: encryptor.keyId,
        keyPath: request.keyPath,
        keyCreated: request.keyCreated,
      };
    } finally {
      // An interrupted journaled upload keeps its partial object to resume from.
      if (checkpoints !== undefined && isInterruption(signal)) await (writer?.suspend?.() ?? writer?.abort());
      else await writer?.abort();
      await source.close().catch(() => undefined);
    }
  }

  private async uploadPart(
    record: TransferRecord,
    part: Part,
    layout: PartLayout,
    source: FileHandle,
    encryptor: ChunkSealer,
    writer: ObjectWriter,
    signal: AbortSignal,
    checkpoints?: UploadCheckpoints,
  ): Promise<void> {
    // The plaintext is read and sealed a slice at a time: a part of S3's
    // 5 MiB holds a 1 MiB plaintext buffer, not a second 5 MiB one.
    const { chunkSize } = layout.chunks;
    const sliceChunks = Math.min(layout.chunksPerPart, UPLOAD_SLICE_CHUNKS);
    let plain: Buffer | undefined = this.buffers.acquire(sliceChunks * chunkSize);
    const stored = this.buffers.acquire(this.storedPartBytes(layout));
    try {
      let storedLength = sealStart(encryptor, part, stored);
      for (let first = 0; first < part.chunkCount; first += sliceChunks) {
        const plainStart = first * chunkSize;
        const plainLength = Math.min(sliceChunks * chunkSize, part.plainLength - plainStart);
        const { bytesRead } = await readFully(source, plain, plainLength, part.plainOffset + plainStart);
        if (bytesRead !== plainLength) throw new CloudlockerError('SOURCE_CHANGED');
        signal.throwIfAborted();
        storedLength = sealChunks(encryptor, layout, part.firstChunk + first, plain.subarray(0, plainLength), stored, storedLength);
      }
      // Back to the pool before the (longest) wait, the write: parts waiting
      // on the store then hold one buffer each, not two.
      this.buffers.release(plain);
      plain = undefined;
      // Journaled before anything leaves: a resume re-encrypts this part only if the source seals to the same tags.
      if (checkpoints !== undefined) await checkpoints.partSealed(part.index, partTagDigest(stored, part, layout));
      this.registry.addProgress(record, { cryptoBytes: part.plainLength });
      const offset = part.index === 0 ? 0 : part.chunksOffset;
      await writer.writePart(part.index, offset, stored.subarray(0, storedLength));
      // Counted only once journaled, so no byte reported as transferred is ever sent again.
      await checkpoints?.partDone(part.index, writer);
      this.registry.addProgress(record, { transferredBytes: part.plainLength });
    } finally {
      if (plain !== undefined) this.buffers.release(plain);
      this.buffers.release(stored);
    }
  }

  private async runDownload(
    record: TransferRecord,
    request: DownloadRequest,
    sizes: StoredSizes,
    checkpoints: DownloadCheckpoints | undefined,
  ): Promise<DownloadResult> {
    const { signal } = record;
    const target = await resolveDestination(request.destination, request.name, request.overwrite);
    const { format, header, layout: chunks } = await this.formats.readHeader((position, length) =>
      this.storage.readRange(request.name, position, length, signal),
    );
    // The size was worked out before the header was read (from the stored size alone, or from a first read).
    if (chunks.plaintextSizeFor(sizes.storedSize) !== record.totalBytes) throw new CloudlockerError('INTEGRITY');
    const decryptor = format.createOpener(request.credentials, header);

    const tempPath = temporaryPathFor(target, record.transferId);
    // A journaled download keeps the temporary (and the parts in it) of a run that was interrupted.
    const { temp, chunksPerPart } =
      checkpoints === undefined
        ? { temp: await createTemporary(tempPath), chunksPerPart: this.readChunksPerPart(chunks) }
        : await checkpoints.prepare({ header, chunks, target, tempPath, preferredChunksPerPart: this.readChunksPerPart(chunks) });
    let published = false;
    try {
      const layout = new PartLayout(record.totalBytes, chunksPerPart, chunks);
      await this.runParts(layout.partCount, signal, async (partIndex, partSignal) => {
        if (checkpoints?.isDone(partIndex) === true) return;
        await this.downloadPart(record, layout.part(partIndex), layout, request.name, decryptor, temp, partSignal);
        await checkpoints?.partDone(partIndex);
        this.registry.addProgress(record, { cryptoBytes: layout.part(partIndex).plainLength });
      });
      try {
        await temp.sync();
      } catch (err) {
        throw fromSystemError(err, 'the downloaded file');
      }
      await temp.close();
      this.beginCommit(record);
      await checkpoints?.committing?.();
      await publishTemporary(tempPath, target, request.overwrite);
      published = true;
      return { transferId: record.transferId, name: request.name, path: target, size: record.totalBytes };
    } finally {
      await temp.close().catch(() => undefined);
      const keepToResume = checkpoints !== undefined && isInterruption(signal);
      if (!published && !keepToResume) await removeQuietly(tempPath);
    }
  }

  private async downloadPart(
    record: TransferRecord,
    part: Part,
    layout: PartLayout,
    name: string,
    decryptor: ChunkOpener,
    temp: WritevTarget,
    signal: AbortSignal,
  ): Promise<void> {
    if (this.storage.readRangeStream !== undefined) {
      const batch = this.buffers.acquire(STREAMED_WRITE_BATCH_CHUNKS * layout.chunks.chunkSize);
      try {
        await downloadStreamedPart({
          body: this.storage.readRangeStream(name, part.chunksOffset, part.chunksLength, signal),
          part,
          layout,
          decryptor,
          file: temp,
          batch,
          signal,
          onWritten: (plainBytes) => this.registry.addProgress(record, { transferredBytes: plainBytes }),
        });
      } finally {
        this.buffers.release(batch);
      }
      return;
    }
    const into = this.storage.readRangeInto === undefined ? undefined : this.buffers.acquire(this.storedPartBytes(layout));
    const stored = await this.readStoredPart(name, part, signal, into);
    this.registry.addProgress(record, { transferredBytes: part.plainLength });
    // Decrypted into a pooled buffer, not into one the decipher allocates
    // per chunk: see copyOut in crypto/aes-gcm.ts for what such garbage costs.
    const { chunkSize, storedChunkSize } = layout.chunks;
    const plain = this.buffers.acquire(this.chunksPerPartBytes(layout, chunkSize));
    try {
      let storedAt = 0;
      let plainAt = 0;
      for (let i = 0; i < part.chunkCount; i++) {
        const chunkIndex = part.firstChunk + i;
        const storedLength = Math.min(storedChunkSize, stored.length - storedAt);
        const chunk = stored.subarray(storedAt, storedAt + storedLength);
        plainAt += decryptor.decryptChunk(chunkIndex, chunk, layout.isFinalChunk(chunkIndex), plain, plainAt).length;
        storedAt += storedLength;
      }
      signal.throwIfAborted();
      try {
        await writevFully(temp, [plain.subarray(0, plainAt)], part.plainOffset);
      } catch (err) {
        throw fromSystemError(err, 'the downloaded file');
      }
    } finally {
      this.buffers.release(plain);
      if (into !== undefined) this.buffers.release(into);
    }
  }

  /**
   * A part's stored bytes: read into the pooled buffer `into` when the
   * backend can read into one (the local store), so that a download does not
   * allocate a part-sized buffer per part (half its garbage otherwise);
   * as readRange returns them elsewhere. Exactly chunksLength bytes or
   * INTEGRITY; `into` goes back to the pool here when the read fails.
   */
  private async readStoredPart(name: string, part: Part, signal: AbortSignal, into: Buffer | undefined): Promise<Uint8Array> {
    try {
      let stored: Uint8Array;
      if (into !== undefined && this.storage.readRangeInto !== undefined) {
        const target = into.subarray(0, part.chunksLength);
        stored = target.subarray(0, await this.storage.readRangeInto(name, part.chunksOffset, target, signal));
      } else {
        stored = await this.storage.readRange(name, part.chunksOffset, part.chunksLength, signal);
      }
      // Fewer bytes than the listing promised: the object changed or was cut short.
      if (stored.length !== part.chunksLength) throw new CloudlockerError('INTEGRITY');
      return stored;
    } catch (err) {
      if (into !== undefined) this.buffers.release(into);
      throw err;
    }
  }

  /**
   * Run `work` once one of the maxConcurrentTransfers slots is free. A
   * transfer cancelled while it waits is answered at once and leaves the
   * queue. (The transfer's own signal is not handed to p-queue, which would
   * free the slot while cancelled work still cleans up.)
   */
  private async whenSlotFree<R>(record: TransferRecord, work: () => Promise<R>): Promise<R> {
    // Fires only while the transfer waits, so p-queue drops it from the queue
    // (it no longer counts towards BUSY) but never frees a running slot early.
    const dequeue = new AbortController();
    const cancelledWhileQueued = new Promise<never>((_, reject) => {
      record.signal.addEventListener(
        'abort',
        () => {
          if (record.state !== 'queued') return;
          dequeue.abort(record.signal.reason);
          reject(record.signal.reason);
        },
        { once: true },
      );
    });
    const queued = this.transferQueue.add(
      async () => {
        record.signal.throwIfAborted();
        return work();
      },
      { signal: dequeue.signal },
    );
    // Whichever loses the race must not become an unhandled rejection.
    queued.catch(() => undefined);
    cancelledWhileQueued.catch(() => undefined);
    return Promise.race([queued, cancelledWhileQueued]);
  }

  /**
   * Run `count` parts through the shared part queue, keeping at most
   * partConcurrency of this transfer's parts queued or running. The first
   * failure stops the rest (their signal aborts) and is the one rethrown.
   * Resolves only when no part of this transfer is running any more, so the
   * caller can clean up without racing a write.
   */
  private async runParts(
    count: number,
    transferSignal: AbortSignal,
    runPart: (index: number, signal: AbortSignal) => Promise<void>,
  ): Promise<void> {
    const failed = new AbortController();
    const signal = AbortSignal.any([transferSignal, failed.signal]);
    // Every part in flight listens (the store's client adds its own per request): not a leak.
    setMaxListeners(PART_SIGNAL_MAX_LISTENERS, signal);
    let firstError: unknown;
    const inFlight = new Set<Promise<void>>();
    for (let index = 0; index < count && !signal.aborted; index++) {
      const task: Promise<void> = this.partQueue
        .add(async () => {
          signal.throwIfAborted();
          await runPart(index, signal);
        })
        .catch((err: unknown) => {
          if (firstError === undefined && !transferSignal.aborted) {
            firstError = err;
            failed.abort(err);
          }
        })
        .finally(() => inFlight.delete(task));
      inFlight.add(task);
      if (inFlight.size >= this.partConcurrency) await Promise.race(inFlight);
    }
    await Promise.all(inFlight);
    transferSignal.throwIfAborted();
    if (firstError !== undefined) throw firstError;
  }

  /** The last point where a cancel still counts; from here on the transfer publishes its result. */
  private beginCommit(record: TransferRecord): void {
    record.signal.throwIfAborted();
    this.committing.add(record.transferId);
  }

  /**
   * Chunks per part for an upload: the preferred count, raised to the
   * backend's minimum part size and, for a store that caps the number of
   * parts (S3: 10 000), to what fits the file in that many parts.
   */
  private chunksPerPartFor(plaintextSize: number, writer: ObjectWriter, chunks: ChunkedLayout): number {
    let chunksPerPart = PartLayout.chunksPerPartFor(this.chunksPerPart, writer.minPartSize, chunks);
    if (writer.maxParts !== undefined) {
      chunksPerPart = Math.max(chunksPerPart, Math.ceil(chunks.chunkCountFor(plaintextSize) / writer.maxParts));
    }
    if (chunksPerPart * chunks.storedChunkSize > MAX_PART_BYTES) {
      const limitGiB = Math.floor(((writer.maxParts ?? 0) * MAX_PART_BYTES) / 2 ** 30);
      throw new InvalidParamsError(
        `The file is too large for this store: it takes objects of at most about ${limitGiB} GiB.`,
        'path',
      );
    }
    return chunksPerPart;
  }

  /** Chunks per part of a download: the preferred count, raised to the store's preferred read size. */
  private readChunksPerPart(chunks: ChunkedLayout): number {
    return PartLayout.chunksPerPartFor(this.chunksPerPart, this.storage.preferredReadSize ?? 0, chunks);
  }

  /** Size of a buffer for a full part's stored bytes (header included): one size for uploads and downloads, so they share buffers. */
  private storedPartBytes(layout: PartLayout): number {
    const headerRoom = Math.ceil(layout.chunks.headerLength / HEADER_ROOM_STEP) * HEADER_ROOM_STEP;
    return this.chunksPerPartBytes(layout, layout.chunks.storedChunkSize) + headerRoom;
  }

  /** Size of a full part's buffer, so buffers of full parts are the pool's common size. */
  private chunksPerPartBytes(layout: PartLayout, bytesPerChunk: number): number {
    return layout.chunksPerPart * bytesPerChunk;
  }
}

async function readFully(
  handle: FileHandle,
  buffer: Buffer,
  length: number,
  position: number,
): Promise<{ bytesRead: number }> {
  let total = 0;
  while (total < length) {
    let bytesRead: number;
    try {
      ({ bytesRead } = await handle.read(buffer, total, length - total, position + total));
    } catch (err) {
      throw fromSystemError(err, 'the file to upload');
    }
    if (bytesRead === 0) break;
    total += bytesRead;
  }
  return { bytesRead: total };
}

/** Files such as those in /proc report size 0 but have content: their size cannot be trusted. */
async function refuseUnknownSizeFile(handle: FileHandle, source: SourceFile): Promise<void> {
  if (source.size !== 0) return;
  const probe = Buffer.alloc(1);
  const { bytesRead } = await handle.read(probe, 0, 1, 0);
  if (bytesRead > 0) {
    throw new InvalidParamsError(
      'path is a special file whose size is not known in advance (such as a /proc file): copy it to a regular file first.',
      'path',
    );
  }
}

/** A file that grew after it was measured has bytes past the end; the upload would silently miss them. */
async function assertNoBytesAfter(handle: FileHandle, source: SourceFile): Promise<void> {
  const probe = Buffer.alloc(1);
  const { bytesRead } = await handle.read(probe, 0, 1, source.size);
  if (bytesRead > 0) throw new CloudlockerError('SOURCE_CHANGED');
}

/** A transfer whose journal entry cannot be written still runs, only not resumably. */
async function journalOrNothing<C>(
  make: (transferId: string) => Promise<C | undefined> | undefined,
  transferId: string,
  log: Logger | undefined,
): Promise<C | undefined> {
  try {
    return await make(transferId);
  } catch (err) {
    log?.warn({ err: errorForLog(err) }, 'transfer not journaled: it cannot resume after a restart');
    return undefined;
  }
}

/** What of an error may go to the log: its kind and code, never a message that might carry a path. */
function errorForLog(err: unknown): Record<string, unknown> {
  if (err instanceof CloudlockerError) return { type: err.name, reason: err.reason };
  if (err instanceof Error) return { type: err.name, code: (err as { code?: unknown }).code, stack: err.stack };
  return { type: typeof err };
}
