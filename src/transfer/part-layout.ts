/**
 * How a stored object is cut into parts for the storage backend: whole format
 * chunks, the header travelling with part 0, every part but the last at
 * least the backend's minPartSize. One part is the unit of work in the shared
 * queue, so (part size x queue concurrency) bounds the memory in flight.
 */
import { CHUNK_SIZE, HEADER_SIZE, STORED_CHUNK_SIZE, chunkCountFor, plaintextChunkLength } from '../crypto/v1/format.js';

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
  ) {
    this.chunkCount = chunkCountFor(plaintextSize);
    this.partCount = Math.ceil(this.chunkCount / chunksPerPart);
  }

  /** Chunks per part for a backend: the preferred count, raised to reach its minimum part size. */
  static chunksPerPartFor(preferredChunks: number, minPartSize: number): number {
    return Math.max(preferredChunks, Math.ceil(minPartSize / STORED_CHUNK_SIZE));
  }

  part(index: number): Part {
    const firstChunk = index * this.chunksPerPart;
    const chunkCount = Math.min(this.chunksPerPart, this.chunkCount - firstChunk);
    const plainOffset = firstChunk * CHUNK_SIZE;
    let plainLength = 0;
    for (let i = 0; i < chunkCount; i++) plainLength += plaintextChunkLength(this.plaintextSize, firstChunk + i);
    return {
      index,
      firstChunk,
      chunkCount,
      plainOffset,
      plainLength,
      chunksOffset: HEADER_SIZE + firstChunk * STORED_CHUNK_SIZE,
      chunksLength: plainLength + chunkCount * (STORED_CHUNK_SIZE - CHUNK_SIZE),
    };
  }

  isFinalChunk(chunkIndex: number): boolean {
    return chunkIndex === this.chunkCount - 1;
  }
}
