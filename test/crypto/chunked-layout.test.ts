/**
 * The chunk geometry both formats share, checked exhaustively on a small
 * geometry against a model written out independently here: every plaintext
 * size maps to one stored size and back, and every other stored size is
 * refused as INTEGRITY, saying why. This arithmetic decides whether a
 * truncated or padded object is caught before a byte of it is read, and
 * where each chunk of a part starts: an error here is silent corruption or a
 * truncation let through.
 */
import { describe, expect, it } from '@jest/globals';
import { ChunkedLayout } from '../../src/crypto/chunked-layout.js';
import { CloudlockerError } from '../../src/errors.js';

const HEADER = 3;
const CHUNK = 4;
const TAG = 2;
const MAX_CHUNKS = 5;
const layout = new ChunkedLayout({ formatLabel: 'small', headerLength: HEADER, chunkSize: CHUNK, tagSize: TAG, maxChunkCount: MAX_CHUNKS });

/** The model: an empty file is one empty chunk; every chunk but the last is full. */
function modelChunkCount(plaintextSize: number): number {
  return Math.max(1, Math.ceil(plaintextSize / CHUNK));
}
function modelStoredSize(plaintextSize: number): number {
  return HEADER + plaintextSize + TAG * modelChunkCount(plaintextSize);
}
const MAX_PLAINTEXT = CHUNK * MAX_CHUNKS;
const plaintextSizes = Array.from({ length: MAX_PLAINTEXT + 1 }, (_, size) => size);
const plaintextOfStoredSize = new Map(plaintextSizes.map((size) => [modelStoredSize(size), size]));

function refusal(action: () => unknown): CloudlockerError {
  let caught: unknown;
  try {
    action();
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(CloudlockerError);
  return caught as CloudlockerError;
}

describe('ChunkedLayout', () => {
  it('derives the sizes of a full chunk, the largest file and the smallest and largest objects', () => {
    expect(layout).toMatchObject({
      formatLabel: 'small',
      headerLength: HEADER,
      chunkSize: CHUNK,
      tagSize: TAG,
      maxChunkCount: MAX_CHUNKS,
      storedChunkSize: CHUNK + TAG,
      maxPlaintextSize: MAX_PLAINTEXT,
      minStoredSize: HEADER + TAG,
      maxStoredSize: modelStoredSize(MAX_PLAINTEXT),
    });
  });

  it('counts chunks and sizes the stored object for every plaintext size', () => {
    for (const size of plaintextSizes) {
      expect([size, layout.chunkCountFor(size)]).toEqual([size, modelChunkCount(size)]);
      expect([size, layout.storedSizeFor(size)]).toEqual([size, modelStoredSize(size)]);
    }
  });

  it('gives back the plaintext size of every possible stored size', () => {
    for (const [storedSize, plaintextSize] of plaintextOfStoredSize) {
      expect([storedSize, layout.plaintextSizeFor(storedSize)]).toEqual([storedSize, plaintextSize]);
    }
  });

  it('refuses every other stored size as INTEGRITY, saying which way it is wrong', () => {
    const refused = { short: 0, large: 0, impossible: 0 };
    for (let storedSize = 0; storedSize <= modelStoredSize(MAX_PLAINTEXT) + CHUNK + TAG + 1; storedSize++) {
      if (plaintextOfStoredSize.has(storedSize)) continue;
      const error = refusal(() => layout.plaintextSizeFor(storedSize));
      expect(error.reason).toBe('INTEGRITY');
      expect(error.details).toEqual({ storedSize });
      const kind = storedSize < HEADER + TAG ? 'short' : storedSize > modelStoredSize(MAX_PLAINTEXT) ? 'large' : 'impossible';
      refused[kind] += 1;
      const why = {
        short: `it is ${storedSize} bytes long, shorter than the smallest possible encrypted file`,
        large: `it is ${storedSize} bytes long, larger than format small allows`,
        impossible: `its size (${storedSize} bytes) is not a possible size for an encrypted file`,
      }[kind];
      expect(error.message).toBe(`The stored file was altered or is incomplete: ${why}; it cannot be trusted; restore it from another copy or upload it again.`);
    }
    // 0-4 bytes; 34-40 bytes; and between the possible sizes, a final chunk of 1 byte (part of a
    // tag) or, after a full chunk, of a tag and no byte: 8 sizes from 5 to 33 bytes.
    expect(refused).toEqual({ short: 5, large: 7, impossible: 8 });
  });

  it('refuses a stored size that is no size at all as a caller error', () => {
    for (const storedSize of [-1, 1.5, Number.NaN, Number.MAX_SAFE_INTEGER + 2]) {
      expect(() => layout.plaintextSizeFor(storedSize)).toThrow(new RangeError(`stored size must be a non-negative integer, got ${storedSize}`));
    }
  });

  it('refuses plaintext sizes beyond the format limit, naming it', () => {
    for (const size of [-1, 0.5, MAX_PLAINTEXT + 1, Number.NaN]) {
      const message = `plaintext size must be an integer from 0 to ${MAX_PLAINTEXT} (format small limit), got ${size}`;
      expect(() => layout.chunkCountFor(size)).toThrow(new RangeError(message));
      expect(() => layout.storedSizeFor(size)).toThrow(new RangeError(message));
      expect(() => layout.plaintextChunkLength(size, 0)).toThrow(new RangeError(message));
    }
  });

  it('places every chunk in the stored object and in the plaintext', () => {
    for (let index = 0; index < MAX_CHUNKS; index++) {
      expect(layout.storedChunkOffset(index)).toBe(HEADER + index * (CHUNK + TAG));
      expect(layout.plaintextChunkOffset(index)).toBe(index * CHUNK);
    }
    for (const index of [-1, 0.5, MAX_CHUNKS, Number.NaN]) {
      const message = `chunk index must be an integer from 0 to ${MAX_CHUNKS - 1}, got ${index}`;
      expect(() => layout.storedChunkOffset(index)).toThrow(new RangeError(message));
      expect(() => layout.plaintextChunkOffset(index)).toThrow(new RangeError(message));
    }
  });

  it('sizes each chunk of every file, and refuses a chunk the file does not have', () => {
    for (const size of plaintextSizes) {
      const count = modelChunkCount(size);
      let plaintextTotal = 0;
      for (let index = 0; index < count; index++) {
        const expected = index < count - 1 ? CHUNK : size - (count - 1) * CHUNK;
        expect([size, index, layout.plaintextChunkLength(size, index)]).toEqual([size, index, expected]);
        expect(layout.storedChunkLength(size, index)).toBe(expected + TAG);
        plaintextTotal += expected;
      }
      expect(plaintextTotal).toBe(size);
      expect(() => layout.plaintextChunkLength(size, count)).toThrow(new RangeError(`chunk index must be an integer from 0 to ${count - 1}, got ${count}`));
      expect(() => layout.storedChunkLength(size, -1)).toThrow(RangeError);
    }
  });

  it('finds the chunk holding each plaintext byte, and refuses offsets past the limit', () => {
    for (let offset = 0; offset < MAX_PLAINTEXT; offset++) {
      expect(layout.chunkIndexForPlaintextOffset(offset)).toBe(Math.floor(offset / CHUNK));
    }
    for (const offset of [-1, 0.5, MAX_PLAINTEXT, Number.NaN]) {
      expect(() => layout.chunkIndexForPlaintextOffset(offset)).toThrow(new RangeError(`plaintext offset out of range: ${offset}`));
    }
  });

  it('moves the same chunks after a header of another length (age), leaving the original as it was', () => {
    expect(layout.withHeaderLength(HEADER)).toBe(layout);
    const longer = layout.withHeaderLength(HEADER + 10);
    expect(longer).toBeInstanceOf(ChunkedLayout);
    expect(longer).toMatchObject({ headerLength: HEADER + 10, chunkSize: CHUNK, tagSize: TAG, maxChunkCount: MAX_CHUNKS, formatLabel: 'small' });
    expect(longer.minStoredSize).toBe(HEADER + 10 + TAG);
    expect(longer.maxStoredSize).toBe(modelStoredSize(MAX_PLAINTEXT) + 10);
    expect(longer.storedChunkOffset(1)).toBe(HEADER + 10 + CHUNK + TAG);
    expect(longer.plaintextSizeFor(modelStoredSize(7) + 10)).toBe(7);
    expect(layout.headerLength).toBe(HEADER);
    expect(layout.plaintextSizeFor(modelStoredSize(7))).toBe(7);
  });
});
