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

  test('a header whose MAC does not verify is refused as a header that failed authentication', () => {
    const damaged = Buffer.from(FileEncryptor.create(key).header);
    damaged[HEADER_SIZE - 1] ^= 0x01;
    const error = catchReason(() => FileDecryptor.open(key, damaged), 'INTEGRITY');
    expect(error.message).toMatch(/: its header failed authentication;/);
  });

  test('an encryptor re-created from its header (a resumed upload) continues the same object under the same key only', () => {
    const length = CHUNK_SIZE + 10;
    const plaintext = pattern(length, 9);
    const first = FileEncryptor.create(key);
    const stored = Buffer.alloc(storedSizeFor(length));
    first.header.copy(stored);
    first.encryptChunk(0, plaintext.subarray(0, CHUNK_SIZE), false, stored, storedChunkOffset(0));
    // The journal keeps the header (maybe with bytes after it); the resumed encryptor seals the rest.
    const resumed = FileEncryptor.fromHeader(key, Buffer.concat([first.header, Buffer.alloc(7, 1)]));
    expect(resumed.header.equals(first.header)).toBe(true);
    expect(resumed.keyId).toBe(key.keyId);
    resumed.encryptChunk(1, plaintext.subarray(CHUNK_SIZE), true, stored, storedChunkOffset(1));
    expect(decryptBuffer(key, stored).equals(plaintext)).toBe(true);
    // Sealing chunk 0 again gives the same bytes: same payload key, same nonce.
    expect(resumed.encryptChunk(0, plaintext.subarray(0, CHUNK_SIZE), false).equals(stored.subarray(storedChunkOffset(0), storedChunkOffset(1)))).toBe(true);

    catchReason(() => FileEncryptor.fromHeader(otherKey, first.header), 'KEY_MISMATCH');
    const damaged = Buffer.from(first.header);
    damaged[HEADER_SIZE - 1] ^= 0x01;
    catchReason(() => FileEncryptor.fromHeader(key, damaged), 'INTEGRITY');
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

  test('each refused length or index says what the chunk must hold', () => {
    const encryptor = FileEncryptor.create(key);
    expect(() => encryptor.encryptChunk(0, Buffer.alloc(CHUNK_SIZE - 1), false)).toThrow(
      'chunk 0 is not final and must hold 65536 bytes, got 65535',
    );
    expect(() => encryptor.encryptChunk(2, Buffer.alloc(CHUNK_SIZE + 1), true)).toThrow('final chunk 2 must hold 1..65536 bytes, got 65537');
    expect(() => encryptor.encryptChunk(1, Buffer.alloc(0), true)).toThrow('final chunk 1 must hold 1..65536 bytes, got 0');
    expect(() => encryptor.encryptChunk(-1, Buffer.alloc(CHUNK_SIZE), false)).toThrow(
      'chunk index must be an integer from 0 to 4294967295, got -1',
    );
    const decryptor = FileDecryptor.open(key, encryptor.header);
    expect(() => decryptor.decryptChunk(2 ** 32, Buffer.alloc(TAG_SIZE + 1), true)).toThrow(
      'chunk index must be an integer from 0 to 4294967295, got 4294967296',
    );
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

    // Each refusal says why, in the user's INTEGRITY message, and names the chunk (details.chunkIndex).
    const cases: Array<[string, () => [number, Uint8Array, boolean], RegExp]> = [
      ['shorter than a tag', () => [3, final.subarray(0, TAG_SIZE - 1), true], /: chunk 3 is 15 bytes long, shorter than its 16-byte tag;/],
      ['empty', () => [0, Buffer.alloc(0), true], /: chunk 0 is 0 bytes long, shorter than its 16-byte tag;/],
      ['a non-final chunk of the wrong length', () => [0, full.subarray(0, STORED_CHUNK_SIZE - 1), false], /: chunk 0 is 65551 bytes long; every chunk but the last is 65552;/],
      // Longer than the caller's output room: refused as a bad file, never taken for the caller's mistake.
      ['a non-final chunk longer than a full one', () => [0, Buffer.concat([full, Buffer.alloc(1)]), false], /: chunk 0 is 65553 bytes long; every chunk but the last is 65552;/],
      ['a final chunk longer than a full one', () => [3, Buffer.concat([full, Buffer.alloc(1)]), true], /: its final chunk \(3\) has an impossible length of 65553 bytes;/],
      ['an empty final chunk after others', () => [3, final.subarray(0, TAG_SIZE), true], /: its final chunk \(3\) has an impossible length of 16 bytes;/],
      ['a non-final chunk read as final', () => [0, full, true], /: chunk 0 failed authentication as the final chunk \(the file may be cut short or have bytes added\);/],
      ['the final chunk read as non-final', () => [3, Buffer.concat([final, Buffer.alloc(STORED_CHUNK_SIZE - final.length)]), false], /: chunk 3 failed authentication;/],
      ['a chunk at the wrong index', () => [1, full, false], /: chunk 1 failed authentication;/],
      ['a flipped ciphertext byte', () => {
        const damaged = Buffer.from(full);
        damaged[5] ^= 0x01;
        return [0, damaged, false];
      }, /: chunk 0 failed authentication;/],
      ['a flipped tag byte', () => {
        const damaged = Buffer.from(full);
        damaged[STORED_CHUNK_SIZE - 1] ^= 0x80;
        return [0, damaged, false];
      }, /: chunk 0 failed authentication;/],
    ];
    test.each(cases)('%s', (_name, make, message) => {
      const [index, chunk, isFinal] = make();
      const out = Buffer.alloc(CHUNK_SIZE, 0x5a);
      const error = catchReason(() => decryptor.decryptChunk(index, chunk, isFinal, out), 'INTEGRITY');
      expect(error.message).toMatch(message);
      expect(error.message).toMatch(/^The stored file was altered or is incomplete: .+; it cannot be trusted/);
      expect(error.details).toEqual({ chunkIndex: index });
      expect(out.every((byte) => byte === 0x5a)).toBe(true);
    });

    test('an output buffer too small for an intact chunk is the caller\'s mistake (RangeError), not a damaged file', () => {
      let caught: unknown;
      try {
        decryptor.decryptChunk(0, full, false, Buffer.alloc(CHUNK_SIZE - 1));
      } catch (err) {
        caught = err;
      }
      expect(caught).toBeInstanceOf(RangeError);
      expect((caught as Error).message).toMatch(/output buffer too small/);
      // The same chunk opens with room for it.
      expect(decryptor.decryptChunk(0, full, false, Buffer.alloc(CHUNK_SIZE)).equals(plaintext.subarray(0, CHUNK_SIZE))).toBe(true);
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

  test('shorter than a header, or only a header: INTEGRITY, saying which', () => {
    expect(catchReason(() => decryptBuffer(key, stored.subarray(0, 10)), 'INTEGRITY').message).toMatch(
      /: it is 10 bytes long, shorter than an encrypted file's header;/,
    );
    expect(catchReason(() => decryptBuffer(key, stored.subarray(0, HEADER_SIZE - 1)), 'INTEGRITY').message).toMatch(
      /: it is 95 bytes long, shorter than an encrypted file's header;/,
    );
    // A whole header and nothing after it gets past the header check and is refused for its size.
    expect(catchReason(() => decryptBuffer(key, stored.subarray(0, HEADER_SIZE)), 'INTEGRITY').message).toMatch(
      /: it is 96 bytes long, shorter than the smallest possible encrypted file;/,
    );
  });

  test('the wrong key: KEY_MISMATCH', () => {
    catchReason(() => decryptBuffer(otherKey, stored), 'KEY_MISMATCH');
  });
});
