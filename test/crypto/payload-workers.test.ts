/**
 * Age payload chunks sealed and opened on a worker thread
 * (src/crypto/payload-workers.ts, sealChunksOn / openChunksOn in
 * src/crypto/age/payload.ts): byte for byte what the JavaScript thread's
 * encryptChunk / decryptChunk make, the same refusals (a tampered chunk, a
 * final flag that does not match, a chunk sealed twice with other content),
 * nothing of a failed chunk written, a thread that dies fails its jobs and
 * the next job gets a new one, an idle thread stops.
 */
import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, test } from '@jest/globals';
import { AgeError } from '../../src/crypto/age/errors.js';
import { AGE_CHUNK_SIZE, AGE_STORED_CHUNK_SIZE, AGE_TAG_SIZE, AgePayloadOpener, AgePayloadSealer } from '../../src/crypto/age/payload.js';
import { PayloadWorkers } from '../../src/crypto/payload-workers.js';
import { isCloudlockerError } from '../../src/errors.js';

const fileKey = randomBytes(16);
const payloadNonce = randomBytes(16);

function shared(size: number): Buffer {
  return Buffer.from(new SharedArrayBuffer(size));
}

/** `plain` sealed chunk by chunk on the JavaScript thread, from chunk `firstChunk`; `finalChunk` the object's last. */
function sealedHere(plain: Uint8Array, firstChunk: number, finalChunk: number): Buffer {
  const sealer = new AgePayloadSealer(fileKey, payloadNonce);
  const pieces: Buffer[] = [];
  for (let at = 0, index = firstChunk; at < plain.length; at += AGE_CHUNK_SIZE, index++) {
    pieces.push(Buffer.from(sealer.encryptChunk(index, plain.subarray(at, at + AGE_CHUNK_SIZE), index === finalChunk)));
  }
  return Buffer.concat(pieces);
}

let workers: PayloadWorkers | undefined;
afterEach(async () => {
  await workers?.close();
  workers = undefined;
});

describe('sealChunksOn', () => {
  test.each([
    ['full chunks, not the last ones', 4 * AGE_CHUNK_SIZE, 3, 20],
    ['a run ending with the short final chunk', 3 * AGE_CHUNK_SIZE + 1234, 7, 10],
    ['a run of one final full chunk', AGE_CHUNK_SIZE, 0, 0],
    ['a run of one short final chunk', 17, 5, 5],
  ])('%s: the same bytes as encryptChunk, at the offset asked for', async (_case, size, firstChunk, finalChunk) => {
    workers = new PayloadWorkers(1);
    const plain = shared(size);
    plain.set(randomBytes(size));
    const expected = sealedHere(plain, firstChunk, finalChunk);
    const out = shared(expected.length + 100).fill(0xee);
    const written = await new AgePayloadSealer(fileKey, payloadNonce).sealChunksOn(workers, firstChunk, plain, finalChunk, out, 40);
    expect(written).toBe(expected.length);
    expect(out.subarray(40, 40 + expected.length).equals(expected)).toBe(true);
    // Nothing outside the run's bytes.
    expect(out.subarray(0, 40).every((byte) => byte === 0xee)).toBe(true);
    expect(out.subarray(40 + expected.length).every((byte) => byte === 0xee)).toBe(true);
    expect(workers.jobsPosted).toBe(1);
  });

  test('buffers not in shared memory, or a run that is impossible, are left to the JavaScript thread (undefined)', () => {
    workers = new PayloadWorkers(1);
    const sealer = new AgePayloadSealer(fileKey, payloadNonce);
    const plain = shared(2 * AGE_CHUNK_SIZE);
    const out = shared(2 * AGE_STORED_CHUNK_SIZE);
    expect(sealer.sealChunksOn(workers, 0, Buffer.alloc(2 * AGE_CHUNK_SIZE), 5, out)).toBeUndefined();
    expect(sealer.sealChunksOn(workers, 0, plain, 5, Buffer.alloc(2 * AGE_STORED_CHUNK_SIZE))).toBeUndefined();
    // A short chunk that is not the final one; a run past the final chunk; the empty chunk.
    expect(sealer.sealChunksOn(workers, 0, plain.subarray(0, AGE_CHUNK_SIZE + 1), 5, out)).toBeUndefined();
    expect(sealer.sealChunksOn(workers, 4, plain, 4, out)).toBeUndefined();
    expect(sealer.sealChunksOn(workers, 0, plain.subarray(0, 0), 0, out)).toBeUndefined();
    expect(workers.jobsPosted).toBe(0);
  });

  test('a chunk sealed again with other content is refused as SOURCE_CHANGED and the whole run is zeroed', async () => {
    workers = new PayloadWorkers(1);
    const sealer = new AgePayloadSealer(fileKey, payloadNonce);
    const plain = shared(4 * AGE_CHUNK_SIZE);
    plain.set(randomBytes(plain.length));
    const out = shared(4 * AGE_STORED_CHUNK_SIZE);
    await sealer.sealChunksOn(workers, 0, plain, 9, out);
    // The same content again (a retry that re-read the source) is allowed.
    const again = shared(out.length);
    await sealer.sealChunksOn(workers, 0, plain, 9, again);
    expect(again.equals(out)).toBe(true);
    plain[2 * AGE_CHUNK_SIZE + 5] ^= 1;
    const changed = shared(out.length);
    const refusal = await sealer.sealChunksOn(workers, 0, plain, 9, changed)!.catch((err: unknown) => err);
    expect(isCloudlockerError(refusal, 'SOURCE_CHANGED')).toBe(true);
    expect((refusal as { details?: unknown }).details).toEqual({ chunkIndex: 2 });
    expect(changed.every((byte) => byte === 0)).toBe(true);
  });
});

describe('openChunksOn', () => {
  async function sealedRun(size: number, firstChunk: number, finalChunk: number): Promise<{ plain: Buffer; stored: Buffer }> {
    const plain = randomBytes(size);
    const stored = shared(size + Math.ceil(size / AGE_CHUNK_SIZE) * AGE_TAG_SIZE);
    stored.set(sealedHere(plain, firstChunk, finalChunk));
    return { plain, stored };
  }

  test.each([
    ['full chunks', 5 * AGE_CHUNK_SIZE, 2, 30],
    ['ending with the short final chunk', 2 * AGE_CHUNK_SIZE + 99, 8, 10],
    ['one byte in the final chunk', 1, 3, 3],
  ])('%s: the plaintext back, at the offset asked for', async (_case, size, firstChunk, finalChunk) => {
    workers = new PayloadWorkers(1);
    const { plain, stored } = await sealedRun(size, firstChunk, finalChunk);
    const out = shared(size + 8);
    const written = await new AgePayloadOpener(fileKey, payloadNonce).openChunksOn(workers, firstChunk, stored, finalChunk, out, 8);
    expect(written).toBe(size);
    expect(out.subarray(8, 8 + size).equals(plain)).toBe(true);
  });

  test('a tampered chunk is PAYLOAD_INVALID with its index; the chunks before it are opened, nothing of it or after it is written', async () => {
    workers = new PayloadWorkers(1);
    const { plain, stored } = await sealedRun(4 * AGE_CHUNK_SIZE, 0, 3);
    stored[2 * AGE_STORED_CHUNK_SIZE + 100] ^= 0x01;
    const out = shared(4 * AGE_CHUNK_SIZE).fill(0xaa);
    const refusal = await new AgePayloadOpener(fileKey, payloadNonce).openChunksOn(workers, 0, stored, 3, out)!.catch((err: unknown) => err);
    expect(refusal).toBeInstanceOf(AgeError);
    expect((refusal as AgeError).message).toMatch(/chunk 2 failed authentication/);
    expect((refusal as AgeError).details).toMatchObject({ chunkIndex: 2 });
    expect(out.subarray(0, 2 * AGE_CHUNK_SIZE).equals(plain.subarray(0, 2 * AGE_CHUNK_SIZE))).toBe(true);
    expect(out.subarray(2 * AGE_CHUNK_SIZE).every((byte) => byte === 0xaa)).toBe(true);
  });

  test('the final flag is checked: a run cut before its real end, or opened as if it went on, fails', async () => {
    workers = new PayloadWorkers(1);
    const opener = new AgePayloadOpener(fileKey, payloadNonce);
    // Sealed with chunk 2 final; read as if the object went on to chunk 5 (bytes cut off after it).
    const { stored } = await sealedRun(3 * AGE_CHUNK_SIZE, 0, 2);
    const asIfLonger = await opener.openChunksOn(workers, 0, stored, 5, shared(stored.length))!.catch((err: unknown) => err);
    expect((asIfLonger as AgeError).message).toMatch(/chunk 2 failed authentication$/);
    // Sealed with chunk 5 final; only chunks 0..2 kept and read as if chunk 2 were the last one.
    const { stored: longer } = await sealedRun(6 * AGE_CHUNK_SIZE, 0, 5);
    const cut = longer.subarray(0, 3 * AGE_STORED_CHUNK_SIZE);
    const asIfCut = await opener.openChunksOn(workers, 0, cut, 2, shared(cut.length))!.catch((err: unknown) => err);
    expect((asIfCut as AgeError).message).toMatch(/chunk 2 failed authentication as the final chunk/);
  });

  test('a run whose length no chunks can make is refused before any thread sees it', async () => {
    workers = new PayloadWorkers(1);
    const opener = new AgePayloadOpener(fileKey, payloadNonce);
    const stored = shared(2 * AGE_STORED_CHUNK_SIZE);
    // A short chunk that is not the final one.
    const refusal = await opener.openChunksOn(workers, 0, stored.subarray(0, AGE_STORED_CHUNK_SIZE + 50), 9, shared(stored.length))!.catch((err: unknown) => err);
    expect(isCloudlockerError(refusal, 'INTEGRITY')).toBe(true);
    // A final chunk with a tag and no byte (only chunk 0 of an empty file may be that): left to decryptChunk.
    expect(opener.openChunksOn(workers, 0, stored.subarray(0, AGE_TAG_SIZE), 0, shared(16))).toBeUndefined();
    expect(workers.jobsPosted).toBe(0);
  });
});

describe('the threads', () => {
  test('a thread that dies fails its jobs; the next job starts a new thread', async () => {
    workers = new PayloadWorkers(1);
    const opener = new AgePayloadOpener(fileKey, payloadNonce);
    const plain = randomBytes(8 * AGE_CHUNK_SIZE);
    const stored = shared(8 * AGE_STORED_CHUNK_SIZE);
    stored.set(sealedHere(plain, 0, 7));
    const out = shared(plain.length);
    await opener.openChunksOn(workers, 0, stored, 7, out);
    expect(workers.threadsStarted).toBe(1);
    // Kill the thread while it has a job.
    const job = opener.openChunksOn(workers, 0, stored, 7, out)!;
    const internals = workers as unknown as { threads: Array<{ worker: { terminate(): Promise<number> } }> };
    await internals.threads[0]!.worker.terminate();
    await expect(job).rejects.toThrow(/payload worker exited/);
    out.fill(0);
    await expect(opener.openChunksOn(workers, 0, stored, 7, out)).resolves.toBe(plain.length);
    expect(out.equals(plain)).toBe(true);
    expect(workers.threadsStarted).toBe(2);
  });

  test('jobs spread over the threads asked for, and an idle thread stops', async () => {
    workers = new PayloadWorkers(2, 200);
    const sealer = new AgePayloadSealer(fileKey, payloadNonce);
    const plain = shared(4 * AGE_CHUNK_SIZE);
    const runs = [0, 4, 8, 12].map((first) => sealer.sealChunksOn(workers!, first, plain, 100, shared(4 * AGE_STORED_CHUNK_SIZE))!);
    await Promise.all(runs);
    expect(workers.threadsStarted).toBe(2);
    expect(workers.running).toBe(2);
    const stopped = Date.now();
    while (workers.running > 0 && Date.now() - stopped < 5000) await new Promise((resolve) => setTimeout(resolve, 50));
    expect(workers.running).toBe(0);
  });

  test('closed workers refuse new jobs', async () => {
    workers = new PayloadWorkers(1);
    await workers.close();
    const plain = shared(4 * AGE_CHUNK_SIZE);
    await expect(new AgePayloadSealer(fileKey, payloadNonce).sealChunksOn(workers, 0, plain, 9, shared(4 * AGE_STORED_CHUNK_SIZE))).rejects.toThrow(/closed/);
  });
});
