/**
 * test/vectors/format-v1.json: the generator reproduces it byte for byte,
 * every known-answer vector encrypts and decrypts exactly, and every failure
 * vector fails with its stated reason through every decryption path.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, test } from '@jest/globals';
import {
  CHUNK_SIZE,
  FileDecryptor,
  HEADER_SIZE,
  decryptBuffer,
  decryptRange,
  decryptStream,
  importMasterKey,
} from '../../../src/crypto/index.js';
import {
  buildFormatVectors,
  damagedObject,
  encryptKnownAnswer,
  importVectorKey,
  serializeVectors,
  sha256,
  vectorPlaintext,
  type VectorFile,
} from '../../../tools/vectors/build-vectors.js';
import { catchReason, catchReasonAsync, collect, slice } from '../helpers.js';

const committedText = readFileSync(new URL('../../vectors/format-v1.json', import.meta.url), 'utf8');
const vectors = JSON.parse(committedText) as VectorFile;

test('the generator reproduces the committed vectors byte for byte', () => {
  expect(serializeVectors(buildFormatVectors())).toBe(committedText);
});

test('the vectors cover the required lengths and failure modes', () => {
  const lengths = vectors.knownAnswer.map((v) => v.plaintext.length);
  for (const length of [0, 1, 65535, 65536, 65537, 3 * 65536, 3 * 65536 + 1]) expect(lengths).toContain(length);
  const names = vectors.failures.map((v) => v.name);
  for (const name of [
    'header-salt-byte-flipped',
    'chunk-byte-flipped',
    'chunk-tag-byte-flipped',
    'truncated-at-chunk-boundary',
    'final-chunk-dropped',
    'trailing-byte',
    'chunks-swapped',
    'chunk-spliced-from-other-file',
    'wrong-key',
  ]) {
    expect(names).toContain(name);
  }
});

test('key ids are derived as recorded', () => {
  for (const entry of Object.values(vectors.keys)) {
    expect(importMasterKey(Buffer.from(entry.masterKey, 'hex')).keyId).toBe(entry.keyId);
  }
});

describe('known-answer vectors', () => {
  test.each(vectors.knownAnswer.map((v) => [v.name, v] as const))('%s', async (_name, vector) => {
    const plaintext = vectorPlaintext(vector);
    expect(sha256(plaintext)).toBe(vector.plaintext.sha256);
    if (vector.plaintext.hex !== undefined) expect(plaintext.toString('hex')).toBe(vector.plaintext.hex);

    const stored = encryptKnownAnswer(vectors, vector);
    expect(stored.length).toBe(vector.stored.length);
    expect(sha256(stored)).toBe(vector.stored.sha256);
    expect(stored.subarray(0, HEADER_SIZE).toString('hex')).toBe(vector.stored.header);
    if (vector.stored.hex !== undefined) expect(stored.toString('hex')).toBe(vector.stored.hex);

    const key = importVectorKey(vectors, vector.key);
    expect(decryptBuffer(key, stored).equals(plaintext)).toBe(true);
    expect((await collect(decryptStream(key, slice(stored, [50, 70000])))).equals(plaintext)).toBe(true);
    const read = async (position: number, length: number) => stored.subarray(position, position + length);
    expect((await collect(decryptRange(key, read, stored.length))).equals(plaintext)).toBe(true);
  });
});

describe('failure vectors', () => {
  test.each(vectors.failures.map((v) => [v.name, v.expectedError, v] as const))('%s: %s', async (_name, reason, vector) => {
    const damaged = damagedObject(vectors, vector);
    expect(damaged.length).toBe(vector.stored.length);
    expect(sha256(damaged)).toBe(vector.stored.sha256);
    const key = importVectorKey(vectors, vector.decryptWith);
    const base = vectors.knownAnswer.find((v) => v.name === vector.base);
    const genuine = base === undefined ? Buffer.alloc(0) : vectorPlaintext(base);

    // Whole buffer.
    catchReason(() => decryptBuffer(key, damaged), reason);

    // Stream, in uneven pieces: whatever it yielded before failing is whole,
    // authentic chunks of the genuine plaintext, never bytes of the bad chunk.
    const yielded: Buffer[] = [];
    const streamError = await catchReasonAsync(async () => {
      for await (const piece of decryptStream(key, slice(damaged, [7, 1000, 65600, 131300]))) yielded.push(Buffer.from(piece));
    }, reason);
    const output = Buffer.concat(yielded);
    expect(output.length % CHUNK_SIZE).toBe(0);
    expect(output.equals(genuine.subarray(0, output.length))).toBe(true);
    const failedChunk = streamError.details?.chunkIndex;
    if (typeof failedChunk === 'number') expect(output.length).toBe(failedChunk * CHUNK_SIZE);

    // Random access, sized from the stored size as a storage listing would give it.
    const read = async (position: number, length: number) => damaged.subarray(position, position + length);
    await catchReasonAsync(() => collect(decryptRange(key, read, damaged.length)), reason);
  });

  test('a damaged key id is reported by FileDecryptor.open as KEY_MISMATCH naming the damaged id', () => {
    const vector = vectors.failures.find((v) => v.name === 'header-key-id-byte-flipped');
    if (vector === undefined) throw new Error('vector missing');
    const damaged = damagedObject(vectors, vector);
    const error = catchReason(() => FileDecryptor.open(importVectorKey(vectors, 'main'), damaged), 'KEY_MISMATCH');
    expect(error.details).toEqual({ fileKeyId: damaged.subarray(48, 64).toString('hex'), keyId: vectors.keys.main?.keyId });
  });
});
