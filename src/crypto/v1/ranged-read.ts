/**
 * Decryption through a positioned reader (a storage backend's ranged GET, a
 * file handle's read at an offset): reads only the chunks that cover the
 * wanted plaintext range, and authenticates each one in full before any of
 * its bytes are yielded.
 */
import { integrityError } from '../crypto-errors.js';
import { FileDecryptor } from './file-cipher.js';
import {
  CHUNK_SIZE,
  HEADER_SIZE,
  chunkCountFor,
  plaintextSizeFor,
  storedChunkLength,
  storedChunkOffset,
} from './format.js';
import type { MasterKey } from '../master-key.js';

/** Reads `length` bytes at `position` of the stored object (fewer only at its end). */
export type PositionedReader = (position: number, length: number) => Promise<Uint8Array>;

export interface PlaintextRange {
  /** First plaintext byte wanted (default 0). */
  start?: number;
  /** One past the last plaintext byte wanted (default: the plaintext size). */
  end?: number;
}

async function readExactly(read: PositionedReader, position: number, length: number, what: string): Promise<Uint8Array> {
  const bytes = await read(position, length);
  if (bytes.length !== length) {
    throw integrityError(`${what} is shorter than the file's listed size implies (${bytes.length} of ${length} bytes)`);
  }
  return bytes;
}

/**
 * Yields the plaintext of [start, end) in order, one authenticated piece per
 * chunk. `storedSize` is the object's size as the storage reports it; the
 * chunk it makes last is decrypted as the final chunk, so a file cut at a
 * chunk boundary fails once that chunk is read. Without a range every chunk
 * is read, so the whole file is checked.
 */
export async function* decryptRange(
  key: MasterKey,
  read: PositionedReader,
  storedSize: number,
  range: PlaintextRange = {},
): AsyncGenerator<Buffer, void, undefined> {
  const plaintextSize = plaintextSizeFor(storedSize);
  const start = range.start ?? 0;
  const end = range.end ?? plaintextSize;
  if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end) || start < 0 || end < start || end > plaintextSize) {
    throw new RangeError(`range [${start}, ${end}) is not within the file's ${plaintextSize} bytes`);
  }
  const decryptor = FileDecryptor.open(key, await readExactly(read, 0, HEADER_SIZE, 'its header'));
  const chunkCount = chunkCountFor(plaintextSize);
  const whole = range.start === undefined && range.end === undefined;
  if (!whole && start === end) return;
  const first = Math.floor(start / CHUNK_SIZE);
  const last = whole ? chunkCount - 1 : Math.floor((end - 1) / CHUNK_SIZE);
  for (let index = first; index <= last; index++) {
    const stored = await readExactly(
      read,
      storedChunkOffset(index),
      storedChunkLength(plaintextSize, index),
      `chunk ${index}`,
    );
    const plaintext = decryptor.decryptChunk(index, stored, index === chunkCount - 1);
    const chunkStart = index * CHUNK_SIZE;
    const from = Math.max(start, chunkStart) - chunkStart;
    const to = Math.min(end, chunkStart + plaintext.length) - chunkStart;
    if (to > from) yield from === 0 && to === plaintext.length ? plaintext : plaintext.subarray(from, to);
  }
}
