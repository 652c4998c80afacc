/**
 * Streaming encryption/decryption with arbitrary input slicing, and ranged
 * decryption through a positioned reader.
 */
import { describe, expect, test } from '@jest/globals';
import fc from 'fast-check';
import {
  CHUNK_SIZE,
  HEADER_SIZE,
  STORED_CHUNK_SIZE,
  decryptBuffer,
  decryptRange,
  decryptStream,
  encryptBuffer,
  encryptStream,
  generateMasterKey,
  storedChunkOffset,
  type PositionedReader,
} from '../../../src/crypto/index.js';
import { CloudlockerError } from '../../../src/errors.js';
import { catchReasonAsync, collect, pattern, slice } from '../helpers.js';

const key = generateMasterKey();
const otherKey = generateMasterKey();

async function* piecesOf(pieces: Buffer[]): AsyncGenerator<Buffer> {
  for (const piece of pieces) yield piece;
}

/** Runs decryptStream to its end or first error; returns what it yielded and the error. */
async function drain(source: AsyncIterable<Uint8Array>): Promise<{ output: Buffer; error?: CloudlockerError }> {
  const pieces: Buffer[] = [];
  try {
    for await (const piece of decryptStream(key, source)) pieces.push(Buffer.from(piece));
  } catch (err) {
    if (!(err instanceof CloudlockerError)) throw err;
    return { output: Buffer.concat(pieces), error: err };
  }
  return { output: Buffer.concat(pieces) };
}

describe('encryptStream and decryptStream', () => {
  test.each([0, 1, CHUNK_SIZE - 1, CHUNK_SIZE, CHUNK_SIZE + 1, 3 * CHUNK_SIZE, 3 * CHUNK_SIZE + 1])(
    '%i bytes in one piece: same layout as encryptBuffer, decrypts with both',
    async (length) => {
      const plaintext = pattern(length, 3);
      const stored = await collect(encryptStream(key, [plaintext]));
      expect(decryptBuffer(key, stored).equals(plaintext)).toBe(true);
      expect((await collect(decryptStream(key, [stored]))).equals(plaintext)).toBe(true);
    },
  );

  test('an empty source gives a header and one empty final chunk', async () => {
    const stored = await collect(encryptStream(key, piecesOf([])));
    expect(stored.length).toBe(HEADER_SIZE + 16);
    expect((await collect(decryptStream(key, piecesOf([stored])))).length).toBe(0);
  });

  test('property: random lengths with random write and read slicing round-trip', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0, max: 3 * CHUNK_SIZE + 50 }),
        fc.array(fc.integer({ min: 0, max: 3 * CHUNK_SIZE + 50 }), { maxLength: 12 }),
        fc.array(fc.integer({ min: 0, max: 3 * CHUNK_SIZE + 400 }), { maxLength: 12 }),
        async (length, writeCuts, readCuts) => {
          const plaintext = pattern(length, length ^ 0x5f);
          const stored = await collect(encryptStream(key, piecesOf(slice(plaintext, writeCuts))));
          const output = await collect(decryptStream(key, piecesOf(slice(stored, readCuts))));
          expect(output.equals(plaintext)).toBe(true);
        },
      ),
      { numRuns: 30 },
    );
  });

  test('property: a stream cut at any point or extended fails with INTEGRITY and yields only authentic whole chunks', async () => {
    const plaintext = pattern(2 * CHUNK_SIZE + 77, 9);
    const stored = encryptBuffer(key, plaintext);
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc.integer({ min: 0, max: stored.length - 1 }).map((cut) => stored.subarray(0, cut)),
          fc.integer({ min: 1, max: 70000 }).map((extra) => Buffer.concat([stored, Buffer.alloc(extra, 1)])),
        ),
        fc.array(fc.integer({ min: 0, max: stored.length }), { maxLength: 6 }),
        async (damaged, cuts) => {
          const { output, error } = await drain(piecesOf(slice(damaged, cuts)));
          expect(error?.reason).toBe('INTEGRITY');
          expect(output.length % CHUNK_SIZE).toBe(0);
          expect(output.equals(plaintext.subarray(0, output.length))).toBe(true);
        },
      ),
      { numRuns: 40 },
    );
  });

  test('a damaged chunk yields nothing of that chunk: output stops at the chunks before it', async () => {
    const plaintext = pattern(4 * CHUNK_SIZE, 11);
    const stored = encryptBuffer(key, plaintext);
    for (const bad of [0, 1, 3]) {
      const damaged = Buffer.from(stored);
      damaged[storedChunkOffset(bad) + 7] ^= 0x10;
      const { output, error } = await drain(piecesOf(slice(damaged, [1000, 70000, 140000])));
      expect(error?.reason).toBe('INTEGRITY');
      expect(error?.details).toEqual({ chunkIndex: bad });
      expect(output.equals(plaintext.subarray(0, bad * CHUNK_SIZE))).toBe(true);
    }
  });

  test('the wrong key fails before anything is yielded', async () => {
    const stored = encryptBuffer(key, pattern(100));
    await catchReasonAsync(() => collect(decryptStream(otherKey, [stored])), 'KEY_MISMATCH');
  });

  test('a stream that ends inside or right after the header is INTEGRITY, saying where it ended', async () => {
    const stored = encryptBuffer(key, pattern(100));
    for (const length of [0, 1, HEADER_SIZE - 1]) {
      const error = await catchReasonAsync(() => collect(decryptStream(key, [stored.subarray(0, length)])), 'INTEGRITY');
      expect(error.message).toMatch(new RegExp(`: it ends inside its header \\(${length} of ${HEADER_SIZE} bytes\\);`));
    }
    // The header in pieces, then nothing more.
    const error = await catchReasonAsync(
      () => collect(decryptStream(key, piecesOf([stored.subarray(0, 10), stored.subarray(10, HEADER_SIZE)]))),
      'INTEGRITY',
    );
    expect(error.message).toMatch(/: it ends right after its header, without any chunk;/);
  });

  test('the header and the first chunk in one piece, or the header byte by byte, decrypt the same', async () => {
    const plaintext = pattern(CHUNK_SIZE + 3, 5);
    const stored = encryptBuffer(key, plaintext);
    const bytewise = [...stored.subarray(0, HEADER_SIZE)].map((byte) => Buffer.from([byte]));
    expect((await collect(decryptStream(key, piecesOf([...bytewise, stored.subarray(HEADER_SIZE)])))).equals(plaintext)).toBe(true);
    expect((await collect(decryptStream(key, piecesOf([stored.subarray(0, HEADER_SIZE + 5), stored.subarray(HEADER_SIZE + 5)])))).equals(plaintext)).toBe(true);
  });

  test('yielded pieces are independent buffers', async () => {
    const plaintext = pattern(2 * CHUNK_SIZE + 1);
    const pieces: Buffer[] = [];
    for await (const piece of decryptStream(key, [encryptBuffer(key, plaintext)])) pieces.push(piece);
    expect(pieces.map((p) => p.length)).toEqual([CHUNK_SIZE, CHUNK_SIZE, 1]);
    pieces[0]?.fill(0);
    expect(pieces[1]?.equals(plaintext.subarray(CHUNK_SIZE, 2 * CHUNK_SIZE))).toBe(true);
  });
});

describe('decryptRange', () => {
  const plaintext = pattern(3 * CHUNK_SIZE + 500, 21);
  const stored = encryptBuffer(key, plaintext);

  function readerOver(bytes: Buffer, log: Array<[number, number]> = []): PositionedReader {
    return async (position, length) => {
      log.push([position, length]);
      return bytes.subarray(position, position + length);
    };
  }

  test('reads the whole file by default', async () => {
    const output = await collect(decryptRange(key, readerOver(stored), stored.length));
    expect(output.equals(plaintext)).toBe(true);
  });

  test('property: any range gives exactly those bytes, reading only the chunks that cover it', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0, max: plaintext.length }),
        fc.integer({ min: 0, max: plaintext.length }),
        async (a, b) => {
          const [start, end] = a <= b ? [a, b] : [b, a];
          const log: Array<[number, number]> = [];
          const output = await collect(decryptRange(key, readerOver(stored, log), stored.length, { start, end }));
          expect(output.equals(plaintext.subarray(start, end))).toBe(true);
          const chunksRead = log.length - 1; // minus the header read
          const expected = end === start ? 0 : Math.floor((end - 1) / CHUNK_SIZE) - Math.floor(start / CHUNK_SIZE) + 1;
          expect(chunksRead).toBe(expected);
        },
      ),
      { numRuns: 60 },
    );
  });

  test('a damaged chunk in the range is INTEGRITY; one outside it is not read', async () => {
    const damaged = Buffer.from(stored);
    damaged[storedChunkOffset(2) + 3] ^= 1;
    await catchReasonAsync(
      () => collect(decryptRange(key, readerOver(damaged), damaged.length, { start: CHUNK_SIZE, end: 2 * CHUNK_SIZE + 1 })),
      'INTEGRITY',
    );
    const output = await collect(decryptRange(key, readerOver(damaged), damaged.length, { start: 0, end: 2 * CHUNK_SIZE }));
    expect(output.equals(plaintext.subarray(0, 2 * CHUNK_SIZE))).toBe(true);
  });

  test('an object cut at a chunk boundary fails when its new last chunk is read', async () => {
    const cut = stored.subarray(0, storedChunkOffset(2));
    await catchReasonAsync(() => collect(decryptRange(key, readerOver(cut), cut.length)), 'INTEGRITY');
  });

  test('a reader that returns fewer bytes than the listed size is INTEGRITY', async () => {
    const short: PositionedReader = async (position, length) => stored.subarray(position, Math.min(position + length, stored.length - 5));
    await catchReasonAsync(() => collect(decryptRange(key, short, stored.length)), 'INTEGRITY');
  });

  test('an empty file read whole still authenticates its one (empty) chunk; an empty range reads no chunk', async () => {
    const empty = encryptBuffer(key, Buffer.alloc(0));
    const emptyLog: Array<[number, number]> = [];
    const pieces: Buffer[] = [];
    for await (const piece of decryptRange(key, readerOver(empty, emptyLog), empty.length)) pieces.push(piece);
    expect(pieces).toEqual([]); // no empty piece either
    expect(emptyLog).toEqual([[0, HEADER_SIZE], [HEADER_SIZE, 16]]);
    const damaged = Buffer.from(empty);
    damaged[damaged.length - 1] ^= 1;
    const error = await catchReasonAsync(() => collect(decryptRange(key, readerOver(damaged), damaged.length)), 'INTEGRITY');
    expect(error.details).toEqual({ chunkIndex: 0 });
    // An explicit empty range asks for no plaintext: only the header is read (and checked).
    const log: Array<[number, number]> = [];
    expect((await collect(decryptRange(key, readerOver(damaged, log), damaged.length, { start: 0, end: 0 }))).length).toBe(0);
    expect(log).toEqual([[0, HEADER_SIZE]]);
  });

  test('a short read says what was short', async () => {
    const shortHeader: PositionedReader = async (position, length) => stored.subarray(position, position + length - 1);
    const header = await catchReasonAsync(() => collect(decryptRange(key, shortHeader, stored.length)), 'INTEGRITY');
    expect(header.message).toMatch(/: its header is shorter than the file's listed size implies \(95 of 96 bytes\);/);
    const shortLast: PositionedReader = async (position, length) =>
      stored.subarray(position, Math.min(position + length, stored.length - 5));
    const chunk = await catchReasonAsync(() => collect(decryptRange(key, shortLast, stored.length)), 'INTEGRITY');
    expect(chunk.message).toMatch(/: chunk 3 is shorter than the file's listed size implies \(511 of 516 bytes\);/);
  });

  test('each way a range can fall outside the file is a RangeError naming it', async () => {
    const size = plaintext.length;
    for (const [start, end] of [
      [-1, 10],
      [10, 5],
      [0, size + 1],
      [1.5, 10],
      [0, 2.5],
      [Number.NaN, 10],
      [0, Number.POSITIVE_INFINITY],
    ]) {
      await expect(collect(decryptRange(key, readerOver(stored), stored.length, { start, end }))).rejects.toThrow(
        new RangeError(`range [${start}, ${end}) is not within the file's ${size} bytes`),
      );
    }
    // The edges inside the file are fine; an empty range at the end reads no chunk.
    const log: Array<[number, number]> = [];
    expect((await collect(decryptRange(key, readerOver(stored, log), stored.length, { start: size, end: size }))).length).toBe(0);
    expect(log).toEqual([[0, HEADER_SIZE]]);
    // Half a range given is not a whole-file read: an empty range by either half reads no chunk.
    for (const range of [{ start: size }, { end: 0 }]) {
      const halfLog: Array<[number, number]> = [];
      expect((await collect(decryptRange(key, readerOver(stored, halfLog), stored.length, range))).length).toBe(0);
      expect(halfLog).toEqual([[0, HEADER_SIZE]]);
    }
    expect((await collect(decryptRange(key, readerOver(stored), stored.length, { start: size - 1 }))).equals(plaintext.subarray(size - 1))).toBe(true);
    expect((await collect(decryptRange(key, readerOver(stored), stored.length, { end: 1 }))).equals(plaintext.subarray(0, 1))).toBe(true);
  });

  test('an impossible stored size is INTEGRITY before any read; a range outside the file is a RangeError', async () => {
    const log: Array<[number, number]> = [];
    await catchReasonAsync(() => collect(decryptRange(key, readerOver(stored, log), HEADER_SIZE + STORED_CHUNK_SIZE + 3)), 'INTEGRITY');
    expect(log).toEqual([]);
    await expect(collect(decryptRange(key, readerOver(stored), stored.length, { start: 5, end: plaintext.length + 1 }))).rejects.toThrow(RangeError);
  });
});
