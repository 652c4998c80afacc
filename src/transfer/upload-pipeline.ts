/**
 * The upload pipeline: a local file read a slice at a time, sealed part by
 * part by its format's sealer into pooled buffers, written through the
 * store's object writer, journaled part by part when checkpoints are given,
 * and published once every part is in and the source is unchanged.
 */
import type { UploadResult } from '../../protocol/index.js';
import type { ChunkSealer } from '../crypto/index.js';
import { CloudlockerError, InvalidParamsError } from '../errors.js';
import { readFully } from '../fs/read-fully.js';
import type { ObjectWriter } from '../storage/storage.js';
import { isInterruption, type UploadCheckpoints } from './checkpoints.js';
import { assertSourceUnchanged, openSource, type SourceFile, type SourceHandle } from './local-files.js';
import { PartLayout, type Part } from './part-layout.js';
import type { PipelineContext } from './part-scheduler.js';
import { partTagDigest, sealChunksOffThread, sealStart } from './part-seal.js';
import type { UploadRequest } from './transfer-requests.js';
import type { TransferRecord } from './transfer-registry.js';

/** Chunks of plaintext an upload reads and seals at a time (1 MiB). */
const UPLOAD_SLICE_CHUNKS = 16;

export class UploadPipeline {
  constructor(private readonly context: PipelineContext) {}

  /** Encrypt and store `request.source`; the transfer's admission, outcome and journal finish are the engine's. */
  async run(
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
        encryptor = this.context.formats.createSealer(request.encryption, request.source.size);
        writer = await this.context.storage.beginWrite(request.name, {
          signal,
          expectedSize: encryptor.layout.storedSizeFor(request.source.size),
        });
        chunksPerPart = this.context.parts.chunksPerPartForWrite(request.source.size, writer, encryptor.layout);
      } else {
        // A journaled upload: fresh, or resumed with its header, layout and the store's unfinished write.
        ({ encryptor, writer, chunksPerPart } = await checkpoints.prepare({
          storage: this.context.storage,
          formats: this.context.formats,
          encryption: request.encryption,
          source,
          signal,
          plaintextSize: request.source.size,
          chunksPerPartFor: (newWriter, chunks) => this.context.parts.chunksPerPartForWrite(request.source.size, newWriter, chunks),
        }));
      }
      const parts = new PartLayout(request.source.size, chunksPerPart, encryptor.layout);
      const activeWriter = writer;
      await this.context.parts.run(parts.partCount, signal, async (partIndex, partSignal) => {
        if (checkpoints?.isDone(partIndex) === true) return;
        const part = parts.part(partIndex);
        await this.uploadPart(record, part, parts, source, encryptor, activeWriter, partSignal, checkpoints);
      });
      await assertSourceUnchanged(source, request.source);
      await assertNoBytesAfter(source, request.source);
      this.context.beginCommit(record);
      await checkpoints?.committing?.();
      const stored = await writer.complete({ overwrite: request.overwrite });
      writer = undefined;
      request.onStored?.(stored);
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
    source: SourceHandle,
    encryptor: ChunkSealer,
    writer: ObjectWriter,
    signal: AbortSignal,
    checkpoints?: UploadCheckpoints,
  ): Promise<void> {
    // The plaintext is read and sealed a slice at a time: a part of S3's
    // 5 MiB holds a 1 MiB plaintext buffer, not a second 5 MiB one.
    const { chunkSize } = layout.chunks;
    const sliceChunks = Math.min(layout.chunksPerPart, UPLOAD_SLICE_CHUNKS);
    let plain: Buffer | undefined = this.context.parts.buffers.acquire(sliceChunks * chunkSize);
    const stored = this.context.parts.buffers.acquire(this.context.parts.storedPartBytes(layout));
    try {
      let storedLength = sealStart(encryptor, part, stored);
      for (let first = 0; first < part.chunkCount; first += sliceChunks) {
        const plainStart = first * chunkSize;
        const plainLength = Math.min(sliceChunks * chunkSize, part.plainLength - plainStart);
        const bytesRead = await readFully(source, plain.subarray(0, plainLength), part.plainOffset + plainStart, SOURCE_FILE);
        if (bytesRead !== plainLength) throw new CloudlockerError('SOURCE_CHANGED');
        signal.throwIfAborted();
        storedLength = await sealChunksOffThread(this.context.parts.workers, encryptor, layout, part.firstChunk + first, plain.subarray(0, plainLength), stored, storedLength);
      }
      // Back to the pool before the (longest) wait, the write: parts waiting
      // on the store then hold one buffer each, not two.
      this.context.parts.buffers.release(plain);
      plain = undefined;
      // Journaled before anything leaves: a resume re-encrypts this part only if the source seals to the same tags.
      if (checkpoints !== undefined) await checkpoints.partSealed(part.index, partTagDigest(stored, part, layout));
      this.context.registry.addProgress(record, { cryptoBytes: part.plainLength });
      const offset = part.index === 0 ? 0 : part.chunksOffset;
      await writer.writePart(part.index, offset, stored.subarray(0, storedLength));
      // Counted only once journaled, so no byte reported as transferred is ever sent again.
      await checkpoints?.partDone(part.index, writer);
      this.context.registry.addProgress(record, { transferredBytes: part.plainLength });
    } finally {
      if (plain !== undefined) this.context.parts.buffers.release(plain);
      this.context.parts.buffers.release(stored);
    }
  }
}

/** How read errors name the source ("Permission denied: the file to upload"). */
const SOURCE_FILE = 'the file to upload';

/** Files such as those in /proc report size 0 but have content: their size cannot be trusted. */
async function refuseUnknownSizeFile(handle: SourceHandle, source: SourceFile): Promise<void> {
  if (source.size !== 0) return;
  const bytesRead = await readFully(handle, Buffer.alloc(1), 0, SOURCE_FILE);
  if (bytesRead > 0) {
    throw new InvalidParamsError(
      'path is a special file whose size is not known in advance (such as a /proc file): copy it to a regular file first.',
      'path',
    );
  }
}

/** A file that grew after it was measured has bytes past the end; the upload would silently miss them. */
async function assertNoBytesAfter(handle: SourceHandle, source: SourceFile): Promise<void> {
  const bytesRead = await readFully(handle, Buffer.alloc(1), source.size, SOURCE_FILE);
  if (bytesRead > 0) throw new CloudlockerError('SOURCE_CHANGED');
}
