/**
 * Streaming encryption and decryption as async generators, for callers that
 * read and write sequentially. Input may arrive in pieces of any size; the
 * generators cut it into chunks themselves.
 *
 * decryptStream yields a chunk's plaintext only after that chunk
 * authenticated, but a stream can only be known to be complete when it ends:
 * treat everything yielded as provisional until the generator finishes
 * without throwing (write to a temporary file, rename at the end).
 */
import { integrityError } from '../crypto-errors.js';
import { FileDecryptor, FileEncryptor } from './file-cipher.js';
import { CHUNK_SIZE, HEADER_SIZE, STORED_CHUNK_SIZE } from './format.js';
import type { MasterKey } from '../master-key.js';
import type { RandomSource } from '../random.js';

// The chunk classes and whole-buffer helpers are part of the same public
// surface; re-exported so that either module path works for callers
// (src/crypto/index.ts exports everything).
export { FileDecryptor, FileEncryptor } from './file-cipher.js';
export { readHeaderInfo } from './header.js';
export { decryptBuffer, encryptBuffer } from './whole-buffer.js';

export type ByteSource = AsyncIterable<Uint8Array> | Iterable<Uint8Array>;

/**
 * Yields the header, then each stored chunk. A full chunk is held back until
 * more input arrives (or the input ends), because only then is it known
 * whether it is the final chunk.
 */
export async function* encryptStream(
  key: MasterKey,
  source: ByteSource,
  options: { random?: RandomSource } = {},
): AsyncGenerator<Buffer, void, undefined> {
  const encryptor = FileEncryptor.create(key, options);
  yield Buffer.from(encryptor.header);
  const pending = Buffer.allocUnsafe(CHUNK_SIZE);
  let filled = 0;
  let index = 0;
  for await (const piece of source) {
    let offset = 0;
    while (offset < piece.length) {
      if (filled === CHUNK_SIZE) {
        yield encryptor.encryptChunk(index++, pending, false);
        filled = 0;
      }
      const count = Math.min(CHUNK_SIZE - filled, piece.length - offset);
      pending.set(piece.subarray(offset, offset + count), filled);
      filled += count;
      offset += count;
    }
  }
  yield encryptor.encryptChunk(index, pending.subarray(0, filled), true);
  pending.fill(0);
}

/**
 * Yields the plaintext of each chunk once it authenticated. Throws
 * KEY_MISMATCH or INTEGRITY; a chunk that fails yields nothing.
 */
export async function* decryptStream(key: MasterKey, source: ByteSource): AsyncGenerator<Buffer, void, undefined> {
  const header = Buffer.alloc(HEADER_SIZE);
  let headerFilled = 0;
  let decryptor: FileDecryptor | undefined;
  const pending = Buffer.allocUnsafe(STORED_CHUNK_SIZE);
  let filled = 0;
  let index = 0;
  for await (const piece of source) {
    let offset = 0;
    if (decryptor === undefined) {
      const count = Math.min(HEADER_SIZE - headerFilled, piece.length);
      header.set(piece.subarray(0, count), headerFilled);
      headerFilled += count;
      offset = count;
      if (headerFilled < HEADER_SIZE) continue;
      decryptor = FileDecryptor.open(key, header);
    }
    while (offset < piece.length) {
      if (filled === STORED_CHUNK_SIZE) {
        // More bytes follow, so this full chunk is not the final one.
        yield decryptor.decryptChunk(index++, pending, false);
        filled = 0;
      }
      const count = Math.min(STORED_CHUNK_SIZE - filled, piece.length - offset);
      pending.set(piece.subarray(offset, offset + count), filled);
      filled += count;
      offset += count;
    }
  }
  if (decryptor === undefined) {
    throw integrityError(`it ends inside its header (${headerFilled} of ${HEADER_SIZE} bytes)`);
  }
  if (filled === 0) throw integrityError('it ends right after its header, without any chunk');
  yield decryptor.decryptChunk(index, pending.subarray(0, filled), true);
}
