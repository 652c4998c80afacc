/**
 * Encrypting one part of an upload into its stored bytes, and the digest of
 * its GCM tags that the transfer journal keeps to guard a resume.
 */
import { createHash } from 'node:crypto';
import type { ChunkOpener, ChunkSealer } from '../crypto/index.js';
import type { PayloadWorkers } from '../crypto/payload-workers.js';
import type { Part, PartLayout } from './part-layout.js';

/**
 * Encrypts the part's plaintext (`plain`, part.plainLength bytes) into
 * `stored`: the header first for part 0, then each chunk's ciphertext and
 * tag. Returns how many bytes of `stored` it filled.
 */
export function sealPart(encryptor: ChunkSealer, layout: PartLayout, part: Part, plain: Uint8Array, stored: Buffer): number {
  return sealChunks(encryptor, layout, part.firstChunk, plain, stored, sealStart(encryptor, part, stored));
}

/** Where a part's first chunk goes in its stored bytes: after the header, which it writes, for part 0. */
export function sealStart(encryptor: ChunkSealer, part: Part, stored: Buffer): number {
  if (part.index !== 0) return 0;
  encryptor.header.copy(stored, 0);
  return encryptor.header.length;
}

/**
 * Encrypts consecutive chunks from `firstChunk` on, whose plaintext is all
 * of `plain`, into `stored` from `storedAt`: a part can be sealed a slice at
 * a time. Returns where the next chunk goes.
 */
export function sealChunks(
  encryptor: ChunkSealer,
  layout: PartLayout,
  firstChunk: number,
  plain: Uint8Array,
  stored: Buffer,
  storedAt: number,
): number {
  const { chunkSize } = layout.chunks;
  // An empty file is one empty chunk.
  const chunkCount = Math.max(1, Math.ceil(plain.length / chunkSize));
  let at = storedAt;
  for (let i = 0; i < chunkCount; i++) {
    const chunkIndex = firstChunk + i;
    const chunk = plain.subarray(i * chunkSize, (i + 1) * chunkSize);
    at += encryptor.encryptChunk(chunkIndex, chunk, layout.isFinalChunk(chunkIndex), stored, at).length;
  }
  return at;
}

/**
 * Runs shorter than this stay on the JavaScript thread: a round trip to a
 * worker costs about what sealing one 64 KiB chunk does, and a small file
 * gains nothing from waiting for a thread.
 */
export const MIN_OFF_THREAD_BYTES = 4 * 64 * 1024;

/** The workers a run of `bytes` goes to, or undefined when there are none or the run is too short for a thread. */
function workersFor(workers: PayloadWorkers | undefined, bytes: number): PayloadWorkers | undefined {
  return bytes >= MIN_OFF_THREAD_BYTES ? workers : undefined;
}

/**
 * As sealChunks, on a payload worker thread when there are workers, the run
 * is long enough and the sealer and the buffers allow it; on the JavaScript
 * thread otherwise.
 */
export async function sealChunksOffThread(
  workers: PayloadWorkers | undefined,
  encryptor: ChunkSealer,
  layout: PartLayout,
  firstChunk: number,
  plain: Uint8Array,
  stored: Buffer,
  storedAt: number,
): Promise<number> {
  const thread = workersFor(workers, plain.length);
  const offThread = thread && encryptor.sealChunksOn?.(thread, firstChunk, plain, layout.chunkCount - 1, stored, storedAt);
  return offThread === undefined ? sealChunks(encryptor, layout, firstChunk, plain, stored, storedAt) : storedAt + (await offThread);
}

/**
 * Authenticates and decrypts `chunkCount` consecutive chunks from
 * `firstChunk`, whose stored bytes are all of `stored`, into `plain` from
 * `plainAt`; on a payload worker thread when it can (as
 * sealChunksOffThread). Returns where the next chunk's plaintext goes.
 */
export async function openChunks(
  workers: PayloadWorkers | undefined,
  decryptor: ChunkOpener,
  layout: PartLayout,
  firstChunk: number,
  chunkCount: number,
  stored: Uint8Array,
  plain: Buffer,
  plainAt: number,
): Promise<number> {
  const thread = workersFor(workers, stored.length);
  const offThread = thread && decryptor.openChunksOn?.(thread, firstChunk, stored, layout.chunkCount - 1, plain, plainAt);
  if (offThread !== undefined) return plainAt + (await offThread);
  const { storedChunkSize } = layout.chunks;
  let storedAt = 0;
  let at = plainAt;
  for (let i = 0; i < chunkCount; i++) {
    const chunkIndex = firstChunk + i;
    const storedLength = Math.min(storedChunkSize, stored.length - storedAt);
    at += decryptor.decryptChunk(chunkIndex, stored.subarray(storedAt, storedAt + storedLength), layout.isFinalChunk(chunkIndex), plain, at).length;
    storedAt += storedLength;
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
export function partTagDigest(stored: Uint8Array, part: Part, layout: PartLayout): Buffer {
  const { headerLength, chunkSize, tagSize } = layout.chunks;
  const hash = createHash('sha256');
  let end = part.index === 0 ? headerLength : 0;
  let plainLeft = part.plainLength;
  for (let i = 0; i < part.chunkCount; i++) {
    const length = Math.min(chunkSize, plainLeft);
    end += length + tagSize;
    plainLeft -= length;
    hash.update(stored.subarray(end - tagSize, end));
  }
  return hash.digest();
}
