/**
 * A full disk and a read-only disk at the download destination, on real
 * file systems: small tmpfs mounts, which need root on Linux (as CI runs).
 * Where mounting is not possible these cases are skipped, with a describe
 * title that says why; the
 * mapping itself is covered by test/transfer/local-files.test.ts.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { makeTempDir, openClient, RpcCallError, type TestClient, type TestServer } from '../helpers/server.js';
import { startTestService } from '../helpers/service.js';

const canMount = process.platform === 'linux' && process.getuid?.() === 0 && tryMountProbe();

function tryMountProbe(): boolean {
  try {
    execFileSync('mount', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

function mountTmpfs(dir: string, options: string): void {
  execFileSync('mount', ['-t', 'tmpfs', '-o', options, 'tmpfs', dir]);
}

function unmount(dir: string): void {
  try {
    execFileSync('umount', [dir], { stdio: 'ignore' });
  } catch {
    // not mounted
  }
}

async function reasonOf(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
    return 'succeeded';
  } catch (err) {
    return err instanceof RpcCallError ? err.error.data?.reason : err;
  }
}

/** Registered everywhere; skipped, visibly and saying why, where tmpfs cannot be mounted. */
const describeWhenMountable = canMount ? describe : describe.skip;
const whyNot = canMount ? '' : ' [skipped: mounting a tmpfs needs root on Linux, as CI runs]';
// Jest does not print the titles of a file whose tests are all skipped: say it once.
if (!canMount) console.warn(`${path.basename(import.meta.url)}: all cases${whyNot}`);

describeWhenMountable(`download onto a full or read-only disk (tmpfs)${whyNot}`, () => {
  let dir: string;
  let server: TestServer;
  let client: TestClient;
  const mounts: string[] = [];

  beforeEach(async () => {
    dir = await makeTempDir('cloudlocker-disk-');
    server = await startTestService({ storeDir: path.join(dir, 'store') });
    client = await openClient(server);
  });

  afterEach(async () => {
    await client.close();
    await server.stop();
    for (const mount of mounts.splice(0)) unmount(mount);
    await rm(dir, { recursive: true, force: true });
  });

  async function storedFile(size: number): Promise<string> {
    const source = path.join(dir, 'source.bin');
    await writeFile(source, randomBytes(size));
    const keyPath = path.join(dir, 'k.key.json');
    await client.request('upload', { path: source, keyPath, name: 'file.bin' });
    return keyPath;
  }

  it('answers NO_SPACE when the destination fills up, and leaves nothing there', async () => {
    const keyPath = await storedFile(3 * 1024 * 1024);
    const full = path.join(dir, 'full');
    await mkdir(full);
    mountTmpfs(full, 'size=1m');
    mounts.push(full);
    expect(await reasonOf(client.request('download', { name: 'file.bin', keyPath, destination: full }))).toBe('NO_SPACE');
    expect(await readdir(full)).toEqual([]);
  });

  it('answers PERMISSION_DENIED when the destination is read-only', async () => {
    const keyPath = await storedFile(1000);
    const readOnly = path.join(dir, 'ro');
    await mkdir(readOnly);
    mountTmpfs(readOnly, 'ro,size=1m');
    mounts.push(readOnly);
    expect(await reasonOf(client.request('download', { name: 'file.bin', keyPath, destination: readOnly }))).toBe(
      'PERMISSION_DENIED',
    );
  });
});
