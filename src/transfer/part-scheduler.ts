/**
 * Part scheduling shared by every transfer: the one part queue (its
 * concurrency bounds the memory in flight, partConcurrency x part size,
 * whatever the file sizes, and transfers share it fairly), the pool of
 * part-sized buffers, and how many chunks make a part for a store.
 */
import PQueue from 'p-queue';
import { setMaxListeners } from 'node:events';
import type { ChunkedLayout, FormatRegistry } from '../crypto/index.js';
import { InvalidParamsError } from '../errors.js';
import type { ObjectWriter, Storage } from '../storage/storage.js';
import type { PayloadWorkers } from '../crypto/payload-workers.js';
import { BufferPool } from './buffer-pool.js';
import { PartLayout } from './part-layout.js';
import type { TransferRecord, TransferRegistry } from './transfer-registry.js';

/**
 * Largest part the engine will hold in memory. With the queue's concurrency
 * it bounds memory; with S3's 10 000 parts it caps one object at about 625 GiB.
 */
const MAX_PART_BYTES = 64 * 1024 * 1024;
/**
 * Room for the header at the start of a part-sized buffer, rounded up to
 * this, so that buffers of uploads and downloads, of any format and header
 * length up to it, are one size the pool shares.
 */
const HEADER_ROOM_STEP = 4096;
/** Listeners one transfer's part signal may carry: each part in flight, and each request the store's client makes for it. */
const PART_SIGNAL_MAX_LISTENERS = 100;

/** What the upload and download pipelines share with the engine. */
export interface PipelineContext {
  readonly storage: Storage;
  readonly registry: TransferRegistry;
  readonly formats: FormatRegistry;
  readonly parts: PartScheduler;
  /** The last point where a cancel still counts; from here on the transfer publishes its result. */
  beginCommit(record: TransferRecord): void;
}

export class PartScheduler {
  readonly buffers: BufferPool;
  private readonly queue: PQueue;

  constructor(
    private readonly storage: Storage,
    private readonly partConcurrency: number,
    /** Format chunks per part, before raising to the backend's minimum part size. */
    private readonly chunksPerPart: number,
    /** Threads that seal and open runs of chunks (for a format that can use them); undefined: all on the JavaScript thread. */
    readonly workers?: PayloadWorkers,
  ) {
    this.queue = new PQueue({ concurrency: partConcurrency });
    this.buffers = new BufferPool(partConcurrency * 2, workers !== undefined);
  }

  /**
   * Run `count` parts through the shared part queue, keeping at most
   * partConcurrency of this transfer's parts queued or running. The first
   * failure stops the rest (their signal aborts) and is the one rethrown.
   * Resolves only when no part of this transfer is running any more, so the
   * caller can clean up without racing a write.
   */
  async run(
    count: number,
    transferSignal: AbortSignal,
    runPart: (index: number, signal: AbortSignal) => Promise<void>,
  ): Promise<void> {
    // One part (every small file): no other part to stop when it fails, so the
    // transfer's own signal serves; no AbortSignal.any composite (with its weak
    // references and finalization) per file.
    if (count === 1) {
      setMaxListeners(PART_SIGNAL_MAX_LISTENERS, transferSignal);
      try {
        await this.queue.add(async () => {
          transferSignal.throwIfAborted();
          await runPart(0, transferSignal);
        });
      } catch (err) {
        // As below: a cancelled transfer rejects with its signal's reason, whatever the part threw.
        transferSignal.throwIfAborted();
        throw err;
      }
      transferSignal.throwIfAborted();
      return;
    }
    const failed = new AbortController();
    const signal = AbortSignal.any([transferSignal, failed.signal]);
    // Every part in flight listens (the store's client adds its own per request): not a leak.
    setMaxListeners(PART_SIGNAL_MAX_LISTENERS, signal);
    let firstError: unknown;
    const inFlight = new Set<Promise<void>>();
    for (let index = 0; index < count && !signal.aborted; index++) {
      const task: Promise<void> = this.queue
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

  /**
   * Chunks per part for an upload: the preferred count, raised to the
   * backend's minimum part size and, for a store that caps the number of
   * parts (S3: 10 000), to what fits the file in that many parts.
   */
  chunksPerPartForWrite(plaintextSize: number, writer: ObjectWriter, chunks: ChunkedLayout): number {
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
  chunksPerPartForRead(chunks: ChunkedLayout): number {
    return PartLayout.chunksPerPartFor(this.chunksPerPart, this.storage.preferredReadSize ?? 0, chunks);
  }

  /** Size of a buffer for a full part's stored bytes (header included): one size for uploads and downloads, so they share buffers. */
  storedPartBytes(layout: PartLayout): number {
    const headerRoom = Math.ceil(layout.chunks.headerLength / HEADER_ROOM_STEP) * HEADER_ROOM_STEP;
    return this.chunksPerPartBytes(layout, layout.chunks.storedChunkSize) + headerRoom;
  }

  /** Size of a buffer for a full part's plaintext. */
  plainPartBytes(layout: PartLayout): number {
    return this.chunksPerPartBytes(layout, layout.chunks.chunkSize);
  }

  /** Size of a full part's buffer, so buffers of full parts are the pool's common size. */
  private chunksPerPartBytes(layout: PartLayout, bytesPerChunk: number): number {
    return layout.chunksPerPart * bytesPerChunk;
  }
}
