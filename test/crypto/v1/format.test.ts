import { describe, expect, test } from '@jest/globals';
import fc from 'fast-check';
import {
  CHUNK_SIZE,
  FORMAT_VERSION,
  HEADER_SIZE,
  MAX_CHUNK_COUNT,
  MAX_PLAINTEXT_SIZE,
  MAX_STORED_SIZE,
  MIN_STORED_SIZE,
  STORED_CHUNK_SIZE,
  TAG_SIZE,
  chunkCountFor,
  chunkIndexForPlaintextOffset,
  plaintextChunkLength,
  plaintextChunkOffset,
  plaintextSizeFor,
  storedChunkLength,
  storedChunkOffset,
  storedSizeFor,
} from '../../../src/crypto/index.js';
import { catchReason } from '../helpers.js';

describe('format v1 constants', () => {
  test('are the documented values', () => {
    expect(FORMAT_VERSION).toBe(1);
    expect(CHUNK_SIZE).toBe(65536);
    expect(TAG_SIZE).toBe(16);
    expect(STORED_CHUNK_SIZE).toBe(65552);
    expect(HEADER_SIZE).toBe(96);
    expect(MAX_CHUNK_COUNT).toBe(2 ** 32);
    expect(MAX_PLAINTEXT_SIZE).toBe(2 ** 48);
    expect(MAX_STORED_SIZE).toBe(281543696187488);
    expect(Number.isSafeInteger(MAX_STORED_SIZE)).toBe(true);
  });
});

describe('size arithmetic', () => {
  test.each([
    [0, 1, 112],
    [1, 1, 113],
    [65535, 1, 65647],
    [65536, 1, 65648],
    [65537, 2, 65665],
    [3 * 65536, 3, 196752],
    [3 * 65536 + 1, 4, 196769],
    [200000, 4, 200160],
  ])('plaintext %i bytes: %i chunks, %i stored bytes, and back', (plaintext, chunks, stored) => {
    expect(chunkCountFor(plaintext)).toBe(chunks);
    expect(storedSizeFor(plaintext)).toBe(stored);
    expect(plaintextSizeFor(stored)).toBe(plaintext);
  });

  test('chunk offsets and lengths of a 200,000-byte file (the worked example)', () => {
    expect([0, 1, 2, 3].map(storedChunkOffset)).toEqual([96, 65648, 131200, 196752]);
    expect([0, 1, 2, 3].map((i) => storedChunkLength(200000, i))).toEqual([65552, 65552, 65552, 3408]);
    expect([0, 1, 2, 3].map((i) => plaintextChunkLength(200000, i))).toEqual([65536, 65536, 65536, 3392]);
    expect(plaintextChunkOffset(3)).toBe(196608);
    expect(chunkIndexForPlaintextOffset(196607)).toBe(2);
    expect(chunkIndexForPlaintextOffset(196608)).toBe(3);
  });

  test('an empty file is one empty chunk', () => {
    expect(plaintextChunkLength(0, 0)).toBe(0);
    expect(storedChunkLength(0, 0)).toBe(TAG_SIZE);
    expect(() => plaintextChunkLength(0, 1)).toThrow(RangeError);
  });

  test('the largest file', () => {
    expect(chunkCountFor(MAX_PLAINTEXT_SIZE)).toBe(MAX_CHUNK_COUNT);
    expect(plaintextSizeFor(MAX_STORED_SIZE)).toBe(MAX_PLAINTEXT_SIZE);
    expect(storedChunkOffset(MAX_CHUNK_COUNT - 1) + STORED_CHUNK_SIZE).toBe(MAX_STORED_SIZE);
    expect(() => chunkCountFor(MAX_PLAINTEXT_SIZE + 1)).toThrow(RangeError);
    expect(() => storedChunkOffset(MAX_CHUNK_COUNT)).toThrow(RangeError);
  });

  test('rejects nonsense arguments as programming errors', () => {
    for (const bad of [-1, 1.5, Number.NaN, Infinity]) {
      expect(() => chunkCountFor(bad)).toThrow(RangeError);
      expect(() => plaintextSizeFor(bad)).toThrow(RangeError);
      expect(() => storedChunkOffset(bad)).toThrow(RangeError);
    }
  });

  test('stored sizes no v1 object can have are INTEGRITY errors', () => {
    const impossible = [
      0,
      HEADER_SIZE,
      MIN_STORED_SIZE - 1,
      HEADER_SIZE + STORED_CHUNK_SIZE + 1, // a 1-byte final chunk after a full one
      HEADER_SIZE + STORED_CHUNK_SIZE + TAG_SIZE, // an empty final chunk after a full one
      HEADER_SIZE + 2 * STORED_CHUNK_SIZE + 10,
      MAX_STORED_SIZE + 1,
    ];
    for (const size of impossible) {
      const error = catchReason(() => plaintextSizeFor(size), 'INTEGRITY');
      expect(error.message).toMatch(/^The stored file was altered or is incomplete: /);
    }
    expect(plaintextSizeFor(HEADER_SIZE + STORED_CHUNK_SIZE + TAG_SIZE + 1)).toBe(CHUNK_SIZE + 1);
  });

  test('property: storedSizeFor and plaintextSizeFor are inverse, and chunks tile the object', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: MAX_PLAINTEXT_SIZE }), (plaintext) => {
        const stored = storedSizeFor(plaintext);
        expect(plaintextSizeFor(stored)).toBe(plaintext);
        const last = chunkCountFor(plaintext) - 1;
        expect(storedChunkOffset(last) + storedChunkLength(plaintext, last)).toBe(stored);
        expect(plaintextChunkOffset(last) + plaintextChunkLength(plaintext, last)).toBe(plaintext);
      }),
      { numRuns: 2000 },
    );
  });

  test('property: every stored size either maps to a plaintext size that maps back, or is INTEGRITY', () => {
    fc.assert(
      fc.property(
        fc.oneof(fc.integer({ min: 0, max: 10 * STORED_CHUNK_SIZE }), fc.integer({ min: 0, max: MAX_STORED_SIZE })),
        (stored) => {
          let plaintext: number | undefined;
          try {
            plaintext = plaintextSizeFor(stored);
          } catch (err) {
            expect((err as { reason?: string }).reason).toBe('INTEGRITY');
            return;
          }
          expect(storedSizeFor(plaintext)).toBe(stored);
        },
      ),
      { numRuns: 5000 },
    );
  });
});
