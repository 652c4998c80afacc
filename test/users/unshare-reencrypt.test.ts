/**
 * unshareStoredFile's re-encryption at the storage level (issue 14): parts
 * of several chunks, two in flight with reused buffers, the first carrying
 * the new prefix. Every size that moves a boundary (empty, one byte, one
 * chunk exactly, one part exactly, a part and a byte, three parts and a
 * bit) round trips under a new file key that the former recipient cannot
 * open; a damaged, cut or lengthened object is refused, kept as it was, and
 * leaves no temporary behind.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, truncate, appendFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { AgeIdentity, authorKeyOf, openAgeBuffer, sealAgeBuffer } from '../../src/crypto/age/index.js';
import { AGE_CHUNK_SIZE, AGE_STORED_CHUNK_SIZE } from '../../src/crypto/age/payload.js';
import { LocalStorage, TEMP_FOLDER } from '../../src/storage/local/local-storage.js';
import { encodeObjectPath } from '../../src/storage/local/name-encoding.js';
import { unshareStoredFile } from '../../src/users/share.js';

const alice = AgeIdentity.generate();
const bob = AgeIdentity.generate();
const PART = 128 * AGE_CHUNK_SIZE;

let dir: string;
let storage: LocalStorage;

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'cloudlocker-unshare-'));
  storage = new LocalStorage({ directory: path.join(dir, 'store') });
  await storage.init();
});
afterAll(async () => {
  await storage.close?.();
  await rm(dir, { recursive: true, force: true });
});

async function store(name: string, plaintext: Buffer): Promise<Buffer> {
  const sealed = sealAgeBuffer(plaintext, { identity: alice, name, recipients: [bob.recipient] });
  const writer = await storage.beginWrite(name, {});
  await writer.writePart(0, 0, sealed);
  await writer.complete({ overwrite: true });
  return sealed;
}

const objectFile = (name: string): string => path.join(dir, 'store', ...encodeObjectPath(name));
const unshare = (name: string, onProgress?: (done: number, total: number) => void) =>
  unshareStoredFile({ storage, name, identity: alice, authors: [authorKeyOf(alice.card)], keep: [], ...(onProgress ? { onProgress } : {}) });
async function temporaries(): Promise<string[]> {
  return readdir(path.join(dir, 'store', TEMP_FOLDER));
}

describe('unshareStoredFile re-encrypts part by part', () => {
  const sizes: Array<[string, number]> = [
    ['empty', 0],
    ['one byte', 1],
    ['one chunk exactly', AGE_CHUNK_SIZE],
    ['one part exactly', PART],
    ['a part and a byte', PART + 1],
    ['three parts and a bit', 2 * PART + 3 * AGE_CHUNK_SIZE + 17],
  ];
  it.each(sizes)('%s (%d bytes): byte-exact for the author, closed to the former recipient, progress up to the stored size', async (label, size) => {
    const name = `sizes/${label.replace(/ /g, '-')}.bin`;
    const plaintext = randomBytes(size);
    const before = await store(name, plaintext);
    expect(openAgeBuffer(before, { identity: bob, name, authors: [authorKeyOf(alice.card)] }).equals(plaintext)).toBe(true);
    const progress: number[] = [];
    const info = await unshare(name, (done, total) => {
      expect(total).toBe(before.length);
      progress.push(done);
    });
    const after = await readFile(objectFile(name));
    expect(info.storedSize).toBe(after.length);
    expect(openAgeBuffer(after, { identity: alice, name }).equals(plaintext)).toBe(true);
    expect(() => openAgeBuffer(after, { identity: bob, name, authors: [authorKeyOf(alice.card)] })).toThrow(expect.objectContaining({ ageReason: 'NO_STANZA' }));
    expect(progress.at(-1)).toBe(before.length);
    expect([...progress].sort((a, b) => a - b)).toEqual(progress);
    expect(await temporaries()).toEqual([]);
  });

  const damages: Array<[string, (file: string, sealed: Buffer) => Promise<void>]> = [
    ['a flipped byte in the third part', async (file, sealed) => {
      const bytes = Buffer.from(sealed);
      bytes[sealed.length - AGE_STORED_CHUNK_SIZE - 100]! ^= 1;
      await writeFile(file, bytes);
    }],
    ['cut by ten bytes', async (file, sealed) => truncate(file, sealed.length - 10)],
    ['cut at a chunk boundary', async (file, sealed) => truncate(file, sealed.length - (sealed.length - 100) % AGE_STORED_CHUNK_SIZE)],
    ['a chunk appended', async (file) => appendFile(file, randomBytes(AGE_STORED_CHUNK_SIZE))],
  ];
  it.each(damages)('refuses an object with %s, keeps it as it was, leaves nothing behind', async (label, damage) => {
    const name = `damaged/${label.replace(/ /g, '-')}.bin`;
    const sealed = await store(name, randomBytes(2 * PART + 5 * AGE_CHUNK_SIZE + 3));
    await damage(objectFile(name), sealed);
    const damaged = await readFile(objectFile(name));
    // The storage layer's size and version come from the damaged file itself: only the payload checks can catch it.
    await expect(unshare(name)).rejects.toMatchObject({ ageReason: 'PAYLOAD_INVALID' });
    expect((await readFile(objectFile(name))).equals(damaged)).toBe(true);
    expect(await temporaries()).toEqual([]);
  });
});
