/**
 * The local store's disk fills up: the store lives on a 1 MiB tmpfs (which
 * needs root on Linux, as CI runs; elsewhere these cases are
 * skipped, with a describe title that says why). An upload that does not fit fails NO_SPACE and leaves
 * nothing behind, what was stored before stays intact, and the server keeps
 * serving: once the failed upload's space is given back, a small one fits.
 * (The download side, a full destination disk, is in
 * test/methods/disk-errors.integration.test.ts.)
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { makeTempDir, openClient, RpcCallError, type TestClient, type TestServer } from '../helpers/server.js';
import { startTestService } from '../helpers/service.js';

const canMount = process.platform === 'linux' && process.getuid?.() === 0 && commandWorks('mount', ['--version']);

function commandWorks(command: string, args: string[]): boolean {
  try {
    execFileSync(command, args, { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** Registered everywhere; skipped, visibly and saying why, where tmpfs cannot be mounted. */
const describeWhenMountable = canMount ? describe : describe.skip;
const whyNot = canMount ? '' : ' [skipped: mounting a tmpfs needs root on Linux, as CI runs]';
// Jest does not print the titles of a file whose tests are all skipped: say it once.
if (!canMount) console.warn(`${path.basename(import.meta.url)}: all cases${whyNot}`);

describeWhenMountable(`the local store on a full disk (1 MiB tmpfs)${whyNot}`, () => {
  let dir: string;
  let store: string;
  let server: TestServer;
  let client: TestClient;
  let keyPath: string;

  beforeAll(async () => {
    dir = await makeTempDir('cloudlocker-store-full-');
    store = path.join(dir, 'store');
    await mkdir(store);
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', store]);
    server = await startTestService({ storeDir: store });
    client = await openClient(server);
    keyPath = path.join(dir, 'main.key.json'); // outside the full disk
    await client.request('createKey', { path: keyPath });
  });

  afterAll(async () => {
    await client?.close();
    await server?.stop();
    if (store !== undefined) execFileSync('umount', [store]);
    await rm(dir, { recursive: true, force: true });
  });

  async function reasonOf(promise: Promise<unknown>): Promise<unknown> {
    try {
      await promise;
      return 'succeeded';
    } catch (err) {
      if (err instanceof RpcCallError) return { code: err.error.code, reason: err.error.data?.['reason'] };
      throw err;
    }
  }

  it('answers NO_SPACE for an upload that does not fit, leaves nothing behind, and keeps what was stored', async () => {
    const first = path.join(dir, 'first.bin');
    const firstBytes = randomBytes(600 * 1024);
    await writeFile(first, firstBytes);
    await client.request('upload', { path: first, keyPath, name: 'first.bin' });

    const big = path.join(dir, 'big.bin');
    await writeFile(big, randomBytes(3 * 1024 * 1024));
    expect(await reasonOf(client.request('upload', { path: big, keyPath, name: 'big.bin' }))).toEqual({ code: -32009, reason: 'NO_SPACE' });
    // Too big for what is left, though it would fit an empty disk.
    const half = path.join(dir, 'half.bin');
    await writeFile(half, randomBytes(700 * 1024));
    expect(await reasonOf(client.request('upload', { path: half, keyPath, name: 'half.bin' }))).toEqual({ code: -32009, reason: 'NO_SPACE' });

    expect(await readdir(path.join(store, '.tmp'))).toEqual([]);
    expect((await client.request('listFiles', {})).files.map((file) => file.name)).toEqual(['first.bin']);
    await rm(path.join(dir, 'first.out'), { force: true });
    await client.request('download', { name: 'first.bin', keyPath, destination: path.join(dir, 'first.out') });
    expect((await readFile(path.join(dir, 'first.out'))).equals(firstBytes)).toBe(true);
  });

  it('keeps serving: other calls answer, and a small upload fits once the failed one has given its space back', async () => {
    expect((await client.request('getServerInfo', {})).storage.kind).toBe('local');
    const small = path.join(dir, 'small.bin');
    const smallBytes = randomBytes(100 * 1024);
    await writeFile(small, smallBytes);
    await client.request('upload', { path: small, keyPath, name: 'small.bin' });
    await client.request('download', { name: 'small.bin', keyPath, destination: path.join(dir, 'small.out') });
    expect((await readFile(path.join(dir, 'small.out'))).equals(smallBytes)).toBe(true);
    expect((await client.request('listFiles', {})).files.map((file) => file.name)).toEqual(['first.bin', 'small.bin']);
  });
});
