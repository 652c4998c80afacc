/**
 * Size arithmetic of a chunked (STREAM) stored object: a header, then
 * chunks of `chunkSize` plaintext bytes each followed by a `tagSize`-byte
 * tag, every chunk but the last full, an empty file one empty final chunk.
 * Format v1 and age both have this shape and differ in the header's length:
 * fixed for v1, known only once parsed for age. So one layout describes one
 * object (its header length included), and the transfer engine cuts parts
 * from it without knowing which format it is.
 */
import { integrityError } from './crypto-errors.js';

export interface ChunkGeometry {
  /** Name used in error messages ("format v1 limit"). */
  readonly formatLabel: string;
  /** Bytes before the first chunk: the header, and whatever else the format puts before the payload. */
  readonly headerLength: number;
  /** Plaintext bytes per chunk (every chunk but the final one is exactly this long). */
  readonly chunkSize: number;
  /** Authentication tag bytes appended to each chunk. */
  readonly tagSize: number;
  /** Most chunks one object may have. */
  readonly maxChunkCount: number;
}

export class ChunkedLayout implements ChunkGeometry {
  readonly formatLabel: string;
  readonly headerLength: number;
  readonly chunkSize: number;
  readonly tagSize: number;
  readonly maxChunkCount: number;
  /** Stored bytes of a full (non-final) chunk. */
  readonly storedChunkSize: number;
  readonly maxPlaintextSize: number;
  /** Smallest possible object: header + one empty final chunk (an empty file). */
  readonly minStoredSize: number;
  readonly maxStoredSize: number;

  constructor(geometry: ChunkGeometry) {
    this.formatLabel = geometry.formatLabel;
    this.headerLength = geometry.headerLength;
    this.chunkSize = geometry.chunkSize;
    this.tagSize = geometry.tagSize;
    this.maxChunkCount = geometry.maxChunkCount;
    this.storedChunkSize = this.chunkSize + this.tagSize;
    this.maxPlaintextSize = this.maxChunkCount * this.chunkSize;
    this.minStoredSize = this.headerLength + this.tagSize;
    this.maxStoredSize = this.storedSizeFor(this.maxPlaintextSize);
  }

  /** The same chunks after a header of another length (age: each object's header has its own). */
  withHeaderLength(headerLength: number): ChunkedLayout {
    if (headerLength === this.headerLength) return this;
    return new ChunkedLayout({ ...this, headerLength });
  }

  /** Number of chunks for a plaintext size; an empty file has one (empty) chunk. */
  chunkCountFor(plaintextSize: number): number {
    this.assertPlaintextSize(plaintextSize);
    return plaintextSize === 0 ? 1 : Math.ceil(plaintextSize / this.chunkSize);
  }

  /** Size of the stored object for a plaintext size. */
  storedSizeFor(plaintextSize: number): number {
    return this.headerLength + plaintextSize + this.tagSize * this.chunkCountFor(plaintextSize);
  }

  /**
   * Plaintext size of a stored object of `storedSize` bytes. Throws
   * CloudlockerError('INTEGRITY') for sizes no object of this layout can have
   * (shorter than a header and an empty chunk, a final chunk of 1..tagSize
   * bytes, too large), which catches most truncation and trailing garbage
   * before any download.
   */
  plaintextSizeFor(storedSize: number): number {
    if (!Number.isSafeInteger(storedSize) || storedSize < 0) {
      throw new RangeError(`stored size must be a non-negative integer, got ${storedSize}`);
    }
    if (storedSize < this.minStoredSize) {
      throw integrityError(`it is ${storedSize} bytes long, shorter than the smallest possible encrypted file`, {
        storedSize,
      });
    }
    if (storedSize > this.maxStoredSize) {
      throw integrityError(`it is ${storedSize} bytes long, larger than format ${this.formatLabel} allows`, { storedSize });
    }
    const body = storedSize - this.headerLength;
    const chunkCount = Math.ceil(body / this.storedChunkSize);
    const lastStoredLength = body - (chunkCount - 1) * this.storedChunkSize;
    // The final chunk holds at least one plaintext byte, unless it is the only
    // chunk of an empty file.
    const smallestLast = chunkCount === 1 ? this.tagSize : this.tagSize + 1;
    if (lastStoredLength < smallestLast) {
      throw integrityError(`its size (${storedSize} bytes) is not a possible size for an encrypted file`, {
        storedSize,
      });
    }
    return body - this.tagSize * chunkCount;
  }

  /** Offset of chunk i in the stored object. */
  storedChunkOffset(chunkIndex: number): number {
    this.assertChunkIndex(chunkIndex);
    return this.headerLength + chunkIndex * this.storedChunkSize;
  }

  /** Offset of chunk i's first byte in the plaintext. */
  plaintextChunkOffset(chunkIndex: number): number {
    this.assertChunkIndex(chunkIndex);
    return chunkIndex * this.chunkSize;
  }

  /** Plaintext bytes in chunk i of a file of `plaintextSize` bytes. */
  plaintextChunkLength(plaintextSize: number, chunkIndex: number): number {
    const chunkCount = this.chunkCountFor(plaintextSize);
    this.assertChunkIndex(chunkIndex, chunkCount);
    return chunkIndex < chunkCount - 1 ? this.chunkSize : plaintextSize - chunkIndex * this.chunkSize;
  }

  /** Stored bytes of chunk i (plaintext length + tag). */
  storedChunkLength(plaintextSize: number, chunkIndex: number): number {
    return this.plaintextChunkLength(plaintextSize, chunkIndex) + this.tagSize;
  }

  /** Index of the chunk that holds plaintext byte `plaintextOffset`. */
  chunkIndexForPlaintextOffset(plaintextOffset: number): number {
    if (!Number.isSafeInteger(plaintextOffset) || plaintextOffset < 0 || plaintextOffset >= this.maxPlaintextSize) {
      throw new RangeError(`plaintext offset out of range: ${plaintextOffset}`);
    }
    return Math.floor(plaintextOffset / this.chunkSize);
  }

  private assertPlaintextSize(plaintextSize: number): void {
    if (!Number.isSafeInteger(plaintextSize) || plaintextSize < 0 || plaintextSize > this.maxPlaintextSize) {
      throw new RangeError(
        `plaintext size must be an integer from 0 to ${this.maxPlaintextSize} (format ${this.formatLabel} limit), got ${plaintextSize}`,
      );
    }
  }

  private assertChunkIndex(chunkIndex: number, chunkCount: number = this.maxChunkCount): void {
    if (!Number.isSafeInteger(chunkIndex) || chunkIndex < 0 || chunkIndex >= chunkCount) {
      throw new RangeError(`chunk index must be an integer from 0 to ${chunkCount - 1}, got ${chunkIndex}`);
    }
  }
}
