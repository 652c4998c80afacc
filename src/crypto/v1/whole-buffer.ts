/**
 * Whole-object helpers for small files, tests and tools: the plaintext and
 * the stored object are each one buffer. Large files go through the chunk
 * API (file-cipher.ts) or the streams (stream.ts).
 */
import { integrityError } from '../crypto-errors.js';
import { FileDecryptor, FileEncryptor } from './file-cipher.js';
import {
  CHUNK_SIZE,
  HEADER_SIZE,
  STORED_CHUNK_SIZE,
  chunkCountFor,
  plaintextChunkLength,
  plaintextSizeFor,
  storedChunkOffset,
  storedSizeFor,
} from './format.js';
import type { MasterKey } from '../master-key.js';
import type { RandomSource } from '../random.js';

/** Encrypts `plaintext` into a complete v1 object. */
export function encryptBuffer(key: MasterKey, plaintext: Uint8Array, options: { random?: RandomSource } = {}): Buffer {
  const encryptor = FileEncryptor.create(key, options);
  const stored = Buffer.allocUnsafe(storedSizeFor(plaintext.length));
  encryptor.header.copy(stored, 0);
  const chunkCount = chunkCountFor(plaintext.length);
  for (let index = 0; index < chunkCount; index++) {
    const start = index * CHUNK_SIZE;
    const chunk = plaintext.subarray(start, start + plaintextChunkLength(plaintext.length, index));
    encryptor.encryptChunk(index, chunk, index === chunkCount - 1, stored, storedChunkOffset(index));
  }
  return stored;
}

/**
 * Decrypts a complete v1 object. KEY_MISMATCH for another key, INTEGRITY for
 * anything altered, cut short or extended; returns nothing unless every chunk
 * authenticated.
 */
export function decryptBuffer(key: MasterKey, stored: Uint8Array): Buffer {
  if (stored.length < HEADER_SIZE) {
    throw integrityError(`it is ${stored.length} bytes long, shorter than an encrypted file's header`);
  }
  const decryptor = FileDecryptor.open(key, stored.subarray(0, HEADER_SIZE));
  const plaintextSize = plaintextSizeFor(stored.length);
  const plaintext = Buffer.allocUnsafe(plaintextSize);
  const chunkCount = chunkCountFor(plaintextSize);
  try {
    for (let index = 0; index < chunkCount; index++) {
      const offset = storedChunkOffset(index);
      const end = index === chunkCount - 1 ? stored.length : offset + STORED_CHUNK_SIZE;
      decryptor.decryptChunk(index, stored.subarray(offset, end), index === chunkCount - 1, plaintext, index * CHUNK_SIZE);
    }
  } catch (err) {
    plaintext.fill(0);
    throw err;
  }
  return plaintext;
}
