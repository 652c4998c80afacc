/**
 * Constants and size arithmetic of the stored-file format v1 (docs/format.md).
 *
 * A stored object is a fixed-size header followed by chunks. Every chunk but
 * the last holds exactly CHUNK_SIZE plaintext bytes; each chunk is its
 * ciphertext followed by a TAG_SIZE-byte GCM tag. Because the layout is fixed,
 * the plaintext size follows from the stored size alone (listFiles needs no
 * extra reads) and chunk i can be located without reading anything else.
 */
import { ChunkedLayout } from '../chunked-layout.js';

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

/** The v1 layout: the size arithmetic below, as the object the transfer engine cuts parts from. */
export const V1_LAYOUT = new ChunkedLayout({
  formatLabel: 'v1',
  headerLength: HEADER_SIZE,
  chunkSize: CHUNK_SIZE,
  tagSize: TAG_SIZE,
  maxChunkCount: MAX_CHUNK_COUNT,
});

/** 2^48 bytes = 256 TiB. */
export const MAX_PLAINTEXT_SIZE = V1_LAYOUT.maxPlaintextSize;

/** Smallest possible object: header + one empty final chunk (an empty file). */
export const MIN_STORED_SIZE = V1_LAYOUT.minStoredSize;

/** Largest possible stored object. */
export const MAX_STORED_SIZE = V1_LAYOUT.maxStoredSize;

/** Number of chunks for a plaintext size; an empty file has one (empty) chunk. */
export function chunkCountFor(plaintextSize: number): number {
  return V1_LAYOUT.chunkCountFor(plaintextSize);
}

/** Size of the stored object for a plaintext size. */
export function storedSizeFor(plaintextSize: number): number {
  return V1_LAYOUT.storedSizeFor(plaintextSize);
}

/**
 * Plaintext size of a stored object of `storedSize` bytes. Throws
 * CloudlockerError('INTEGRITY') for sizes no v1 object can have (shorter than
 * a header and an empty chunk, a final chunk of 1..16 bytes, too large), which
 * catches most truncation and trailing garbage before any download.
 */
export function plaintextSizeFor(storedSize: number): number {
  return V1_LAYOUT.plaintextSizeFor(storedSize);
}

/** Offset of chunk i in the stored object. */
export function storedChunkOffset(chunkIndex: number): number {
  return V1_LAYOUT.storedChunkOffset(chunkIndex);
}

/** Offset of chunk i's first byte in the plaintext. */
export function plaintextChunkOffset(chunkIndex: number): number {
  return V1_LAYOUT.plaintextChunkOffset(chunkIndex);
}

/** Plaintext bytes in chunk i of a file of `plaintextSize` bytes. */
export function plaintextChunkLength(plaintextSize: number, chunkIndex: number): number {
  return V1_LAYOUT.plaintextChunkLength(plaintextSize, chunkIndex);
}

/** Stored bytes of chunk i (plaintext length + tag). */
export function storedChunkLength(plaintextSize: number, chunkIndex: number): number {
  return V1_LAYOUT.storedChunkLength(plaintextSize, chunkIndex);
}

/** Index of the chunk that holds plaintext byte `plaintextOffset`. */
export function chunkIndexForPlaintextOffset(plaintextOffset: number): number {
  return V1_LAYOUT.chunkIndexForPlaintextOffset(plaintextOffset);
}
