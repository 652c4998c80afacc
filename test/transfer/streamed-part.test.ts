/**
 * A download part decrypted as its bytes arrive: whatever the sizes of the
 * pieces the store sends, the file gets the plaintext at the part's offset;
 * a body too short, too long or altered is INTEGRITY, and nothing
 * unauthenticated reaches the file.
 */
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { open, readFile, rm, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { CHUNK_SIZE, encryptBuffer, FileDecryptor, generateMasterKey, HEADER_SIZE, V1_LAYOUT } from '../../src/crypto/index.js';
import { PartLayout } from '../../src/transfer/part-layout.js';
import { downloadStreamedPart } from '../../src/transfer/streamed-part.js';
import { makeTempDir } from '../helpers/server.js';

const key = generateMasterKey();
/** 5 chunks and a bit: parts of 2 chunks give 3 parts, the last one short. */
const plaintext = randomBytes(4 * CHUNK_SIZE + 1000);
const stored = encryptBuffer(key, plaintext);
const layout = new PartLayout(plaintext.length, 2, V1_LAYOUT);

async function* inPieces(bytes: Uint8Array, sizes: readonly number[]): AsyncGenerator<Uint8Array> {
  let at = 0;
  for (let i = 0; at < bytes.length; i++) {
    const size = sizes[i % sizes.length] as number;
    yield bytes.subarray(at, at + size);
    at += size;
  }
}

describe('downloadStreamedPart', () => {
  let dir: string;
  let file: FileHandle;
  let filePath: string;

  beforeEach(async () => {
    dir = await makeTempDir('cloudlocker-streamed-part-');
    filePath = path.join(dir, 'out.bin');
    file = await open(filePath, 'w+');
  });
  afterEach(async () => {
    await file.close().catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  });

  const run = (partIndex: number, body: AsyncIterable<Uint8Array>, written: number[] = []) =>
    downloadStreamedPart({
      body,
      part: layout.part(partIndex),
      layout,
      decryptor: FileDecryptor.open(key, stored.subarray(0, HEADER_SIZE)),
      file,
      // One chunk per write: flushes happen mid-part too.
      batch: Buffer.alloc(CHUNK_SIZE),
      signal: new AbortController().signal,
      onWritten: (bytes) => written.push(bytes),
    });
  const storedPart = (partIndex: number) => {
    const part = layout.part(partIndex);
    return stored.subarray(part.chunksOffset, part.chunksOffset + part.chunksLength);
  };

  it.each([
    ['whole parts in one piece', [1 << 30]],
    ['pieces splitting chunks at odd places', [1, 4095, 65_553, 70_000]],
    ['one byte at a time for the first chunk, then large pieces', [...Array<number>(65_552).fill(1), 200_000]],
  ])('writes every part at its offset from %s', async (_, sizes) => {
    const written: number[] = [];
    for (let index = 0; index < layout.partCount; index++) await run(index, inPieces(storedPart(index), sizes), written);
    await file.close();
    expect((await readFile(filePath)).equals(plaintext)).toBe(true);
    expect(written.reduce((sum, bytes) => sum + bytes, 0)).toBe(plaintext.length);
  });

  it('is INTEGRITY when the body ends early, carries more, or a byte changed; the bad chunk is never written', async () => {
    const short = storedPart(1).subarray(0, storedPart(1).length - 1);
    await expect(run(1, inPieces(short, [10_000]))).rejects.toMatchObject({ reason: 'INTEGRITY' });
    const long = Buffer.concat([storedPart(2), Buffer.from([0])]);
    await expect(run(2, inPieces(long, [10_000]))).rejects.toMatchObject({ reason: 'INTEGRITY' });
    const altered = Buffer.from(storedPart(0));
    altered[CHUNK_SIZE + 100] ^= 1; // in the second chunk
    await expect(run(0, inPieces(altered, [1 << 30]))).rejects.toMatchObject({ reason: 'INTEGRITY' });
    await file.close();
    // Only the first chunk of part 0 authenticated, and only it may be in the file.
    const content = await readFile(filePath);
    expect(content.length).toBeLessThanOrEqual(CHUNK_SIZE);
    expect(content.equals(plaintext.subarray(0, content.length))).toBe(true);
  });
});
