/**
 * Encrypting one part of an upload into its stored bytes, and the digest of
 * its GCM tags that the transfer journal keeps to guard a resume.
 */
import { createHash } from 'node:crypto';
import { CHUNK_SIZE, HEADER_SIZE, TAG_SIZE, type FileEncryptor } from '../crypto/index.js';
import type { Part, PartLayout } from './part-layout.js';

/**
 * Encrypts the part's plaintext (`plain`, part.plainLength bytes) into
 * `stored`: the header first for part 0, then each chunk's ciphertext and
 * tag. Returns how many bytes of `stored` it filled.
 */
export function sealPart(encryptor: FileEncryptor, layout: PartLayout, part: Part, plain: Uint8Array, stored: Buffer): number {
  return sealChunks(encryptor, layout, part.firstChunk, plain, stored, sealStart(encryptor, part, stored));
}

/** Where a part's first chunk goes in its stored bytes: after the header, which it writes, for part 0. */
export function sealStart(encryptor: FileEncryptor, part: Part, stored: Buffer): number {
  if (part.index !== 0) return 0;
  encryptor.header.copy(stored, 0);
  return HEADER_SIZE;
}

/**
 * Encrypts consecutive chunks from `firstChunk` on, whose plaintext is all
 * of `plain`, into `stored` from `storedAt`: a part can be sealed a slice at
 * a time. Returns where the next chunk goes.
 */
export function sealChunks(
  encryptor: FileEncryptor,
  layout: PartLayout,
  firstChunk: number,
  plain: Uint8Array,
  stored: Buffer,
  storedAt: number,
): number {
  // An empty file is one empty chunk.
  const chunkCount = Math.max(1, Math.ceil(plain.length / CHUNK_SIZE));
  let at = storedAt;
  for (let i = 0; i < chunkCount; i++) {
    const chunkIndex = firstChunk + i;
    const chunk = plain.subarray(i * CHUNK_SIZE, (i + 1) * CHUNK_SIZE);
    at += encryptor.encryptChunk(chunkIndex, chunk, layout.isFinalChunk(chunkIndex), stored, at).length;
  }
  return at;
}

/**
 * SHA-256 of the part's chunk tags, in order, from what sealPart wrote.
 *
 * Under one upload's payload key and the part's nonces, equal tags mean
 * equal ciphertext and so equal plaintext (the GCM tag authenticates the
 * ciphertext), so this digest stands in for a hash of the plaintext: a
 * resumed upload re-encrypts a part under its old nonces only if the source
 * seals to the same digest. It hashes 16 bytes per 64 KiB chunk, where
 * hashing the plaintext cost the JavaScript thread about as much as the
 * encryption itself (0.58 s per GiB here). And it tells whoever reads the
 * journal nothing the stored object does not, where a plaintext hash would
 * confirm a guess of the file's content.
 */
export function partTagDigest(stored: Uint8Array, part: Part): Buffer {
  const hash = createHash('sha256');
  let end = part.index === 0 ? HEADER_SIZE : 0;
  let plainLeft = part.plainLength;
  for (let i = 0; i < part.chunkCount; i++) {
    const length = Math.min(CHUNK_SIZE, plainLeft);
    end += length + TAG_SIZE;
    plainLeft -= length;
    hash.update(stored.subarray(end - TAG_SIZE, end));
  }
  return hash.digest();
}
