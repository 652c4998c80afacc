/**
 * The age payload (C2SP age.md, "Payload"): a 16-byte nonce, then STREAM
 * with ChaCha20-Poly1305 in 64 KiB chunks, through Node's native cipher.
 *
 *   payload key = HKDF-SHA-256(ikm = file key, salt = payload nonce, info = "payload")
 *   chunk nonce = 11-byte big-endian chunk index || final flag (0x01 last, 0x00 otherwise)
 *
 * Every chunk but the last holds exactly 64 KiB of plaintext; the last holds
 * 1..64 KiB, or 0 only when it is the only chunk (the empty file).
 * Chunks are independent once the key is known, so the transfer engine can
 * seal and open them in any order and in parallel, as with v1.
 */
import { createSecretKey, type KeyObject } from 'node:crypto';
import { AgeError } from './errors.js';
import { ChachaAuthenticationError, CHACHA_TAG_SIZE, chachaOpen, chachaSeal, hkdf } from './primitives.js';
import { ChunkFingerprints } from '../chunk-fingerprints.js';
import { PayloadWorkers } from '../payload-workers.js';

export const AGE_CHUNK_SIZE = 64 * 1024;
export const AGE_TAG_SIZE = CHACHA_TAG_SIZE;
export const AGE_STORED_CHUNK_SIZE = AGE_CHUNK_SIZE + AGE_TAG_SIZE;
export const PAYLOAD_NONCE_SIZE = 16;
/** Chunk indices fit 32 bits here (256 TiB); the format's counter is 88 bits. */
export const AGE_MAX_CHUNK_COUNT = 2 ** 32;

export function ageChunkCountFor(plaintextSize: number): number {
  return Math.max(1, Math.ceil(plaintextSize / AGE_CHUNK_SIZE));
}

/** Size of the stored object whose header (with the payload nonce) is `prefixLength` bytes. */
export function ageStoredSizeFor(prefixLength: number, plaintextSize: number): number {
  return prefixLength + plaintextSize + ageChunkCountFor(plaintextSize) * AGE_TAG_SIZE;
}

/**
 * Plaintext size of a stored object of `storedSize` bytes whose prefix (age
 * header + payload nonce) is `prefixLength` bytes. PAYLOAD_INVALID when no
 * plaintext size gives that stored size (cut inside a tag, an empty last
 * chunk after full ones, fewer bytes than the nonce and one tag).
 */
export function agePlaintextSizeFor(prefixLength: number, storedSize: number): number {
  const payload = storedSize - prefixLength;
  if (!Number.isSafeInteger(payload) || payload < AGE_TAG_SIZE) {
    throw new AgeError('PAYLOAD_INVALID', `it is ${storedSize} bytes long, too short for its header and one chunk`);
  }
  const chunks = Math.ceil(payload / AGE_STORED_CHUNK_SIZE);
  const last = payload - (chunks - 1) * AGE_STORED_CHUNK_SIZE;
  if (last < AGE_TAG_SIZE || (last === AGE_TAG_SIZE && chunks > 1)) {
    throw new AgeError('PAYLOAD_INVALID', `its length (${storedSize} bytes) is impossible: it was cut short or has bytes added`);
  }
  return payload - chunks * AGE_TAG_SIZE;
}

export function ageStoredChunkOffset(prefixLength: number, index: number): number {
  return prefixLength + index * AGE_STORED_CHUNK_SIZE;
}

export function ageStoredChunkLength(plaintextSize: number, index: number): number {
  const count = ageChunkCountFor(plaintextSize);
  if (index < 0 || index >= count) throw new RangeError(`chunk ${index} is outside the file's ${count} chunks`);
  return index < count - 1 ? AGE_STORED_CHUNK_SIZE : plaintextSize - (count - 1) * AGE_CHUNK_SIZE + AGE_TAG_SIZE;
}

function writeNonce(nonce: Buffer, index: number, isFinal: boolean): void {
  nonce.fill(0, 0, 7);
  nonce.writeUInt32BE(index, 7);
  nonce[11] = isFinal ? 1 : 0;
}

function assertIndex(index: number): void {
  if (!Number.isSafeInteger(index) || index < 0 || index >= AGE_MAX_CHUNK_COUNT) {
    throw new RangeError(`chunk index must be an integer from 0 to ${AGE_MAX_CHUNK_COUNT - 1}, got ${index}`);
  }
}

export function payloadKey(fileKey: Uint8Array, nonce: Uint8Array): KeyObject {
  const bytes = hkdf(fileKey, nonce, 'payload');
  const key = createSecretKey(bytes);
  bytes.fill(0);
  return key;
}

/**
 * Each chunk's length in a run of consecutive chunks from `firstChunk` that
 * fills `total` bytes, `fullLength` each but the last; undefined when that
 * run is impossible (a short chunk that is not the object's final one, a
 * final chunk that is not the run's last, an index out of range, nothing).
 * `finalChunk`: the object's last chunk index. `minFinal(index)`: the least
 * a final chunk may hold.
 */
function chunkRun(firstChunk: number, total: number, fullLength: number, finalChunk: number, minFinal: (index: number) => number): number[] | undefined {
  if (total <= 0) return undefined;
  const count = Math.ceil(total / fullLength);
  const lastIndex = firstChunk + count - 1;
  if (lastIndex > finalChunk || lastIndex >= AGE_MAX_CHUNK_COUNT) return undefined;
  const lastLength = total - (count - 1) * fullLength;
  if (lastIndex === finalChunk ? lastLength < minFinal(lastIndex) : lastLength !== fullLength) return undefined;
  const lengths = new Array<number>(count).fill(fullLength);
  lengths[count - 1] = lastLength;
  return lengths;
}

/** The output bytes `length` long at `offset` in `out`, or RangeError. */
function outputView(out: Buffer, offset: number, length: number): Buffer {
  if (!Number.isSafeInteger(offset) || offset < 0 || offset + length > out.length) {
    throw new RangeError(`output buffer too small: need ${length} bytes at offset ${offset}`);
  }
  return out.subarray(offset, offset + length);
}

function chunkFailedError(index: number, isFinal: boolean): AgeError {
  const hint = isFinal ? ' as the final chunk (the file may be cut short or have bytes added)' : '';
  return new AgeError('PAYLOAD_INVALID', `chunk ${index} failed authentication${hint}`, { chunkIndex: index });
}

/** Seals chunks of one age payload. */
export class AgePayloadSealer {
  readonly #key: KeyObject;
  readonly #nonce = Buffer.alloc(12);
  readonly #fingerprints = new ChunkFingerprints(AGE_MAX_CHUNK_COUNT);

  constructor(fileKey: Uint8Array, payloadNonce: Uint8Array) {
    this.#key = payloadKey(fileKey, payloadNonce);
  }

  /**
   * Seals chunk `index`: AGE_CHUNK_SIZE bytes unless final; a final chunk
   * holds 1..AGE_CHUNK_SIZE (0 only as chunk 0). Writes ciphertext||tag
   * into `out` at `outOffset` when given and returns those bytes.
   */
  encryptChunk(index: number, plaintext: Uint8Array, isFinal: boolean, out?: Buffer, outOffset = 0): Buffer {
    assertIndex(index);
    const length = plaintext.length;
    if (isFinal ? length < (index === 0 ? 0 : 1) || length > AGE_CHUNK_SIZE : length !== AGE_CHUNK_SIZE) {
      throw new RangeError(`chunk ${index} (${isFinal ? 'final' : 'not final'}) cannot hold ${length} bytes`);
    }
    writeNonce(this.#nonce, index, isFinal);
    const sealed = chachaSeal(this.#key, this.#nonce, plaintext, { out, outOffset });
    return this.#fingerprints.admit(index, sealed, length);
  }

  /**
   * Seals the consecutive chunks from `firstChunk` whose plaintext is all
   * of `plain` into `out` at `outOffset`, on a payload worker thread, and
   * resolves to the stored bytes written. `finalChunk` is the object's last
   * chunk index. Undefined when the run cannot go to a thread (buffers not
   * in shared memory, an empty chunk): the caller seals it with
   * encryptChunk. The same rules as encryptChunk, and the same refusal of a
   * chunk sealed before with other content; then the whole run's output is
   * zeroed, as none of it may leave.
   */
  sealChunksOn(workers: PayloadWorkers, firstChunk: number, plain: Uint8Array, finalChunk: number, out: Buffer, outOffset = 0): Promise<number> | undefined {
    const lengths = chunkRun(firstChunk, plain.length, AGE_CHUNK_SIZE, finalChunk, () => 1);
    if (lengths === undefined || !PayloadWorkers.canShare(plain, out)) return undefined;
    const output = outputView(out, outOffset, plain.length + lengths.length * AGE_TAG_SIZE);
    return workers.run({ seal: true, key: this.#key, firstChunk, lengths, finalChunk, input: plain, output }).then(() => {
      let at = 0;
      try {
        for (let i = 0; i < lengths.length; i++) {
          const sealedLength = lengths[i] + AGE_TAG_SIZE;
          this.#fingerprints.admit(firstChunk + i, output.subarray(at, at + sealedLength), lengths[i]);
          at += sealedLength;
        }
      } catch (err) {
        output.fill(0);
        throw err;
      }
      return output.length;
    });
  }
}

/** Opens chunks of one age payload, in any order. */
export class AgePayloadOpener {
  readonly #key: KeyObject;
  readonly #nonce = Buffer.alloc(12);

  constructor(fileKey: Uint8Array, payloadNonce: Uint8Array) {
    this.#key = payloadKey(fileKey, payloadNonce);
  }

  /**
   * Opens chunk `index` (its stored bytes). `isFinal` must be true exactly
   * for the last chunk as the reader sizes the object; that is how
   * truncation and extension are caught. PAYLOAD_INVALID on any failure,
   * and then nothing was written or returned.
   */
  decryptChunk(index: number, stored: Uint8Array, isFinal: boolean, out?: Buffer, outOffset = 0): Buffer {
    assertIndex(index);
    const length = stored.length;
    const possible = isFinal
      ? length <= AGE_STORED_CHUNK_SIZE && length >= AGE_TAG_SIZE + (index === 0 ? 0 : 1)
      : length === AGE_STORED_CHUNK_SIZE;
    if (!possible) {
      throw new AgeError('PAYLOAD_INVALID', `chunk ${index} has an impossible length of ${length} bytes`, { chunkIndex: index });
    }
    writeNonce(this.#nonce, index, isFinal);
    try {
      return chachaOpen(this.#key, this.#nonce, stored, { out, outOffset });
    } catch (err) {
      if (!(err instanceof ChachaAuthenticationError)) throw err;
      throw chunkFailedError(index, isFinal);
    }
  }

  /**
   * Opens the consecutive chunks from `firstChunk` whose stored bytes are
   * all of `stored` into `out` at `outOffset`, on a payload worker thread,
   * and resolves to the plaintext bytes written. `finalChunk` is the
   * object's last chunk index as the reader sizes it. Undefined when the run
   * cannot go to a thread (buffers not in shared memory, the empty chunk 0
   * of an empty file): the caller opens it with decryptChunk. Rejects with
   * PAYLOAD_INVALID as decryptChunk does, for the first chunk that fails;
   * the chunks before it are in `out`, nothing of it or after it is.
   */
  openChunksOn(workers: PayloadWorkers, firstChunk: number, stored: Uint8Array, finalChunk: number, out: Buffer, outOffset = 0): Promise<number> | undefined {
    if (!PayloadWorkers.canShare(stored, out) || stored.length <= AGE_TAG_SIZE) return undefined;
    const lengths = chunkRun(firstChunk, stored.length, AGE_STORED_CHUNK_SIZE, finalChunk, () => AGE_TAG_SIZE + 1);
    if (lengths === undefined) {
      return Promise.reject(new AgeError('PAYLOAD_INVALID', `chunks ${firstChunk} on have an impossible length of ${stored.length} bytes`, { chunkIndex: firstChunk }));
    }
    const output = outputView(out, outOffset, stored.length - lengths.length * AGE_TAG_SIZE);
    return workers.run({ seal: false, key: this.#key, firstChunk, lengths, finalChunk, input: stored, output }).then((result) => {
      if (result.failedChunk !== undefined) throw chunkFailedError(result.failedChunk, result.failedChunk === finalChunk);
      return result.written;
    });
  }
}
