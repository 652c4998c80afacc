/**
 * Format v2 (age) as other tools see it, through the service:
 *
 * - raw-store interop: an object the service stored, read raw (from the
 *   local store's directory, and from s3rver with a plain GetObject), opens
 *   byte-exact with Debian's `age -d -i` and with the age-encryption package,
 *   for the uploader's identity and for an extra recipient named by its card;
 *   a hybrid (post-quantum) object with age-encryption (Debian's age 1.1.1
 *   does not know the hybrid type);
 * - a plain `age -r RECIPIENT` file put in the store is refused by default
 *   (AUTHOR_MISSING: the planted-file case) and downloads byte-exact only with
 *   acceptUnauthored;
 * - migration: a store holding v1 objects written with a v1 key file through
 *   the v1 code path keeps working after the upgrade: they list with their
 *   sizes beside age objects, getFileInfo tells the formats apart, they
 *   download with the v1 key file;
 * - getIdentity gives the card createKey gave, never the secret.
 */
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { Decrypter } from 'age-encryption';
import { createKeyFile, encryptBuffer } from '../../src/crypto/index.js';
import { LocalStorage } from '../../src/storage/local/local-storage.js';
import { encodeObjectPath } from '../../src/storage/local/name-encoding.js';
import type { Storage } from '../../src/storage/storage.js';
import { makeTempDir, openClient, RpcCallError, type TestClient, type TestServer } from '../helpers/server.js';
import { createTestS3Storage, S3RVER_CREDENTIALS, startS3rver, TEST_BUCKET, type RunningS3rver } from '../helpers/s3rver.js';
import { startTestService } from '../helpers/service.js';

const AGE = '/usr/bin/age';
const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

interface Backend {
  readonly name: string;
  make(dir: string): Promise<{ storage: Storage; readRaw(name: string): Promise<Buffer> }>;
}

let s3: RunningS3rver | undefined;
const backends: Backend[] = [
  {
    name: 'local',
    make: async (dir) => {
      const root = path.join(dir, 'store');
      // The file the local store keeps for an object, read with no cloudlocker code in between.
      return { storage: new LocalStorage({ directory: root }), readRaw: (name) => readFile(path.join(root, ...encodeObjectPath(name))) };
    },
  },
  {
    name: 's3 (s3rver)',
    make: async () => {
      s3 ??= await startS3rver();
      const prefix = `interop-${Date.now()}-${Math.random().toString(36).slice(2)}/`;
      const client = new S3Client({ endpoint: s3.endpoint, region: 'us-east-1', forcePathStyle: true, credentials: S3RVER_CREDENTIALS });
      return {
        storage: createTestS3Storage(s3.endpoint, { prefix }),
        readRaw: async (name) => {
          const object = await client.send(new GetObjectCommand({ Bucket: TEST_BUCKET, Key: prefix + name }));
          return Buffer.from(await object.Body!.transformToByteArray());
        },
      };
    },
  },
];

afterAll(async () => {
  await s3?.stop();
});

describe.each(backends)('age files through the service ($name)', (backend) => {
  let dir: string;
  let server: TestServer;
  let client: TestClient;
  let storage: Storage;
  let readRaw: (name: string) => Promise<Buffer>;

  let v1KeyPath: string;
  let v1KeyId: string;
  let old: Buffer;

  beforeAll(async () => {
    dir = await makeTempDir('cloudlocker-age-interop-');
    ({ storage, readRaw } = await backend.make(dir));
    // Before the upgrade: a v1 object written through the v1 code path with a v1 key file, straight into the store.
    v1KeyPath = path.join(dir, 'old.key.json');
    const { key } = await createKeyFile(v1KeyPath);
    v1KeyId = key.keyId;
    old = randomBytes(3 * 65536 + 7);
    const oldObject = encryptBuffer(key, old);
    await storage.init();
    const writer = await storage.beginWrite('old/report.bin', { expectedSize: oldObject.length });
    await writer.writePart(0, 0, oldObject);
    await writer.complete({ overwrite: false });
    // The upgrade: today's service on that store.
    server = await startTestService({ storageBackend: storage });
    client = await openClient(server);
  });

  afterAll(async () => {
    await client?.close();
    await server?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  async function rpcError(promise: Promise<unknown>): Promise<{ code: number; reason: unknown }> {
    try {
      await promise;
    } catch (err) {
      if (err instanceof RpcCallError) return { code: err.error.code, reason: err.error.data?.reason };
      throw err;
    }
    throw new Error('expected the call to fail');
  }

  it('migration: v1 objects of a store made before the upgrade list, describe and download beside new age objects', async () => {
    // And one through today's service with that v1 key file: it still writes v1.
    const oldToo = path.join(dir, 'old-too.bin');
    await writeFile(oldToo, 'v1 still');
    await client.request('upload', { path: oldToo, keyPath: v1KeyPath, name: 'old/too.txt' });
    const newPlain = path.join(dir, 'new.bin');
    await writeFile(newPlain, randomBytes(70_000));
    await client.request('upload', { path: newPlain, keyPath: path.join(dir, 'new.key.txt'), name: 'new/file.bin' });

    const listing = await client.request('listFiles', { prefix: '' });
    expect(listing.files.map((f) => [f.name, f.size])).toEqual([
      ['new/file.bin', 70_000],
      ['old/report.bin', old.length],
      ['old/too.txt', 8],
    ]);
    expect(await client.request('getFileInfo', { name: 'old/report.bin' })).toMatchObject({ format: 'v1', formatVersion: 1, keyId: v1KeyId });
    expect(await client.request('getFileInfo', { name: 'old/too.txt' })).toMatchObject({ format: 'v1', keyId: v1KeyId });
    const fresh = await client.request('getFileInfo', { name: 'new/file.bin' });
    expect(fresh).toMatchObject({ format: 'age', formatVersion: 2, stanzaCount: 2 });
    expect(fresh.authorCardId).toBe(fresh.keyId);

    const out = path.join(dir, 'old.out');
    await client.request('download', { name: 'old/report.bin', keyPath: v1KeyPath, destination: out });
    expect(sha256(await readFile(out))).toBe(sha256(old));
    await client.request('download', { name: 'old/too.txt', keyPath: v1KeyPath, destination: path.join(dir, 'too.out') });
    expect(await readFile(path.join(dir, 'too.out'), 'utf8')).toBe('v1 still');
  }, 60_000);

  it("an object the service stored opens byte-exact with Debian's age -d -i and with age-encryption, for the uploader and an extra recipient", async () => {
    const mine = await client.request('createKey', { path: path.join(dir, 'me.key.txt') });
    const friend = await client.request('createKey', { path: path.join(dir, 'friend.key.txt') });
    expect(mine).toMatchObject({ format: 'age', type: 'X25519' });
    const identity = await client.request('getIdentity', { keyPath: mine.path });
    expect(identity).toEqual({ keyPath: mine.path, type: 'X25519', recipient: mine.recipient, card: mine.card, cardId: mine.keyId });
    expect(JSON.stringify(identity)).not.toMatch(/AGE-SECRET-KEY/);

    for (const size of [0, 65536, 3 * 65536 + 3]) {
      const plain = randomBytes(size);
      const source = path.join(dir, `interop-${size}.bin`);
      await writeFile(source, plain);
      const name = `interop/${size}.bin`;
      await client.request('upload', { path: source, keyPath: mine.path, name, recipients: [friend.card!] });
      const raw = await readRaw(name);
      const rawFile = path.join(dir, `raw-${size}.age`);
      await writeFile(rawFile, raw);
      for (const keyFile of [mine.path, friend.path]) {
        const opened = execFileSync(AGE, ['-d', '-i', keyFile, rawFile], { maxBuffer: 16 << 20 });
        expect(sha256(opened)).toBe(sha256(plain));
        const decrypter = new Decrypter();
        decrypter.addIdentity((await readFile(keyFile, 'utf8')).split('\n').find((line) => line.startsWith('AGE-SECRET-KEY-1'))!);
        expect(sha256(await decrypter.decrypt(raw))).toBe(sha256(plain));
      }
    }
  }, 60_000);

  it('a hybrid (post-quantum) object opens with age-encryption; classical recipients are refused for it, naming the index', async () => {
    const pq = await client.request('createKey', { path: path.join(dir, 'pq.key.txt'), type: 'mlkem768x25519' });
    const classical = await client.request('createKey', { path: path.join(dir, 'classical.key.txt') });
    expect(pq.recipient!.startsWith('age1pq1')).toBe(true);
    const plain = randomBytes(100_000);
    const source = path.join(dir, 'pq.bin');
    await writeFile(source, plain);
    const refused = await rpcError(
      client.request('upload', { path: source, keyPath: pq.path, name: 'pq/mixed.bin', recipients: [pq.card!, classical.recipient!] }),
    );
    expect(refused).toMatchObject({ code: -32602 });
    const garbage = await rpcError(client.request('upload', { path: source, keyPath: pq.path, name: 'pq/bad.bin', recipients: ['age1nope'] }));
    expect(garbage).toMatchObject({ code: -32602 });
    expect((await client.request('listFiles', { prefix: 'pq/' })).files).toEqual([]);

    await client.request('upload', { path: source, keyPath: pq.path, name: 'pq/file.bin' });
    const raw = await readRaw('pq/file.bin');
    const decrypter = new Decrypter();
    decrypter.addIdentity((await readFile(pq.path, 'utf8')).split('\n').find((line) => line.startsWith('AGE-SECRET-KEY-PQ-1'))!);
    expect(sha256(await decrypter.decrypt(raw))).toBe(sha256(plain));
    const out = path.join(dir, 'pq.out');
    await client.request('download', { name: 'pq/file.bin', keyPath: pq.path, destination: out });
    expect(sha256(await readFile(out))).toBe(sha256(plain));
  }, 60_000);

  it('a plain age -r file put in the store is refused (AUTHOR_MISSING) unless the download accepts unauthored files', async () => {
    const me = await client.request('createKey', { path: path.join(dir, 'planted-me.key.txt') });
    const plain = randomBytes(2 * 65536 + 11);
    const source = path.join(dir, 'planted.plain');
    await writeFile(source, plain);
    const planted = execFileSync(AGE, ['-r', me.recipient!, source], { maxBuffer: 16 << 20 });
    const writer = await storage.beginWrite('planted.bin', { expectedSize: planted.length });
    await writer.writePart(0, 0, planted);
    await writer.complete({ overwrite: true });

    expect(await client.request('getFileInfo', { name: 'planted.bin' })).toMatchObject({ format: 'age', stanzaCount: 1, size: plain.length });
    expect((await client.request('getFileInfo', { name: 'planted.bin' })).authorCardId).toBeUndefined();
    const out = path.join(dir, 'planted.out');
    expect(await rpcError(client.request('download', { name: 'planted.bin', keyPath: me.path, destination: out }))).toEqual({
      code: -32013,
      reason: 'AUTHOR_MISSING',
    });
    await expect(readFile(out)).rejects.toMatchObject({ code: 'ENOENT' });
    await client.request('download', { name: 'planted.bin', keyPath: me.path, destination: out, acceptUnauthored: true });
    expect(sha256(await readFile(out))).toBe(sha256(plain));
  }, 60_000);
});
