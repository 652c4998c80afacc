/**
 * The transfer engine with a payload worker thread (payloadWorkers 1): an age
 * upload and download of several MiB go through the thread and round-trip
 * byte for byte, the stored object is what age itself reads; a tampered
 * chunk fails the download with INTEGRITY and leaves no file; with
 * payloadWorkers 0 nothing goes to a thread and the stored bytes are the
 * same format. v1 never uses the thread.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, open, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from '@jest/globals';
import { AgeIdentity, openAgeBuffer } from '../../src/crypto/age/index.js';
import { ageCredentials, ageEncryption } from '../../src/crypto/age/age-format.js';
import { createKeyFile, masterKeyCredentials, v1Encryption } from '../../src/crypto/index.js';
import type { PayloadWorkers } from '../../src/crypto/payload-workers.js';
import { LocalStorage } from '../../src/storage/index.js';
import { inspectSource } from '../../src/transfer/local-files.js';
import { TransferEngine } from '../../src/transfer/transfer-engine.js';
import { TransferRegistry } from '../../src/transfer/transfer-registry.js';
import { deterministicRandom } from '../../tools/vectors/deterministic.js';

const alice = AgeIdentity.generate('X25519', deterministicRandom('payload-workers-alice'));
const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

let cleanup: (() => Promise<void>) | undefined;
afterEach(async () => {
  await cleanup?.();
  cleanup = undefined;
});

/** `payloadWorkers` undefined: the engine's default. */
async function fixture(payloadWorkers: number | undefined) {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'cloudlocker-payload-engine-'));
  const storage = new LocalStorage({ directory: path.join(dir, 'store') });
  await storage.init();
  const engine = new TransferEngine({
    storage,
    registry: new TransferRegistry({ progressIntervalMs: 10 }),
    ...(payloadWorkers === undefined ? {} : { payloadWorkers }),
  });
  cleanup = async () => {
    await engine.close();
    await storage.close();
    await rm(dir, { recursive: true, force: true });
  };
  const workers = (engine as unknown as { payloadWorkers: PayloadWorkers | undefined }).payloadWorkers;
  return { dir, storage, engine, workers };
}

/** The local store's file of object `name` (the store encodes names into paths: found by its size among the store's files). */
async function storedFileOf(dir: string, name: string): Promise<string> {
  const store = path.join(dir, 'store');
  const files: string[] = [];
  for (const entry of await readdir(store, { withFileTypes: true, recursive: true })) {
    if (entry.isFile() && (await stat(path.join(entry.parentPath, entry.name))).size > 1024 * 1024) files.push(path.join(entry.parentPath, entry.name));
  }
  if (files.length !== 1) throw new Error(`expected one stored object for ${name}, found ${files.length}`);
  return files[0]!;
}

async function uploadAge(f: Awaited<ReturnType<typeof fixture>>, name: string, bytes: Buffer) {
  const source = path.join(f.dir, `${name}.src`);
  await writeFile(source, bytes);
  return f.engine.upload({ source: await inspectSource(source), name, overwrite: false, encryption: ageEncryption(alice, name), keyPath: 'k', keyCreated: false });
}

describe('TransferEngine with a payload worker thread', () => {
  it('round-trips a 5 MiB age file through the thread; age reads the stored object', async () => {
    const f = await fixture(1);
    const bytes = randomBytes(5 * 1024 * 1024 + 4321);
    await uploadAge(f, 'big.bin', bytes);
    const jobsAfterUpload = f.workers!.jobsPosted;
    // 5 parts of 1 MiB and a short one: every full part's plaintext is one job.
    expect(jobsAfterUpload).toBeGreaterThanOrEqual(5);
    const stored = await readFile(await storedFileOf(f.dir, 'big.bin'));
    expect(sha256(openAgeBuffer(stored, { identity: alice, name: 'big.bin' }))).toBe(sha256(bytes));
    const out = path.join(f.dir, 'out.bin');
    await f.engine.download({ name: 'big.bin', destination: out, overwrite: false, credentials: ageCredentials(alice, 'big.bin') });
    expect(sha256(await readFile(out))).toBe(sha256(bytes));
    expect(f.workers!.jobsPosted - jobsAfterUpload).toBeGreaterThanOrEqual(5);
  });

  it('a tampered chunk fails the download with INTEGRITY and leaves no file and no temporary', async () => {
    const f = await fixture(1);
    await uploadAge(f, 'tampered.bin', randomBytes(4 * 1024 * 1024));
    const storedPath = await storedFileOf(f.dir, 'tampered.bin');
    const handle = await open(storedPath, 'r+');
    const byte = Buffer.alloc(1);
    const position = 2 * 1024 * 1024 + 12_345;
    await handle.read(byte, 0, 1, position);
    byte[0] ^= 0x40;
    await handle.write(byte, 0, 1, position);
    await handle.close();
    const jobsBefore = f.workers!.jobsPosted;
    const downloads = path.join(f.dir, 'downloads');
    await expect(
      f.engine.download({ name: 'tampered.bin', destination: path.join(downloads, 'out.bin'), createDirectories: true, overwrite: false, credentials: ageCredentials(alice, 'tampered.bin') }),
    ).rejects.toMatchObject({ reason: 'INTEGRITY' });
    expect(f.workers!.jobsPosted).toBeGreaterThan(jobsBefore);
    expect(await readdir(downloads).catch(() => [])).toEqual([]);
  });

  it('by default (and with payloadWorkers 0) there is no thread, and the objects read the same', async () => {
    expect((await fixture(undefined)).workers).toBeUndefined();
    await cleanup?.();
    const f = await fixture(0);
    expect(f.workers).toBeUndefined();
    const bytes = randomBytes(3 * 1024 * 1024);
    await uploadAge(f, 'here.bin', bytes);
    const out = path.join(f.dir, 'out.bin');
    await f.engine.download({ name: 'here.bin', destination: out, overwrite: false, credentials: ageCredentials(alice, 'here.bin') });
    expect(sha256(await readFile(out))).toBe(sha256(bytes));
  });

  it('v1 stays on the JavaScript thread', async () => {
    const f = await fixture(1);
    const { key } = await createKeyFile(path.join(f.dir, 'k.key.json'));
    const bytes = randomBytes(3 * 1024 * 1024);
    const source = path.join(f.dir, 'v1.src');
    await writeFile(source, bytes);
    await f.engine.upload({ source: await inspectSource(source), name: 'v1.bin', overwrite: false, encryption: v1Encryption(key), keyPath: 'k', keyCreated: false });
    const out = path.join(f.dir, 'out.bin');
    await f.engine.download({ name: 'v1.bin', destination: out, overwrite: false, credentials: masterKeyCredentials(key) });
    expect(sha256(await readFile(out))).toBe(sha256(bytes));
    expect(f.workers!.jobsPosted).toBe(0);
  });
});
