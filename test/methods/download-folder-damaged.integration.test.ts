/**
 * downloadFolder of small files on the local store reads each object whole,
 * header and body in one read (TransferEngine.download with the listed
 * size). The store is not trusted: an object damaged on disk (a flipped
 * byte, cut short, bytes appended) fails alone with INTEGRITY, nothing of it
 * is written (no file, no temporary), and the sound files are saved.
 * The group makes each folder of the destination once for all its files;
 * a folder removed behind its back is made again for the next file.
 */
import { createHash, randomBytes } from 'node:crypto';
import { appendFile, mkdir, readdir, readFile, rm, truncate, writeFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { LocalStorage } from '../../src/storage/local/local-storage.js';
import { encodeObjectPath } from '../../src/storage/local/name-encoding.js';
import { makeTempDir, openClient, type TestClient, type TestServer } from '../helpers/server.js';
import { startTestService } from '../helpers/service.js';

const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

let dir: string;
let server: TestServer | undefined;
let client: TestClient | undefined;

beforeEach(async () => {
  dir = await makeTempDir('cloudlocker-damaged-');
});

afterEach(async () => {
  await client?.close();
  await server?.stop();
  server = undefined;
  client = undefined;
  await rm(dir, { recursive: true, force: true });
});

it('fails each damaged small file alone with INTEGRITY, writes nothing of it, and saves the sound ones', async () => {
  const store = path.join(dir, 'store');
  server = await startTestService({ storageBackend: new LocalStorage({ directory: store }) });
  client = await openClient(server);
  const keyPath = path.join(dir, 'k.key.json');
  const root = path.join(dir, 'tree');
  await mkdir(root);
  const sources = new Map<string, Buffer>();
  for (const name of ['flipped.bin', 'short.bin', 'longer.bin', 'sound-1.bin', 'sound-2.bin']) {
    const bytes = randomBytes(3000);
    sources.set(name, bytes);
    await writeFile(path.join(root, name), bytes);
  }
  const uploaded = (await client.request('uploadFolder', { path: root, keyPath, name: 'tree' })) as { filesStored: number };
  expect(uploaded.filesStored).toBe(5);

  const objectFile = (name: string) => path.join(store, ...encodeObjectPath(`tree/${name}`));
  // A byte of the body flipped, the last byte cut off, and bytes appended.
  const flipped = objectFile('flipped.bin');
  const bytes = await readFile(flipped);
  bytes[bytes.length - 40] ^= 0x01;
  await writeFile(flipped, bytes);
  const short = objectFile('short.bin');
  await truncate(short, (await stat(short)).size - 1);
  await appendFile(objectFile('longer.bin'), randomBytes(100));

  const out = path.join(dir, 'out');
  const result = (await client.request('downloadFolder', { name: 'tree', keyPath, destination: out, createDirectories: true })) as {
    filesSaved: number;
    failed: Array<{ path: string; error: { data?: { reason?: string } } }>;
  };
  expect(result.filesSaved).toBe(2);
  expect(result.failed.map((entry) => entry.path).sort()).toEqual(['flipped.bin', 'longer.bin', 'short.bin']);
  for (const entry of result.failed) expect(entry.error.data?.reason).toBe('INTEGRITY');
  // Nothing of the damaged files, not even a temporary; the sound ones byte-exact.
  expect((await readdir(path.join(out, 'tree'))).sort()).toEqual(['sound-1.bin', 'sound-2.bin']);
  for (const name of ['sound-1.bin', 'sound-2.bin']) {
    expect(sha256(await readFile(path.join(out, 'tree', name)))).toBe(sha256(sources.get(name)!));
  }
}, 30_000);

it('makes a folder of the destination again when it is removed behind the group\'s back, and saves its file', async () => {
  const store = path.join(dir, 'store');
  const out = path.join(dir, 'out');
  const local = new LocalStorage({ directory: store });
  let removed = false;
  // The whole read of the one file of sub/ (TransferEngine.download reads a small object at once) comes right
  // after its group made sub/ for it and before the file's temporary is created there: sub/ goes then.
  const storage = new Proxy(local, {
    get(target, property, receiver) {
      if (property === 'readRange') {
        return async (name: string, offset: number, length: number, signal?: AbortSignal) => {
          if (name === 'tree/sub/only.bin' && offset === 0 && length > 64 * 1024 && !removed) {
            removed = true;
            await rm(path.join(out, 'tree', 'sub'), { recursive: true, force: true });
          }
          return target.readRange(name, offset, length, signal);
        };
      }
      const value: unknown = Reflect.get(target, property, receiver);
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  });
  server = await startTestService({ storageBackend: storage });
  client = await openClient(server);
  const keyPath = path.join(dir, 'k.key.json');
  const root = path.join(dir, 'tree');
  await mkdir(path.join(root, 'sub'), { recursive: true });
  const sources = new Map<string, Buffer>([
    ['top.bin', randomBytes(2000)],
    [path.join('sub', 'only.bin'), randomBytes(2500)],
  ]);
  for (const [relative, bytes] of sources) await writeFile(path.join(root, relative), bytes);
  expect(((await client.request('uploadFolder', { path: root, keyPath, name: 'tree' })) as { filesStored: number }).filesStored).toBe(2);

  const result = (await client.request('downloadFolder', { name: 'tree', keyPath, destination: out, createDirectories: true })) as {
    filesSaved: number;
    failed: unknown[];
  };
  expect(removed).toBe(true);
  expect(result.failed).toEqual([]);
  expect(result.filesSaved).toBe(2);
  for (const [relative, bytes] of sources) expect(sha256(await readFile(path.join(out, 'tree', relative)))).toBe(sha256(bytes));
}, 30_000);
