/**
 * One download part decrypted as its bytes arrive from the store, for
 * backends that stream a ranged read (S3): each stored chunk is
 * authenticated as soon as its last byte is in, and the plaintext is written
 * in batches at its offset. Against reading the whole part first, the
 * network, the decryption and the disk overlap within a part, and a part
 * holds one chunk and one batch in memory instead of its whole stored bytes
 * and their plaintext (the figures: docs/benchmarks.md, change 7).
 */
import type { ChunkOpener } from '../crypto/index.js';
import type { PayloadWorkers } from '../crypto/payload-workers.js';
import { CloudlockerError, fromSystemError } from '../errors.js';
import { writevFully, type WritevTarget } from './file-io.js';
import type { Part, PartLayout } from './part-layout.js';
import { openChunks } from './part-seal.js';

export interface StreamedPartOptions {
  /** The part's stored bytes, exactly part.chunksLength of them, in order. */
  readonly body: AsyncIterable<Uint8Array>;
  readonly part: Part;
  readonly layout: PartLayout;
  readonly decryptor: ChunkOpener;
  readonly file: WritevTarget;
  /** Where plaintext gathers before a write; a whole number of chunks long, at least one. */
  readonly batch: Buffer;
  readonly signal: AbortSignal;
  /** After each write, with the plaintext bytes it wrote. */
  readonly onWritten: (plainBytes: number) => void;
  /**
   * With payload workers: where the stored bytes of one batch gather (a
   * SharedArrayBuffer-backed buffer of exactly as many stored chunks as
   * `batch` holds plaintext chunks), to be opened on a worker thread a batch
   * at a time (downloadStagedPart).
   */
  readonly staged?: { readonly workers: PayloadWorkers; readonly storedBatch: Buffer };
}

/**
 * Decrypts and writes one part. INTEGRITY when the store sends fewer or more
 * bytes than the part holds, or a chunk does not authenticate; nothing
 * unauthenticated is ever written.
 */
export async function downloadStreamedPart(options: StreamedPartOptions): Promise<void> {
  if (options.staged !== undefined) return downloadStagedPart(options, options.staged);
  const { body, part, layout, decryptor, file, batch, signal, onWritten } = options;
  const { chunkSize, storedChunkSize } = layout.chunks;
  const partEnd = part.chunksOffset + part.chunksLength;
  /** A chunk whose bytes arrived split across pieces, gathered here. */
  const pending = Buffer.allocUnsafe(storedChunkSize);
  let filled = 0;
  let chunkIndex = part.firstChunk;
  /** Position in the stored object of the first byte of chunkIndex. */
  let chunkStart = part.chunksOffset;
  let batchBytes = 0;
  let writeAt = part.plainOffset;

  const flush = async (): Promise<void> => {
    if (batchBytes === 0) return;
    await writePlain(file, batch.subarray(0, batchBytes), writeAt, signal);
    writeAt += batchBytes;
    onWritten(batchBytes);
    batchBytes = 0;
  };
  const open = async (stored: Uint8Array): Promise<void> => {
    if (batch.length - batchBytes < chunkSize) await flush();
    batchBytes += decryptor.decryptChunk(chunkIndex, stored, layout.isFinalChunk(chunkIndex), batch, batchBytes).length;
    chunkStart += stored.length;
    chunkIndex += 1;
  };

  for await (const piece of body) {
    let at = 0;
    while (at < piece.length) {
      if (chunkStart >= partEnd) throw new CloudlockerError('INTEGRITY', 'The store sent more bytes than the stored file holds.');
      const chunkLength = Math.min(storedChunkSize, partEnd - chunkStart);
      const wanted = chunkLength - filled;
      const take = Math.min(wanted, piece.length - at);
      if (filled === 0 && take === chunkLength) {
        // The whole chunk is in this piece: authenticated where it lies, no copy.
        await open(piece.subarray(at, at + take));
      } else {
        pending.set(piece.subarray(at, at + take), filled);
        filled += take;
        if (filled === chunkLength) {
          filled = 0;
          await open(pending.subarray(0, chunkLength));
        }
      }
      at += take;
    }
  }
  // Fewer bytes than the listing promised: the object changed or was cut short.
  if (chunkStart !== partEnd || filled !== 0) throw new CloudlockerError('INTEGRITY');
  await flush();
}

/**
 * As downloadStreamedPart, but the stored bytes are copied into a shared
 * buffer as they arrive and opened a batch at a time on a payload worker
 * thread: the copy (a memcpy of each byte once) buys the JavaScript thread
 * the ChaCha20-Poly1305 work, which it could not overlap with the network.
 */
async function downloadStagedPart(options: StreamedPartOptions, staged: NonNullable<StreamedPartOptions['staged']>): Promise<void> {
  const { body, part, layout, decryptor, file, batch, signal, onWritten } = options;
  const { workers, storedBatch } = staged;
  const { storedChunkSize } = layout.chunks;
  const partEnd = part.chunksOffset + part.chunksLength;
  /** Position in the stored object of the next byte to arrive. */
  let position = part.chunksOffset;
  let stagedBytes = 0;
  let firstStagedChunk = part.firstChunk;
  let writeAt = part.plainOffset;

  const openStaged = async (): Promise<void> => {
    if (stagedBytes === 0) return;
    const chunkCount = Math.ceil(stagedBytes / storedChunkSize);
    const plainBytes = await openChunks(workers, decryptor, layout, firstStagedChunk, chunkCount, storedBatch.subarray(0, stagedBytes), batch, 0);
    await writePlain(file, batch.subarray(0, plainBytes), writeAt, signal);
    writeAt += plainBytes;
    onWritten(plainBytes);
    firstStagedChunk += chunkCount;
    stagedBytes = 0;
  };

  for await (const piece of body) {
    let at = 0;
    while (at < piece.length) {
      if (position >= partEnd) throw new CloudlockerError('INTEGRITY', 'The store sent more bytes than the stored file holds.');
      const take = Math.min(storedBatch.length - stagedBytes, partEnd - position, piece.length - at);
      storedBatch.set(piece.subarray(at, at + take), stagedBytes);
      stagedBytes += take;
      position += take;
      at += take;
      if (stagedBytes === storedBatch.length) await openStaged();
    }
  }
  // Fewer bytes than the listing promised: the object changed or was cut short.
  if (position !== partEnd) throw new CloudlockerError('INTEGRITY');
  await openStaged();
}

/** Writes authenticated plaintext at `position` of the downloaded file, unless the part was stopped; a failure names the file. */
async function writePlain(file: WritevTarget, plain: Uint8Array, position: number, signal: AbortSignal): Promise<void> {
  signal.throwIfAborted();
  try {
    await writevFully(file, [plain], position);
  } catch (err) {
    throw fromSystemError(err, 'the downloaded file');
  }
}
