/**
 * A download part decrypted as its bytes arrive: whatever the sizes of the
 * pieces the store sends, the file gets the plaintext at the part's offset;
 * a body too short, too long or altered is INTEGRITY, and nothing
 * unauthenticated reaches the file. The same with the stored bytes staged
 * in a shared buffer and opened on a payload worker thread (age).
 */
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { open, readFile, rm, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { CHUNK_SIZE, encryptBuffer, FileDecryptor, generateMasterKey, HEADER_SIZE, V1_LAYOUT, type ChunkOpener } from '../../src/crypto/index.js';
import { formatAge } from '../../src/crypto/age/age-format.js';
import { AGE_CHUNK_SIZE, AGE_STORED_CHUNK_SIZE, AgePayloadOpener, AgePayloadSealer } from '../../src/crypto/age/payload.js';
import { PayloadWorkers } from '../../src/crypto/payload-workers.js';
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

describe('downloadStreamedPart, staged and opened on a payload worker thread (age)', () => {
  const fileKey = randomBytes(16);
  const payloadNonce = randomBytes(16);
  /** 18 chunks: parts of 8 chunks give 3 parts, the last one of 2 chunks (too few to go to the thread). */
  const agePlaintext = randomBytes(17 * AGE_CHUNK_SIZE + 777);
  const prefix = randomBytes(40);
  const chunkLayout = formatAge.layoutFor(prefix.length);
  const ageLayout = new PartLayout(agePlaintext.length, 8, chunkLayout);
  const ageStored = (() => {
    const sealer = new AgePayloadSealer(fileKey, payloadNonce);
    const pieces: Buffer[] = [prefix];
    for (let index = 0; index < ageLayout.chunkCount; index++) {
      const chunk = agePlaintext.subarray(index * AGE_CHUNK_SIZE, (index + 1) * AGE_CHUNK_SIZE);
      pieces.push(Buffer.from(sealer.encryptChunk(index, chunk, ageLayout.isFinalChunk(index))));
    }
    return Buffer.concat(pieces);
  })();
  const opener = new AgePayloadOpener(fileKey, payloadNonce);
  const decryptor: ChunkOpener = {
    layout: chunkLayout,
    decryptChunk: (index, chunk, isFinal, out, outOffset) => opener.decryptChunk(index, chunk, isFinal, out, outOffset),
    openChunksOn: (pool, firstChunk, chunks, finalChunk, out, outOffset) => opener.openChunksOn(pool, firstChunk, chunks, finalChunk, out, outOffset),
  };
  let dir: string;
  let file: FileHandle;
  let filePath: string;
  let workers: PayloadWorkers;

  beforeEach(async () => {
    dir = await makeTempDir('cloudlocker-staged-part-');
    filePath = path.join(dir, 'out.bin');
    file = await open(filePath, 'w+');
    workers = new PayloadWorkers(1);
  });
  afterEach(async () => {
    await workers.close();
    await file.close().catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  });

  /** Batches of 4 chunks: two per full part, so a part writes more than once. */
  const run = (partIndex: number, body: AsyncIterable<Uint8Array>, written: number[] = []) =>
    downloadStreamedPart({
      body,
      part: ageLayout.part(partIndex),
      layout: ageLayout,
      decryptor,
      file,
      batch: Buffer.from(new SharedArrayBuffer(4 * AGE_CHUNK_SIZE)),
      signal: new AbortController().signal,
      onWritten: (bytes) => written.push(bytes),
      staged: { workers, storedBatch: Buffer.from(new SharedArrayBuffer(4 * AGE_STORED_CHUNK_SIZE)) },
    });
  const storedPart = (partIndex: number) => {
    const part = ageLayout.part(partIndex);
    return ageStored.subarray(part.chunksOffset, part.chunksOffset + part.chunksLength);
  };

  it.each([
    ['whole parts in one piece', [1 << 30]],
    ['pieces splitting chunks at odd places', [1, 4095, 65_553, 70_000]],
  ])('writes every part at its offset from %s, the full batches opened on the thread', async (_, sizes) => {
    const written: number[] = [];
    for (let index = 0; index < ageLayout.partCount; index++) await run(index, inPieces(storedPart(index), sizes), written);
    await file.close();
    expect((await readFile(filePath)).equals(agePlaintext)).toBe(true);
    // Parts 0 and 1: two batches each, opened on the thread; part 2 (a chunk and 777 bytes) is one batch, too short for the thread.
    expect(written).toEqual([4, 4, 4, 4].map((chunks) => chunks * AGE_CHUNK_SIZE).concat([AGE_CHUNK_SIZE + 777]));
    expect(workers.jobsPosted).toBe(4);
  });

  it('is INTEGRITY when a byte changed, and nothing of the bad batch is written; when the body ends early or carries more', async () => {
    const altered = Buffer.from(storedPart(0));
    altered[5 * AGE_STORED_CHUNK_SIZE + 100] ^= 1; // chunk 5, in the second batch
    await expect(run(0, inPieces(altered, [1 << 30]))).rejects.toMatchObject({ reason: 'INTEGRITY', details: { chunkIndex: 5 } });
    // Only the first batch of part 0 (chunks 0-3) may be in the file.
    const content = await readFile(filePath);
    expect(content.length).toBe(4 * AGE_CHUNK_SIZE);
    expect(content.equals(agePlaintext.subarray(0, content.length))).toBe(true);
    const short = storedPart(1).subarray(0, storedPart(1).length - 1);
    await expect(run(1, inPieces(short, [10_000]))).rejects.toMatchObject({ reason: 'INTEGRITY' });
    // Whole chunks missing at the end: every chunk that came authenticates, only the length can tell.
    const cutAtChunk = storedPart(1).subarray(0, storedPart(1).length - AGE_STORED_CHUNK_SIZE);
    await expect(run(1, inPieces(cutAtChunk, [1 << 30]))).rejects.toMatchObject({ reason: 'INTEGRITY' });
    const long = Buffer.concat([storedPart(2), Buffer.from([0])]);
    await expect(run(2, inPieces(long, [10_000]))).rejects.toMatchObject({ reason: 'INTEGRITY' });
  });
});
