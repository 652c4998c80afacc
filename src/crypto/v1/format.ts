/**
 * Constants and size arithmetic of the stored-file format v1 (docs/format.md).
 *
 * A stored object is a fixed-size header followed by chunks. Every chunk but
 * the last holds exactly CHUNK_SIZE plaintext bytes; each chunk is its
 * ciphertext followed by a TAG_SIZE-byte GCM tag. Because the layout is fixed,
 * the plaintext size follows from the stored size alone (listFiles needs no
 * extra reads) and chunk i can be located without reading anything else.
 */
import { integrityError } from '../crypto-errors.js';

export const FORMAT_VERSION = 1;
/** Plaintext bytes per chunk (every chunk but the final one is exactly this long). */
export const CHUNK_SIZE = 65536;
/** AES-GCM tag bytes appended to each chunk. */
export const TAG_SIZE = 16;
/** Stored bytes of a full (non-final) chunk. */
export const STORED_CHUNK_SIZE = CHUNK_SIZE + TAG_SIZE;
/** AES-GCM nonce: 11-byte big-endian chunk counter + 1-byte final flag. */
export const NONCE_SIZE = 12;
export const MASTER_KEY_SIZE = 32;
export const SALT_SIZE = 32;
export const KEY_ID_SIZE = 16;
export const HEADER_MAC_SIZE = 32;

/**
 * Byte layout of the header. Offsets are fixed so that a reader needs no
 * parsing state; the MAC covers every byte before it.
 */
export const HeaderLayout = {
  magic: { offset: 0, size: 8 },
  version: { offset: 8, size: 1 },
  reserved: { offset: 9, size: 3 },
  chunkSize: { offset: 12, size: 4 },
  salt: { offset: 16, size: SALT_SIZE },
  keyId: { offset: 48, size: KEY_ID_SIZE },
  mac: { offset: 64, size: HEADER_MAC_SIZE },
} as const;

/** Header bytes, written at offset 0 of every stored object. */
export const HEADER_SIZE = 96;
/** Bytes covered by the header MAC (everything before the MAC). */
export const HEADER_AUTHENTICATED_SIZE = HeaderLayout.mac.offset;

/**
 * At most 2^32 chunks per file. The nonce counter has 88 bits, so this stays
 * far below its range, and every size below is an exact integer in a JS
 * number (the largest stored size is about 2^48.0002).
 */
export const MAX_CHUNK_COUNT = 2 ** 32;
/** 2^48 bytes = 256 TiB. */
export const MAX_PLAINTEXT_SIZE = MAX_CHUNK_COUNT * CHUNK_SIZE;

/** Smallest possible object: header + one empty final chunk (an empty file). */
export const MIN_STORED_SIZE = HEADER_SIZE + TAG_SIZE;

function assertPlaintextSize(plaintextSize: number): void {
  if (!Number.isSafeInteger(plaintextSize) || plaintextSize < 0 || plaintextSize > MAX_PLAINTEXT_SIZE) {
    throw new RangeError(
      `plaintext size must be an integer from 0 to ${MAX_PLAINTEXT_SIZE} (format v1 limit), got ${plaintextSize}`,
    );
  }
}

function assertChunkIndex(chunkIndex: number, chunkCount: number = MAX_CHUNK_COUNT): void {
  if (!Number.isSafeInteger(chunkIndex) || chunkIndex < 0 || chunkIndex >= chunkCount) {
    throw new RangeError(`chunk index must be an integer from 0 to ${chunkCount - 1}, got ${chunkIndex}`);
  }
}

/** Number of chunks for a plaintext size; an empty file has one (empty) chunk. */
export function chunkCountFor(plaintextSize: number): number {
  assertPlaintextSize(plaintextSize);
  return plaintextSize === 0 ? 1 : Math.ceil(plaintextSize / CHUNK_SIZE);
}

/** Size of the stored object for a plaintext size. */
export function storedSizeFor(plaintextSize: number): number {
  return HEADER_SIZE + plaintextSize + TAG_SIZE * chunkCountFor(plaintextSize);
}

/** Largest possible stored object. */
export const MAX_STORED_SIZE = storedSizeFor(MAX_PLAINTEXT_SIZE);

/**
 * Plaintext size of a stored object of `storedSize` bytes. Throws
 * CloudlockerError('INTEGRITY') for sizes no v1 object can have (shorter than
 * a header and an empty chunk, a final chunk of 1..16 bytes, too large), which
 * catches most truncation and trailing garbage before any download.
 */
export function plaintextSizeFor(storedSize: number): number {
  if (!Number.isSafeInteger(storedSize) || storedSize < 0) {
    throw new RangeError(`stored size must be a non-negative integer, got ${storedSize}`);
  }
  if (storedSize < MIN_STORED_SIZE) {
    throw integrityError(`it is ${storedSize} bytes long, shorter than the smallest possible encrypted file`, {
      storedSize,
    });
  }
  if (storedSize > MAX_STORED_SIZE) {
    throw integrityError(`it is ${storedSize} bytes long, larger than format v1 allows`, { storedSize });
  }
  const body = storedSize - HEADER_SIZE;
  const chunkCount = Math.ceil(body / STORED_CHUNK_SIZE);
  const lastStoredLength = body - (chunkCount - 1) * STORED_CHUNK_SIZE;
  // The final chunk holds at least one plaintext byte, unless it is the only
  // chunk of an empty file.
  const smallestLast = chunkCount === 1 ? TAG_SIZE : TAG_SIZE + 1;
  if (lastStoredLength < smallestLast) {
    throw integrityError(`its size (${storedSize} bytes) is not a possible size for an encrypted file`, {
      storedSize,
    });
  }
  return body - TAG_SIZE * chunkCount;
}

/** Offset of chunk i in the stored object. */
export function storedChunkOffset(chunkIndex: number): number {
  assertChunkIndex(chunkIndex);
  return HEADER_SIZE + chunkIndex * STORED_CHUNK_SIZE;
}

/** Offset of chunk i's first byte in the plaintext. */
export function plaintextChunkOffset(chunkIndex: number): number {
  assertChunkIndex(chunkIndex);
  return chunkIndex * CHUNK_SIZE;
}

/** Plaintext bytes in chunk i of a file of `plaintextSize` bytes. */
export function plaintextChunkLength(plaintextSize: number, chunkIndex: number): number {
  const chunkCount = chunkCountFor(plaintextSize);
  assertChunkIndex(chunkIndex, chunkCount);
  return chunkIndex < chunkCount - 1 ? CHUNK_SIZE : plaintextSize - chunkIndex * CHUNK_SIZE;
}

/** Stored bytes of chunk i (plaintext length + tag). */
export function storedChunkLength(plaintextSize: number, chunkIndex: number): number {
  return plaintextChunkLength(plaintextSize, chunkIndex) + TAG_SIZE;
}

/** Index of the chunk that holds plaintext byte `plaintextOffset`. */
export function chunkIndexForPlaintextOffset(plaintextOffset: number): number {
  if (!Number.isSafeInteger(plaintextOffset) || plaintextOffset < 0 || plaintextOffset >= MAX_PLAINTEXT_SIZE) {
    throw new RangeError(`plaintext offset out of range: ${plaintextOffset}`);
  }
  return Math.floor(plaintextOffset / CHUNK_SIZE);
}
