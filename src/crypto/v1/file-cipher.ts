/**
 * Per-chunk encryption and decryption of one stored file (format v1).
 *
 * Chunks are independent once the header is known: the transfer engine can
 * encrypt or decrypt chunk i in any order, in parallel, and write it at
 * storedChunkOffset(i). Integrity of the whole (no chunk dropped, reordered,
 * duplicated, spliced in from another file, nothing cut off or appended)
 * comes from the nonce, which encodes the chunk's index and whether it is the
 * final chunk, and from the per-file payload key (STREAM, as in age).
 */
import { createSecretKey, type KeyObject } from 'node:crypto';
import { GcmAuthenticationError, gcmOpen, gcmSeal } from '../aes-gcm.js';
import { integrityError, keyMismatchError } from '../crypto-errors.js';
import {
  CHUNK_SIZE,
  HEADER_SIZE,
  MAX_CHUNK_COUNT,
  NONCE_SIZE,
  SALT_SIZE,
  STORED_CHUNK_SIZE,
  TAG_SIZE,
  V1_LAYOUT,
} from './format.js';
import { buildHeader, headerMacIsValid, parseHeader } from './header.js';
import { deriveFileKeys } from './kdf.js';
import { masterKeyBytes, type MasterKey } from '../master-key.js';
import type { ChunkOpener, ChunkSealer } from '../stored-format.js';
import { systemRandom, takeRandom, type RandomSource } from '../random.js';
import { ChunkFingerprints } from '../chunk-fingerprints.js';

/** Offset of the final-chunk flag in the nonce; bytes 0..10 are the big-endian chunk index. */
const FINAL_FLAG_OFFSET = NONCE_SIZE - 1;

/** Writes the nonce of chunk `index` into `nonce` (12 bytes). */
export function writeChunkNonce(nonce: Buffer, index: number, isFinal: boolean): Buffer {
  // Indices are below 2^32 (MAX_CHUNK_COUNT), so the 11-byte big-endian
  // counter is 7 zero bytes followed by the index as a uint32.
  nonce.fill(0, 0, FINAL_FLAG_OFFSET - 4);
  nonce.writeUInt32BE(index, FINAL_FLAG_OFFSET - 4);
  nonce[FINAL_FLAG_OFFSET] = isFinal ? 1 : 0;
  return nonce;
}

function assertIndex(index: number): void {
  if (!Number.isSafeInteger(index) || index < 0 || index >= MAX_CHUNK_COUNT) {
    throw new RangeError(`chunk index must be an integer from 0 to ${MAX_CHUNK_COUNT - 1}, got ${index}`);
  }
}

function createPayloadKey(bytes: Buffer): KeyObject {
  const key = createSecretKey(bytes);
  bytes.fill(0);
  return key;
}

/** Encrypts one stored file. Create one per upload: each has a fresh salt and so a fresh key. */
export class FileEncryptor implements ChunkSealer {
  /** HEADER_SIZE bytes, to be written at offset 0 of the stored object. */
  readonly header: Buffer;
  readonly layout = V1_LAYOUT;
  readonly keyId: string;
  readonly #payloadKey: KeyObject;
  readonly #nonce = Buffer.alloc(NONCE_SIZE);
  readonly #fingerprints = new ChunkFingerprints(MAX_CHUNK_COUNT);

  private constructor(header: Buffer, keyId: string, payloadKey: KeyObject) {
    this.header = header;
    this.keyId = keyId;
    this.#payloadKey = payloadKey;
  }

  static create(key: MasterKey, options: { random?: RandomSource } = {}): FileEncryptor {
    const master = masterKeyBytes(key);
    const salt = takeRandom(options.random ?? systemRandom, SALT_SIZE);
    const { headerMacKey, payloadKey } = deriveFileKeys(master, salt);
    const header = buildHeader(salt, Buffer.from(key.keyId, 'hex'), headerMacKey);
    headerMacKey.fill(0);
    return new FileEncryptor(header, key.keyId, createPayloadKey(payloadKey));
  }

  /**
   * Re-creates the encryptor of an upload that was interrupted, from the
   * header it wrote (kept in the transfer journal; it holds no secret) and
   * the same key. KEY_MISMATCH when the header names another key, INTEGRITY
   * when its MAC does not verify. Only chunks never released before, or the
   * same plaintext again, may be encrypted with it (the caller verifies the
   * source is unchanged): encrypting different plaintext under a nonce used
   * before the crash would break GCM, and the fingerprints that guard against
   * that within one run do not survive a restart.
   */
  static fromHeader(key: MasterKey, header: Uint8Array): FileEncryptor {
    const payloadKey = authenticateHeader(key, header);
    return new FileEncryptor(Buffer.from(header.subarray(0, HEADER_SIZE)), key.keyId, payloadKey);
  }

  /**
   * Encrypts chunk `index`. `plaintext` is CHUNK_SIZE bytes for a non-final
   * chunk and 1..CHUNK_SIZE for the final one (0 only when the file is empty,
   * i.e. the final chunk is chunk 0). Writes ciphertext||tag into `out` at
   * `outOffset` when given (no allocation) and returns those stored bytes.
   *
   * Encrypting the same index again is allowed with the same plaintext (a
   * retry); with different plaintext it throws SOURCE_CHANGED and releases
   * nothing, because that would reuse a nonce.
   */
  encryptChunk(index: number, plaintext: Uint8Array, isFinal: boolean, out?: Buffer, outOffset = 0): Buffer {
    assertIndex(index);
    const length = plaintext.length;
    if (isFinal) {
      const smallest = index === 0 ? 0 : 1;
      if (length < smallest || length > CHUNK_SIZE) {
        throw new RangeError(`final chunk ${index} must hold ${smallest}..${CHUNK_SIZE} bytes, got ${length}`);
      }
    } else if (length !== CHUNK_SIZE) {
      throw new RangeError(`chunk ${index} is not final and must hold ${CHUNK_SIZE} bytes, got ${length}`);
    }
    writeChunkNonce(this.#nonce, index, isFinal);
    const stored = gcmSeal(this.#payloadKey, this.#nonce, plaintext, { out, outOffset });
    return this.#fingerprints.admit(index, stored, length);
  }
}

/** Decrypts one stored file, chunk by chunk, in any order. */
export class FileDecryptor implements ChunkOpener {
  readonly keyId: string;
  readonly layout = V1_LAYOUT;
  readonly #payloadKey: KeyObject;
  readonly #nonce = Buffer.alloc(NONCE_SIZE);

  private constructor(keyId: string, payloadKey: KeyObject) {
    this.keyId = keyId;
    this.#payloadKey = payloadKey;
  }

  /**
   * Parses and authenticates the header (its first HEADER_SIZE bytes).
   * KEY_MISMATCH when the header names another key (checked before any
   * decryption); INTEGRITY when it is damaged or not a cloudlocker object.
   */
  static open(key: MasterKey, header: Uint8Array): FileDecryptor {
    return new FileDecryptor(key.keyId, authenticateHeader(key, header));
  }

  /**
   * Decrypts chunk `index` (its stored bytes: ciphertext || tag). `isFinal`
   * must be true exactly for the last chunk of the object as the reader
   * sizes it (from its stored size); that is how truncation and appended
   * bytes are caught. Writes the plaintext into `out` at `outOffset` when
   * given and returns it. INTEGRITY on any failure, and then nothing has
   * been written or returned.
   */
  decryptChunk(index: number, storedChunk: Uint8Array, isFinal: boolean, out?: Buffer, outOffset = 0): Buffer {
    assertIndex(index);
    const length = storedChunk.length;
    if (length < TAG_SIZE) {
      throw integrityError(`chunk ${index} is ${length} bytes long, shorter than its ${TAG_SIZE}-byte tag`, {
        chunkIndex: index,
      });
    }
    if (!isFinal && length !== STORED_CHUNK_SIZE) {
      throw integrityError(`chunk ${index} is ${length} bytes long; every chunk but the last is ${STORED_CHUNK_SIZE}`, {
        chunkIndex: index,
      });
    }
    if (isFinal && (length > STORED_CHUNK_SIZE || (length === TAG_SIZE && index !== 0))) {
      throw integrityError(`its final chunk (${index}) has an impossible length of ${length} bytes`, {
        chunkIndex: index,
      });
    }
    writeChunkNonce(this.#nonce, index, isFinal);
    const ciphertext = storedChunk.subarray(0, length - TAG_SIZE);
    const tag = storedChunk.subarray(length - TAG_SIZE);
    try {
      return gcmOpen(this.#payloadKey, this.#nonce, ciphertext, tag, { out, outOffset });
    } catch (err) {
      if (!(err instanceof GcmAuthenticationError)) throw err;
      const hint = isFinal ? ' as the final chunk (the file may be cut short or have bytes added)' : '';
      throw integrityError(`chunk ${index} failed authentication${hint}`, { chunkIndex: index });
    }
  }
}

/**
 * Checks a stored header against `key` and derives the file's payload key:
 * KEY_MISMATCH when the header names another key (before any decryption),
 * INTEGRITY when it is damaged or its MAC does not verify.
 */
function authenticateHeader(key: MasterKey, header: Uint8Array): ReturnType<typeof createPayloadKey> {
  const fields = parseHeader(header);
  if (fields.keyId !== key.keyId) throw keyMismatchError(fields.keyId, key.keyId);
  const { headerMacKey, payloadKey } = deriveFileKeys(masterKeyBytes(key), fields.salt);
  const valid = headerMacIsValid(header.subarray(0, HEADER_SIZE), headerMacKey, fields.mac);
  headerMacKey.fill(0);
  if (!valid) {
    payloadKey.fill(0);
    throw integrityError('its header failed authentication');
  }
  return createPayloadKey(payloadKey);
}
