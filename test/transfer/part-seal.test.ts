import { randomBytes } from 'node:crypto';
import { describe, expect, it } from '@jest/globals';
import {
  CHUNK_SIZE,
  FileEncryptor,
  HEADER_SIZE,
  decryptBuffer,
  generateMasterKey,
  storedSizeFor,
  V1_LAYOUT,
} from '../../src/crypto/index.js';
import { PartLayout } from '../../src/transfer/part-layout.js';
import { partTagDigest, sealChunks, sealPart, sealStart } from '../../src/transfer/part-seal.js';

const key = generateMasterKey();

/** Seals every part of `plaintext` with `encryptor`, as an upload would; the stored object and each part's digest. */
function sealAll(encryptor: FileEncryptor, plaintext: Buffer, chunksPerPart: number): { stored: Buffer; digests: Buffer[] } {
  const layout = new PartLayout(plaintext.length, chunksPerPart, V1_LAYOUT);
  const pieces: Buffer[] = [];
  const digests: Buffer[] = [];
  for (let index = 0; index < layout.partCount; index++) {
    const part = layout.part(index);
    const buffer = Buffer.alloc(HEADER_SIZE + part.chunksLength);
    const length = sealPart(encryptor, layout, part, plaintext.subarray(part.plainOffset, part.plainOffset + part.plainLength), buffer);
    pieces.push(buffer.subarray(0, length));
    digests.push(partTagDigest(buffer, part, layout));
  }
  return { stored: Buffer.concat(pieces), digests };
}

describe('sealPart and partTagDigest', () => {
  it.each([0, 1, CHUNK_SIZE, 2 * CHUNK_SIZE + 1, 5 * CHUNK_SIZE])(
    'parts sealed one by one make a stored object of the right size that decrypts to %i bytes',
    (size) => {
      const plaintext = randomBytes(size);
      const { stored } = sealAll(FileEncryptor.create(key), plaintext, 2);
      expect(stored.length).toBe(storedSizeFor(size));
      expect(decryptBuffer(key, stored).equals(plaintext)).toBe(true);
    },
  );

  it('gives the same digests when the same plaintext is sealed again under the same header, and others for other bytes', () => {
    const plaintext = randomBytes(5 * CHUNK_SIZE + 100);
    const first = FileEncryptor.create(key);
    const original = sealAll(first, plaintext, 2);
    const again = sealAll(FileEncryptor.fromHeader(key, first.header), plaintext, 2);
    expect(again.digests).toEqual(original.digests);
    expect(new Set(original.digests.map((d) => d.toString('hex'))).size).toBe(original.digests.length);

    const changed = Buffer.from(plaintext);
    changed[3 * CHUNK_SIZE + 7]! ^= 1; // in part 1 (chunks 2 and 3)
    const resealed = sealAll(FileEncryptor.fromHeader(key, first.header), changed, 2);
    expect(resealed.digests[0]).toEqual(original.digests[0]);
    expect(resealed.digests[1]).not.toEqual(original.digests[1]);
    expect(resealed.digests[2]).toEqual(original.digests[2]);
  });

  it('depends on the upload: the same plaintext under a new salt has other digests', () => {
    const plaintext = randomBytes(3 * CHUNK_SIZE);
    const one = sealAll(FileEncryptor.create(key), plaintext, 4);
    const other = sealAll(FileEncryptor.create(key), plaintext, 4);
    expect(other.digests[0]).not.toEqual(one.digests[0]);
  });
});

describe('sealChunks', () => {
  it.each([1, 2, 3])('sealing a part %i chunks at a time gives the bytes sealPart gives', (sliceChunks) => {
    const plaintext = randomBytes(7 * CHUNK_SIZE + 123);
    const layout = new PartLayout(plaintext.length, 5, V1_LAYOUT);
    const encryptor = FileEncryptor.create(key);
    for (let index = 0; index < layout.partCount; index++) {
      const part = layout.part(index);
      const partPlain = plaintext.subarray(part.plainOffset, part.plainOffset + part.plainLength);
      const whole = Buffer.alloc(HEADER_SIZE + part.chunksLength);
      const wholeLength = sealPart(encryptor, layout, part, partPlain, whole);
      const sliced = Buffer.alloc(HEADER_SIZE + part.chunksLength);
      let at = sealStart(encryptor, part, sliced);
      for (let first = 0; first < part.chunkCount; first += sliceChunks) {
        at = sealChunks(encryptor, layout, part.firstChunk + first, partPlain.subarray(first * CHUNK_SIZE, (first + sliceChunks) * CHUNK_SIZE), sliced, at);
      }
      expect(at).toBe(wholeLength);
      expect(sliced.subarray(0, at).equals(whole.subarray(0, wholeLength))).toBe(true);
    }
  });
});
