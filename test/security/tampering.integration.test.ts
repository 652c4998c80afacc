/**
 * Every failure mode of the format's vectors (test/vectors/format-v1.json:
 * flipped header, chunk and tag bytes, truncation at and inside chunks, the
 * final chunk dropped, trailing bytes, chunks dropped, duplicated, swapped,
 * spliced from another file, the wrong key...) applied to real objects that
 * the service stored, on both backends, then downloaded through the service:
 * always INTEGRITY (or KEY_MISMATCH where the vector says so), never a
 * plaintext byte at the destination, never a temporary left beside it.
 *
 * The mutations use absolute offsets that depend only on the format's
 * geometry, so they apply to any object of the vector's plaintext length.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { CHUNK_SIZE, HEADER_SIZE, STORED_CHUNK_SIZE } from '../../src/crypto/index.js';
import { LocalStorage } from '../../src/storage/local/local-storage.js';
import type { Storage } from '../../src/storage/storage.js';
import type { VectorFile } from '../../tools/vectors/build-vectors.js';
import { applyMutations } from '../../tools/vectors/mutations.js';
import { makeTempDir, openClient, RpcCallError, type TestClient, type TestServer } from '../helpers/server.js';
import { createTestS3Storage, startS3rver, type RunningS3rver } from '../helpers/s3rver.js';
import { startTestService } from '../helpers/service.js';

const vectors = JSON.parse(await readFile(new URL('../vectors/format-v1.json', import.meta.url), 'utf8')) as VectorFile;
const ORIGINAL = 'the file that was here before the download\n';

interface Backend {
  readonly name: string;
  make(dir: string): Promise<{ storage: Storage; teardown(): Promise<void> }>;
}

let s3: RunningS3rver | undefined;
const backends: Backend[] = [
  {
    name: 'local',
    make: async (dir) => ({ storage: new LocalStorage({ directory: path.join(dir, 'store') }), teardown: async () => undefined }),
  },
  {
    name: 's3 (s3rver)',
    make: async () => {
      s3 ??= await startS3rver();
      return { storage: createTestS3Storage(s3.endpoint, { prefix: `tamper-${Date.now()}-${Math.random().toString(36).slice(2)}` }), teardown: async () => undefined };
    },
  },
];

afterAll(async () => {
  await s3?.stop();
});

async function writeObject(storage: Storage, name: string, bytes: Buffer): Promise<void> {
  const writer = await storage.beginWrite(name, { expectedSize: bytes.length });
  if (bytes.length > 0) await writer.writePart(0, 0, bytes);
  await writer.complete({ overwrite: true });
}

async function readObject(storage: Storage, name: string): Promise<Buffer> {
  const { storedSize } = await storage.stat(name);
  return Buffer.from(await storage.readRange(name, 0, storedSize));
}

describe.each(backends)('tampered objects on the $name backend', (backend) => {
  let dir: string;
  let server: TestServer;
  let client: TestClient;
  let storage: Storage;
  let teardown: () => Promise<void>;
  const keys: Record<string, string> = {};
  /** The stored bytes of a genuine upload standing in for each known-answer vector. */
  const genuine = new Map<string, Buffer>();

  beforeAll(async () => {
    dir = await makeTempDir('cloudlocker-tamper-');
    ({ storage, teardown } = await backend.make(dir));
    server = await startTestService({ storageBackend: storage });
    client = await openClient(server);
    for (const keyName of Object.keys(vectors.keys)) {
      keys[keyName] = path.join(dir, `${keyName}.key.json`);
      // The v1 vectors' failures: v1 key files (format v2's tampering cases are in tampering-age).
      await client.request('createKey', { path: keys[keyName] as string, type: 'v1' });
    }
    const bases = new Set(vectors.failures.map((vector) => vector.base));
    for (const vector of vectors.failures) {
      for (const mutation of vector.mutations) if (mutation.op === 'overwrite-from') bases.add(mutation.vector);
    }
    for (const base of bases) {
      const known = vectors.knownAnswer.find((candidate) => candidate.name === base);
      if (known === undefined) throw new Error(`no known-answer vector ${base}`);
      const source = path.join(dir, `${base}.plain`);
      await writeFile(source, randomBytes(known.plaintext.length));
      await client.request('upload', { path: source, keyPath: keys[known.key] as string, name: `genuine/${base}` });
      const stored = await readObject(storage, `genuine/${base}`);
      expect(stored.length).toBe(known.stored.length);
      genuine.set(base, stored);
    }
  }, 60_000);

  afterAll(async () => {
    await client?.close();
    await server?.stop();
    await teardown?.();
    await rm(dir, { recursive: true, force: true });
  });

  it.each(vectors.failures.map((vector) => [vector.name, vector] as const))('%s', async (_name, vector) => {
    const damaged = applyMutations(genuine.get(vector.base) as Buffer, vector.mutations, (other) => genuine.get(other) as Buffer);
    expect(damaged.length).toBe(vector.stored.length);
    const name = `tampered/${vector.name}`;
    await writeObject(storage, name, damaged);

    const outDir = path.join(dir, 'out', vector.name);
    await expectRefusedDownload(name, keys[vector.decryptWith] as string, vector.expectedError, path.join(dir, 'out', vector.name));
  });

  it('fails a multi-part object damaged in its last part, after earlier parts were decrypted: nothing kept', async () => {
    const size = 3 * 1024 * 1024 + 5; // several engine parts
    const source = path.join(dir, 'multi.plain');
    await writeFile(source, randomBytes(size));
    await client.request('upload', { path: source, keyPath: keys['main'] as string, name: 'genuine/multi' });
    const stored = await readObject(storage, 'genuine/multi');
    const lastChunkStart = HEADER_SIZE + Math.floor(size / CHUNK_SIZE) * STORED_CHUNK_SIZE;
    stored[lastChunkStart + 2] = (stored[lastChunkStart + 2] as number) ^ 0x40;
    await writeObject(storage, 'tampered/multi', stored);
    await expectRefusedDownload('tampered/multi', keys['main'] as string, 'INTEGRITY', path.join(dir, 'out', 'multi'));
  });

  /**
   * Download `name` twice, into a folder and over an existing file (with
   * overwrite), and expect the refusal each time, with the folder holding
   * only the existing file, unchanged: no plaintext, no temporary.
   */
  async function expectRefusedDownload(name: string, keyPath: string, reason: 'INTEGRITY' | 'KEY_MISMATCH', outDir: string): Promise<void> {
    await rm(outDir, { recursive: true, force: true });
    await mkdir(outDir, { recursive: true });
    const existing = path.join(outDir, 'existing.bin');
    await writeFile(existing, ORIGINAL);
    for (const destination of [outDir, existing]) {
      let failure: RpcCallError | undefined;
      try {
        await client.request('download', { name, keyPath, destination, overwrite: true });
      } catch (err) {
        if (!(err instanceof RpcCallError)) throw err;
        failure = err;
      }
      expect(failure?.error).toMatchObject({ code: reason === 'INTEGRITY' ? -32005 : -32004, data: { reason } });
      expect(await readdir(outDir)).toEqual(['existing.bin']);
      expect(await readFile(existing, 'utf8')).toBe(ORIGINAL);
    }
  }

  it('still downloads the genuine objects intact (the control case)', async () => {
    for (const base of genuine.keys()) {
      const out = path.join(dir, `control-${base}`);
      await client.request('download', { name: `genuine/${base}`, keyPath: keys['main'] as string, destination: out });
      expect((await readFile(out)).equals(await readFile(path.join(dir, `${base}.plain`)))).toBe(true);
    }
  });
});
