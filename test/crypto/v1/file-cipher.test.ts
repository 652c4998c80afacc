/**
 * Per-chunk encryption and decryption, and the whole-buffer helpers, through
 * the public crypto API.
 */
import { describe, expect, test } from '@jest/globals';
import fc from 'fast-check';
import {
  CHUNK_SIZE,
  FileDecryptor,
  FileEncryptor,
  HEADER_SIZE,
  HeaderLayout,
  MAGIC_HEX,
  STORED_CHUNK_SIZE,
  TAG_SIZE,
  chunkCountFor,
  decryptBuffer,
  encryptBuffer,
  generateMasterKey,
  plaintextChunkLength,
  readHeaderInfo,
  storedChunkLength,
  storedChunkOffset,
  storedSizeFor,
} from '../../../src/crypto/index.js';
import { catchReason, pattern } from '../helpers.js';

const key = generateMasterKey();
const otherKey = generateMasterKey();
const BOUNDARY_LENGTHS = [0, 1, 15, 16, 17, CHUNK_SIZE - 1, CHUNK_SIZE, CHUNK_SIZE + 1, 2 * CHUNK_SIZE, 3 * CHUNK_SIZE + 1];

describe('whole-buffer round trips', () => {
  test.each(BOUNDARY_LENGTHS)('%i bytes', (length) => {
    const plaintext = pattern(length, length + 1);
    const stored = encryptBuffer(key, plaintext);
    expect(stored.length).toBe(storedSizeFor(length));
    expect(decryptBuffer(key, stored).equals(plaintext)).toBe(true);
  });

  test('property: random lengths round-trip', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 4 * CHUNK_SIZE + 100 }), fc.integer(), (length, seed) => {
        const plaintext = pattern(length, seed);
        expect(decryptBuffer(key, encryptBuffer(key, plaintext)).equals(plaintext)).toBe(true);
      }),
      { numRuns: 40 },
    );
  });

  test('the same file encrypted twice gives different objects with different salts', () => {
    const plaintext = pattern(1000);
    const first = encryptBuffer(key, plaintext);
    const second = encryptBuffer(key, plaintext);
    expect(first.equals(second)).toBe(false);
    const salt = (bytes: Buffer) => bytes.subarray(HeaderLayout.salt.offset, HeaderLayout.salt.offset + 32);
    expect(salt(first).equals(salt(second))).toBe(false);
    expect(first.subarray(HEADER_SIZE).equals(second.subarray(HEADER_SIZE))).toBe(false);
  });
});

describe('header', () => {
  test('has the documented layout and can be read without a key', () => {
    const encryptor = FileEncryptor.create(key);
    const header = encryptor.header;
    expect(header.length).toBe(HEADER_SIZE);
    expect(header.subarray(0, 8).toString('hex')).toBe(MAGIC_HEX);
    expect(header[8]).toBe(1);
    expect(header.readUInt32BE(12)).toBe(CHUNK_SIZE);
    expect(header.subarray(48, 64).toString('hex')).toBe(key.keyId);
    expect(readHeaderInfo(header)).toEqual({ formatVersion: 1, keyId: key.keyId });
    expect(readHeaderInfo(Buffer.concat([header, Buffer.alloc(10)]))).toEqual({ formatVersion: 1, keyId: key.keyId });
  });

  test('readHeaderInfo rejects what is not a v1 header', () => {
    const header = FileEncryptor.create(key).header;
    catchReason(() => readHeaderInfo(header.subarray(0, HEADER_SIZE - 1)), 'INTEGRITY');
    catchReason(() => readHeaderInfo(Buffer.alloc(HEADER_SIZE)), 'INTEGRITY');
    for (const offset of [0, 7, 8, 9, 11, 12, 15]) {
      const damaged = Buffer.from(header);
      damaged[offset] ^= 0x04;
      catchReason(() => readHeaderInfo(damaged), 'INTEGRITY');
    }
  });

  test('a wrong key is KEY_MISMATCH, naming both key ids, before any decryption', () => {
    const encryptor = FileEncryptor.create(key);
    const error = catchReason(() => FileDecryptor.open(otherKey, encryptor.header), 'KEY_MISMATCH');
    expect(error.message).toContain(key.keyId);
    expect(error.message).toContain(otherKey.keyId);
    expect(error.details).toEqual({ fileKeyId: key.keyId, keyId: otherKey.keyId });
  });

  test('every header byte is authenticated', () => {
    const header = FileEncryptor.create(key).header;
    for (let offset = 0; offset < HEADER_SIZE; offset++) {
      const damaged = Buffer.from(header);
      damaged[offset] ^= 0x01;
      const inKeyId = offset >= HeaderLayout.keyId.offset && offset < HeaderLayout.mac.offset;
      catchReason(() => FileDecryptor.open(key, damaged), inKeyId ? 'KEY_MISMATCH' : 'INTEGRITY');
    }
    expect(FileDecryptor.open(key, header).keyId).toBe(key.keyId);
  });
});

describe('chunk API', () => {
  const length = 3 * CHUNK_SIZE + 123;
  const plaintext = pattern(length, 42);
  const count = chunkCountFor(length);
  const chunkOf = (index: number) =>
    plaintext.subarray(index * CHUNK_SIZE, index * CHUNK_SIZE + plaintextChunkLength(length, index));

  test('chunks encrypted out of order into one buffer form a valid object', () => {
    const encryptor = FileEncryptor.create(key);
    const stored = Buffer.alloc(storedSizeFor(length));
    encryptor.header.copy(stored);
    for (const index of [2, 0, 3, 1]) {
      const written = encryptor.encryptChunk(index, chunkOf(index), index === count - 1, stored, storedChunkOffset(index));
      expect(written.length).toBe(storedChunkLength(length, index));
      expect(written.buffer).toBe(stored.buffer);
    }
    expect(decryptBuffer(key, stored).equals(plaintext)).toBe(true);
  });

  test('chunks decrypted out of order into one buffer give the plaintext', () => {
    const stored = encryptBuffer(key, plaintext);
    const decryptor = FileDecryptor.open(key, stored.subarray(0, HEADER_SIZE));
    const out = Buffer.alloc(length);
    for (const index of [3, 1, 0, 2]) {
      const offset = storedChunkOffset(index);
      const chunk = stored.subarray(offset, offset + storedChunkLength(length, index));
      const written = decryptor.decryptChunk(index, chunk, index === count - 1, out, index * CHUNK_SIZE);
      expect(written.length).toBe(plaintextChunkLength(length, index));
    }
    expect(out.equals(plaintext)).toBe(true);
  });

  test('plaintext lengths the format does not allow are refused', () => {
    const encryptor = FileEncryptor.create(key);
    expect(() => encryptor.encryptChunk(0, Buffer.alloc(CHUNK_SIZE - 1), false)).toThrow(RangeError);
    expect(() => encryptor.encryptChunk(0, Buffer.alloc(CHUNK_SIZE + 1), true)).toThrow(RangeError);
    expect(() => encryptor.encryptChunk(1, Buffer.alloc(0), true)).toThrow(RangeError);
    expect(() => encryptor.encryptChunk(-1, Buffer.alloc(CHUNK_SIZE), false)).toThrow(RangeError);
    expect(() => encryptor.encryptChunk(2 ** 32, Buffer.alloc(1), true)).toThrow(RangeError);
    expect(encryptor.encryptChunk(0, Buffer.alloc(0), true).length).toBe(TAG_SIZE);
  });

  test('an output buffer that is too small is refused', () => {
    const encryptor = FileEncryptor.create(key);
    expect(() => encryptor.encryptChunk(0, Buffer.alloc(10), true, Buffer.alloc(25))).toThrow(RangeError);
    expect(() => encryptor.encryptChunk(0, Buffer.alloc(10), true, Buffer.alloc(30), 5)).toThrow(RangeError);
  });

  test('a retry of a chunk with the same plaintext gives the same bytes; changed plaintext is refused', () => {
    const encryptor = FileEncryptor.create(key);
    const first = Buffer.from(encryptor.encryptChunk(5, pattern(CHUNK_SIZE, 1), false));
    expect(encryptor.encryptChunk(5, pattern(CHUNK_SIZE, 1), false).equals(first)).toBe(true);
    const out = Buffer.alloc(STORED_CHUNK_SIZE, 0x33);
    const error = catchReason(() => encryptor.encryptChunk(5, pattern(CHUNK_SIZE, 2), false, out), 'SOURCE_CHANGED');
    expect(error.details).toEqual({ chunkIndex: 5 });
    expect(out.every((byte) => byte === 0)).toBe(true);
    // Other indices are unaffected.
    expect(encryptor.encryptChunk(6, pattern(CHUNK_SIZE, 2), false).length).toBe(STORED_CHUNK_SIZE);
    expect(encryptor.encryptChunk(1000, pattern(7, 2), true).length).toBe(7 + TAG_SIZE);
  });

  describe('decryptChunk refuses malformed chunks with INTEGRITY and writes nothing', () => {
    const stored = encryptBuffer(key, plaintext);
    const decryptor = FileDecryptor.open(key, stored.subarray(0, HEADER_SIZE));
    const full = stored.subarray(storedChunkOffset(0), storedChunkOffset(1));
    const final = stored.subarray(storedChunkOffset(3));

    const cases: Array<[string, () => [number, Uint8Array, boolean]]> = [
      ['shorter than a tag', () => [3, final.subarray(0, TAG_SIZE - 1), true]],
      ['empty', () => [0, Buffer.alloc(0), true]],
      ['a non-final chunk of the wrong length', () => [0, full.subarray(0, STORED_CHUNK_SIZE - 1), false]],
      ['a final chunk longer than a full one', () => [3, Buffer.concat([full, Buffer.alloc(1)]), true]],
      ['an empty final chunk after others', () => [3, final.subarray(0, TAG_SIZE), true]],
      ['a non-final chunk read as final', () => [0, full, true]],
      ['the final chunk read as non-final', () => [3, Buffer.concat([final, Buffer.alloc(STORED_CHUNK_SIZE - final.length)]), false]],
      ['a chunk at the wrong index', () => [1, full, false]],
      ['a flipped ciphertext byte', () => {
        const damaged = Buffer.from(full);
        damaged[5] ^= 0x01;
        return [0, damaged, false];
      }],
      ['a flipped tag byte', () => {
        const damaged = Buffer.from(full);
        damaged[STORED_CHUNK_SIZE - 1] ^= 0x80;
        return [0, damaged, false];
      }],
    ];
    test.each(cases)('%s', (_name, make) => {
      const [index, chunk, isFinal] = make();
      const out = Buffer.alloc(CHUNK_SIZE, 0x5a);
      catchReason(() => decryptor.decryptChunk(index, chunk, isFinal, out), 'INTEGRITY');
      expect(out.every((byte) => byte === 0x5a)).toBe(true);
    });
  });

  test('a chunk from another file under the same key does not decrypt', () => {
    const a = encryptBuffer(key, plaintext);
    const b = encryptBuffer(key, plaintext);
    const decryptor = FileDecryptor.open(key, a.subarray(0, HEADER_SIZE));
    catchReason(() => decryptor.decryptChunk(1, b.subarray(storedChunkOffset(1), storedChunkOffset(2)), false), 'INTEGRITY');
  });
});

describe('decryptBuffer failure modes', () => {
  const plaintext = pattern(2 * CHUNK_SIZE + 5);
  const stored = encryptBuffer(key, plaintext);

  test.each([
    ['truncated at a chunk boundary', stored.subarray(0, storedChunkOffset(2))],
    ['truncated inside a chunk', stored.subarray(0, storedChunkOffset(2) + 3)],
    ['with a trailing byte', Buffer.concat([stored, Buffer.alloc(1)])],
    ['only a header', stored.subarray(0, HEADER_SIZE)],
    ['shorter than a header', stored.subarray(0, 10)],
    ['with chunks 0 and 1 swapped', Buffer.concat([stored.subarray(0, HEADER_SIZE), stored.subarray(storedChunkOffset(1), storedChunkOffset(2)), stored.subarray(storedChunkOffset(0), storedChunkOffset(1)), stored.subarray(storedChunkOffset(2))])],
  ])('%s: INTEGRITY', (_name, damaged) => {
    const error = catchReason(() => decryptBuffer(key, damaged), 'INTEGRITY');
    expect(error.message).toMatch(/^The stored file was altered or is incomplete: .+; it cannot be trusted/);
  });

  test('the wrong key: KEY_MISMATCH', () => {
    catchReason(() => decryptBuffer(otherKey, stored), 'KEY_MISMATCH');
  });
});
