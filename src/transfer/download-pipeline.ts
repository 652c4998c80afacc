/**
 * The download pipeline: the stored object's header read and opened by its
 * format, its parts read (streamed where the store streams, into pooled
 * buffers where it can read into them), authenticated and decrypted chunk
 * by chunk into a temporary beside the target, which is published once every
 * part is in. Nothing unauthenticated is ever written.
 */
import type { DownloadResult } from '../../protocol/index.js';
import type { ChunkOpener } from '../crypto/index.js';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { CloudlockerError, fromSystemError, isCloudlockerError } from '../errors.js';
import { FlushBehind } from '../fs/flush-behind.js';
import { isInterruption, type DownloadCheckpoints } from './checkpoints.js';
import { writevFully, type WritevTarget } from './file-io.js';
import { createDestinationFile, publishTemporary, removeQuietly, resolveDestination, temporaryPathFor, type DestinationFile } from './local-files.js';
import { PartLayout, type Part } from './part-layout.js';
import { openChunks } from './part-seal.js';
import type { PipelineContext } from './part-scheduler.js';
import { downloadStreamedPart } from './streamed-part.js';
import type { ObjectReader } from '../storage/storage.js';
import type { DownloadRequest, StoredSizes } from './transfer-requests.js';
import type { TransferRecord } from './transfer-registry.js';

/** Chunks of plaintext gathered before each write of a streamed download part (streamed-part.ts). */
const STREAMED_WRITE_BATCH_CHUNKS = 16;

export class DownloadPipeline {
  constructor(private readonly context: PipelineContext) {}

  /** Fetch, authenticate and decrypt into the destination; the transfer's admission, outcome and journal finish are the engine's. */
  async run(
    record: TransferRecord,
    request: DownloadRequest,
    sizes: StoredSizes,
    checkpoints: DownloadCheckpoints | undefined,
  ): Promise<DownloadResult> {
    const { signal } = record;
    const target = await resolveDestination(request.destination, request.name, {
      overwrite: request.overwrite,
      createDirectories: request.createDirectories === true,
      ...(request.destinationLooked === undefined ? {} : { looked: request.destinationLooked }),
      ...(request.destinationFolderReady === true ? { folderReady: true } : {}),
    });
    // Read once: the engine may have read it already to learn the size. An
    // object replaced since then fails authentication chunk by chunk.
    const { format, header, layout: chunks } =
      sizes.header ??
      (await this.context.formats.readHeader((position, length) => this.context.storage.readRange(request.name, position, length, signal)));
    // The size was worked out before the header was read (from the stored size alone, or from a first read).
    if (chunks.plaintextSizeFor(sizes.storedSize) !== record.totalBytes) throw new CloudlockerError('INTEGRITY');
    const decryptor = format.createOpener(request.credentials, header);

    const tempPath = temporaryPathFor(target, record.transferId);
    // A journaled download keeps the temporary (and the parts in it) of a run that was interrupted.
    const { temp, chunksPerPart } =
      checkpoints === undefined
        ? { temp: await createTemporaryFor(tempPath, request), chunksPerPart: this.context.parts.chunksPerPartForRead(chunks) }
        : await checkpoints.prepare({ header, chunks, target, tempPath, preferredChunksPerPart: this.context.parts.chunksPerPartForRead(chunks) });
    let published = false;
    let reader: ObjectReader | undefined;
    // The destination is flushed to the disk as parts land, not all at once at the end.
    const flush = new FlushBehind(temp);
    const destination: WritevTarget = {
      async writev(buffers, position) {
        const written = await temp.writev(buffers, position);
        flush.wrote(written.bytesWritten);
        return written;
      },
    };
    try {
      const layout = new PartLayout(record.totalBytes, chunksPerPart, chunks);
      // A store that streams (S3) is read by streamed ranges; one that can, is opened once for all the parts (local).
      const { storage } = this.context;
      if (sizes.storedBytes === undefined && storage.readRangeStream === undefined && storage.openReader !== undefined) {
        reader = await storage.openReader(request.name, signal);
      }
      await this.context.parts.run(layout.partCount, signal, async (partIndex, partSignal) => {
        if (checkpoints?.isDone(partIndex) === true) return;
        await this.downloadPart(record, layout.part(partIndex), layout, request.name, decryptor, destination, partSignal, reader, sizes.storedBytes);
        await checkpoints?.partDone(partIndex);
        this.context.registry.addProgress(record, { cryptoBytes: layout.part(partIndex).plainLength });
      });
      try {
        await flush.finish();
      } catch (err) {
        throw fromSystemError(err, 'the downloaded file');
      }
      await temp.close();
      this.context.beginCommit(record);
      await checkpoints?.committing?.();
      await publishTemporary(tempPath, target, request.overwrite);
      published = true;
      const author = decryptor.authorCardId === undefined ? undefined : request.describeAuthor?.(decryptor.authorCardId);
      return { transferId: record.transferId, name: request.name, path: target, size: record.totalBytes, ...(author === undefined ? {} : { author }) };
    } finally {
      // parts.run() resolves only when no part reads any more.
      await reader?.close();
      await flush.settle();
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
    reader: ObjectReader | undefined,
    /** The whole object, already read (a small one): the part is cut from it. */
    storedBytes: Uint8Array | undefined,
  ): Promise<void> {
    if (storedBytes === undefined && this.context.storage.readRangeStream !== undefined) {
      const { buffers, workers } = this.context.parts;
      const batch = buffers.acquire(STREAMED_WRITE_BATCH_CHUNKS * layout.chunks.chunkSize);
      // Opened on a worker thread a batch at a time when the format can (age), in place on arrival otherwise.
      const staged =
        workers !== undefined && decryptor.openChunksOn !== undefined
          ? { workers, storedBatch: buffers.acquire(STREAMED_WRITE_BATCH_CHUNKS * layout.chunks.storedChunkSize) }
          : undefined;
      try {
        await downloadStreamedPart({
          body: this.context.storage.readRangeStream(name, part.chunksOffset, part.chunksLength, signal),
          part,
          layout,
          decryptor,
          file: temp,
          batch,
          signal,
          onWritten: (plainBytes) => this.context.registry.addProgress(record, { transferredBytes: plainBytes }),
          ...(staged === undefined ? {} : { staged }),
        });
      } finally {
        buffers.release(batch);
        if (staged !== undefined) buffers.release(staged.storedBatch);
      }
      return;
    }
    const readsInto = storedBytes === undefined && (reader !== undefined || this.context.storage.readRangeInto !== undefined);
    const into = readsInto ? this.context.parts.buffers.acquire(this.context.parts.storedPartBytes(layout)) : undefined;
    const stored = storedBytes === undefined ? await this.readStoredPart(name, part, signal, into, reader) : partOf(storedBytes, part);
    this.context.registry.addProgress(record, { transferredBytes: part.plainLength });
    // Decrypted into a pooled buffer, not into one the decipher allocates
    // per chunk: see copyOut in crypto/aes-gcm.ts for what such garbage costs.
    const plain = this.context.parts.buffers.acquire(this.context.parts.plainPartBytes(layout));
    try {
      const plainAt = await openChunks(this.context.parts.workers, decryptor, layout, part.firstChunk, part.chunkCount, stored, plain, 0);
      signal.throwIfAborted();
      try {
        await writevFully(temp, [plain.subarray(0, plainAt)], part.plainOffset);
      } catch (err) {
        throw fromSystemError(err, 'the downloaded file');
      }
    } finally {
      this.context.parts.buffers.release(plain);
      if (into !== undefined) this.context.parts.buffers.release(into);
    }
  }

  /**
   * A part's stored bytes: read into the pooled buffer `into` when the
   * backend can read into one (the local store: through the download's
   * reader, one open of the object for all the parts), so that a download does not
   * allocate a part-sized buffer per part (half its garbage otherwise);
   * as readRange returns them elsewhere. Exactly chunksLength bytes or
   * INTEGRITY; `into` goes back to the pool here when the read fails.
   */
  private async readStoredPart(name: string, part: Part, signal: AbortSignal, into: Buffer | undefined, reader: ObjectReader | undefined): Promise<Uint8Array> {
    try {
      let stored: Uint8Array;
      if (into !== undefined && reader !== undefined) {
        const target = into.subarray(0, part.chunksLength);
        stored = target.subarray(0, await reader.readInto(part.chunksOffset, target, signal));
      } else if (into !== undefined && this.context.storage.readRangeInto !== undefined) {
        const target = into.subarray(0, part.chunksLength);
        stored = target.subarray(0, await this.context.storage.readRangeInto(name, part.chunksOffset, target, signal));
      } else {
        stored = await this.context.storage.readRange(name, part.chunksOffset, part.chunksLength, signal);
      }
      // Fewer bytes than the listing promised: the object changed or was cut short.
      if (stored.length !== part.chunksLength) throw new CloudlockerError('INTEGRITY');
      return stored;
    } catch (err) {
      if (into !== undefined) this.context.parts.buffers.release(into);
      throw err;
    }
  }
}

/** A part's stored bytes cut from the whole object; exactly chunksLength bytes or INTEGRITY (the object was shorter). */
function partOf(storedBytes: Uint8Array, part: Part): Uint8Array {
  const stored = storedBytes.subarray(part.chunksOffset, part.chunksOffset + part.chunksLength);
  if (stored.length !== part.chunksLength) throw new CloudlockerError('INTEGRITY');
  return stored;
}

/**
 * The download's temporary. A folder its group made (destinationFolderReady)
 * and that is gone since is made again, as createDirectories asks, instead
 * of failing the file.
 */
async function createTemporaryFor(tempPath: string, request: DownloadRequest): Promise<DestinationFile> {
  try {
    return await createDestinationFile(tempPath);
  } catch (err) {
    if (request.destinationFolderReady !== true || request.createDirectories !== true || !isCloudlockerError(err, 'NOT_FOUND')) throw err;
    try {
      await mkdir(path.dirname(tempPath), { recursive: true });
    } catch (mkdirError) {
      throw fromSystemError(mkdirError, 'the destination folder');
    }
    return createDestinationFile(tempPath);
  }
}
