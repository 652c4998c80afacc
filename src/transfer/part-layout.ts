/**
 * How a stored object is cut into parts for the storage backend: whole format
 * chunks, the header travelling with part 0, every part but the last at
 * least the backend's minPartSize. One part is the unit of work in the shared
 * queue, so (part size x queue concurrency) bounds the memory in flight.
 * The chunk geometry and the header's length come from the object's format
 * (a ChunkedLayout), never from a format's constants.
 */
import type { ChunkedLayout } from '../crypto/index.js';

export interface Part {
  readonly index: number;
  readonly firstChunk: number;
  readonly chunkCount: number;
  /** Where the part's plaintext starts in the file, and its length. */
  readonly plainOffset: number;
  readonly plainLength: number;
  /** Where the part's chunks start in the stored object (after the header), and their length. */
  readonly chunksOffset: number;
  readonly chunksLength: number;
}

export class PartLayout {
  readonly chunkCount: number;
  readonly partCount: number;

  constructor(
    readonly plaintextSize: number,
    readonly chunksPerPart: number,
    readonly chunks: ChunkedLayout,
  ) {
    this.chunkCount = chunks.chunkCountFor(plaintextSize);
    this.partCount = Math.ceil(this.chunkCount / chunksPerPart);
  }

  /** Chunks per part for a backend: the preferred count, raised to reach its minimum part size. */
  static chunksPerPartFor(preferredChunks: number, minPartSize: number, chunks: ChunkedLayout): number {
    return Math.max(preferredChunks, Math.ceil(minPartSize / chunks.storedChunkSize));
  }

  part(index: number): Part {
    const { chunks } = this;
    const firstChunk = index * this.chunksPerPart;
    const chunkCount = Math.min(this.chunksPerPart, this.chunkCount - firstChunk);
    const plainOffset = firstChunk * chunks.chunkSize;
    let plainLength = 0;
    for (let i = 0; i < chunkCount; i++) plainLength += chunks.plaintextChunkLength(this.plaintextSize, firstChunk + i);
    return {
      index,
      firstChunk,
      chunkCount,
      plainOffset,
      plainLength,
      chunksOffset: chunks.headerLength + firstChunk * chunks.storedChunkSize,
      chunksLength: plainLength + chunkCount * chunks.tagSize,
    };
  }

  isFinalChunk(chunkIndex: number): boolean {
    return chunkIndex === this.chunkCount - 1;
  }
}
