/**
 * Local paths a client may name, at their most awkward: directories, named
 * pipes, devices, kernel files, sockets, symbolic-link loops, the key file
 * itself, key files and downloads inside the local store, destinations that
 * are links or in missing folders. Each is a clear error (-32602, or the
 * application code that fits), never -32603, never a hang, never a file
 * where it must not be; the server keeps all its file-system threads.
 */
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { link, mkdir, readdir, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { makeTempDir, openClient, RpcCallError, type TestClient, type TestServer } from '../helpers/server.js';
import { startTestService } from '../helpers/service.js';

const onPosix = process.platform !== 'win32';
const onLinux = process.platform === 'linux';

let server: TestServer;
let client: TestClient;
let dir: string;
let store: string;
let keyPath: string;
let source: string;
const sourceBytes = randomBytes(70_000);

/** The error a call ends with (or "succeeded"), within a deadline: a hang fails the test instead of timing it out. */
async function outcome(promise: Promise<unknown>, ms = 5000): Promise<{ code: number; reason?: unknown; param?: unknown; message: string } | 'succeeded'> {
  const timer = new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms).unref());
  try {
    await Promise.race([promise, timer]);
    return 'succeeded';
  } catch (err) {
    if (!(err instanceof RpcCallError)) throw err;
    return { code: err.error.code, reason: err.error.data?.['reason'], param: err.error.data?.['param'], message: err.error.message };
  }
}

function invalid(param: string) {
  return expect.objectContaining({ code: -32602, param });
}

beforeAll(async () => {
  dir = await makeTempDir('cloudlocker-paths-');
  store = path.join(dir, 'store');
  server = await startTestService({ storeDir: store });
  client = await openClient(server);
  keyPath = path.join(dir, 'keys', 'main.key.json');
  await mkdir(path.dirname(keyPath));
  await client.request('createKey', { path: keyPath });
  source = path.join(dir, 'source.bin');
  await writeFile(source, sourceBytes);
  await client.request('upload', { path: source, keyPath, name: 'stored.bin' });
  if (onPosix) execFileSync('mkfifo', [path.join(dir, 'fifo')]);
  await symlink(path.join(dir, 'loop-b'), path.join(dir, 'loop-a'));
  await symlink(path.join(dir, 'loop-a'), path.join(dir, 'loop-b'));
});

afterAll(async () => {
  await client?.close();
  await server?.stop();
  await rm(dir, { recursive: true, force: true });
});

const upload = (params: Record<string, unknown>) => client.request('upload', { path: source, keyPath, ...params } as never);
const download = (params: Record<string, unknown>) => client.request('download', { name: 'stored.bin', keyPath, ...params } as never);

describe('upload sources that are not regular files', () => {
  it('refuses a directory', async () => {
    expect(await outcome(upload({ path: dir, name: 'x' }))).toEqual(invalid('path'));
  });

  (onPosix ? it : it.skip)('refuses a named pipe at once, without opening it', async () => {
    expect(await outcome(upload({ path: path.join(dir, 'fifo'), name: 'x' }), 2000)).toEqual(invalid('path'));
  });

  (onPosix ? it : it.skip)('refuses devices, even behind a link, without reading them', async () => {
    await symlink('/dev/zero', path.join(dir, 'zero-link'));
    for (const device of ['/dev/null', '/dev/zero', '/dev/urandom', path.join(dir, 'zero-link')]) {
      expect(await outcome(upload({ path: device, name: 'x' }), 2000)).toEqual(invalid('path'));
    }
  });

  (onPosix ? it : it.skip)('refuses a Unix socket', async () => {
    const socketPath = path.join(dir, 'app.sock');
    const listener = net.createServer().listen(socketPath);
    await new Promise((resolve) => listener.once('listening', resolve));
    try {
      expect(await outcome(upload({ path: socketPath, name: 'x' }))).toEqual(invalid('path'));
    } finally {
      await new Promise((resolve) => listener.close(resolve));
    }
  });

  (onLinux ? it : it.skip)('refuses /proc and /sys files, whose sizes are not their content', async () => {
    const candidates = ['/proc/self/status', '/proc/self/mem', '/proc/self/environ', '/proc/kcore', '/sys/kernel/mm/transparent_hugepage/enabled', '/sys/class/net/lo/address'];
    const present = candidates.filter((candidate) => existsSync(candidate));
    expect(present.length).toBeGreaterThanOrEqual(3);
    for (const kernelFile of present) {
      const result = await outcome(upload({ path: kernelFile, name: 'kernel' }), 3000);
      // PERMISSION_DENIED is as right as -32602 where the OS will not even show the file.
      expect([invalid('path'), expect.objectContaining({ code: -32008 })]).toContainEqual(result);
    }
  });

  it('refuses a symbolic-link loop', async () => {
    expect(await outcome(upload({ path: path.join(dir, 'loop-a'), name: 'x' }))).toEqual(invalid('path'));
  });

  it('refuses the key file itself, also through a symbolic link or a hard link', async () => {
    await symlink(keyPath, path.join(dir, 'key-symlink'));
    await link(keyPath, path.join(dir, 'key-hardlink'));
    for (const alias of [keyPath, path.join(dir, 'key-symlink'), path.join(dir, 'key-hardlink')]) {
      expect(await outcome(upload({ path: alias, name: 'k' }))).toEqual(invalid('path'));
    }
  });

  it('answers NOT_FOUND for a missing source, naming no path', async () => {
    const result = await outcome(upload({ path: path.join(dir, 'missing', 'file'), name: 'x' }));
    expect(result).toMatchObject({ code: -32001, reason: 'NOT_FOUND' });
    expect(JSON.stringify(result)).not.toContain(dir);
  });
});

describe('key files in awkward places', () => {
  (onPosix ? it : it.skip)('refuses a named pipe or a device as keyPath at once, for upload and download', async () => {
    for (const special of [path.join(dir, 'fifo'), '/dev/zero', '/dev/null']) {
      expect(await outcome(upload({ keyPath: special, name: 'fifo-key' }), 2000)).toEqual(invalid('keyPath'));
      expect(await outcome(download({ keyPath: special, destination: path.join(dir, 'never.bin') }), 2000)).toEqual(invalid('keyPath'));
    }
  });

  it('refuses a keyPath inside the local store: directly, as the store folder, through a link or a detour', async () => {
    await mkdir(path.join(dir, 'linked'), { recursive: true });
    await symlink(store, path.join(dir, 'linked', 'store-link'));
    const insideStore = [
      path.join(store, 'k.key.json'),
      store,
      path.join(store, '.tmp'),
      path.join(store, 'deeper', 'still', 'k.key.json'),
      path.join(dir, 'linked', 'store-link', 'k.key.json'),
      path.join(dir, 'keys', '..', 'store', 'k.key.json'),
    ];
    for (const inside of insideStore) {
      expect(await outcome(upload({ keyPath: inside, name: 'keyed.bin' }))).toEqual(invalid('keyPath'));
    }
    // Nothing was created in the store, and nothing was uploaded.
    expect((await readdir(store)).filter((entry) => entry.endsWith('.json'))).toEqual([]);
    expect((await client.request('listFiles', { prefix: 'keyed' })).files).toEqual([]);
  });

  it('refuses createKey inside the local store, also through a link', async () => {
    for (const inside of [path.join(store, 'new.key.json'), path.join(dir, 'linked', 'store-link', 'new.key.json')]) {
      expect(await outcome(client.request('createKey', { path: inside }))).toEqual(invalid('path'));
    }
    expect(existsSync(path.join(store, 'new.key.json'))).toBe(false);
  });

  it('does not mistake a sibling folder whose name starts like the store for the store', async () => {
    const sibling = path.join(dir, 'store-keys');
    await mkdir(sibling);
    const created = await client.request('createKey', { path: path.join(sibling, 'k.key.json') });
    expect(created.path).toBe(path.join(sibling, 'k.key.json'));
    const uploaded = await upload({ keyPath: created.path, name: 'sibling.bin' });
    expect(uploaded).toMatchObject({ keyPath: created.path, keyCreated: false });
  });
});

describe('download destinations', () => {
  it('refuses a destination that is a symbolic link to a file, or a dangling one', async () => {
    const target = path.join(dir, 'real-target.bin');
    await writeFile(target, 'keep me');
    await symlink(target, path.join(dir, 'file-link'));
    await symlink(path.join(dir, 'nowhere'), path.join(dir, 'dangling-link'));
    for (const linkPath of [path.join(dir, 'file-link'), path.join(dir, 'dangling-link')]) {
      expect(await outcome(download({ destination: linkPath, overwrite: true }))).toEqual(invalid('destination'));
    }
    expect(await readFile(target, 'utf8')).toBe('keep me');
    expect(existsSync(path.join(dir, 'nowhere'))).toBe(false);
  });

  it('follows a link to a folder, saving the file inside the real folder', async () => {
    await mkdir(path.join(dir, 'real-folder'));
    await symlink(path.join(dir, 'real-folder'), path.join(dir, 'folder-link'));
    const result = await download({ destination: path.join(dir, 'folder-link') });
    expect(result).toMatchObject({ path: path.join(dir, 'folder-link', 'stored.bin') });
    expect(createHash('sha256').update(await readFile(path.join(dir, 'real-folder', 'stored.bin'))).digest('hex')).toBe(
      createHash('sha256').update(sourceBytes).digest('hex'),
    );
  });

  it('answers NOT_FOUND for a destination in missing folders, creating none', async () => {
    expect(await outcome(download({ destination: path.join(dir, 'no', 'such', 'folders', 'out.bin') }))).toMatchObject({
      code: -32001,
      reason: 'NOT_FOUND',
    });
    expect(existsSync(path.join(dir, 'no'))).toBe(false);
  });

  it('answers NOT_FOUND for a missing folder named with a trailing separator, and writes no file with its name', async () => {
    // The bug this rule fixes: "--to /some/missing/dir/" wrote a file named "dir".
    const parent = path.join(dir, 'trailing');
    await mkdir(parent);
    expect(await outcome(download({ destination: path.join(parent, 'dir') + path.sep }))).toMatchObject({ code: -32001, reason: 'NOT_FOUND' });
    expect(await readdir(parent)).toEqual([]);
  });

  it('saves into an existing folder named with a trailing separator', async () => {
    const folder = path.join(dir, 'into-folder');
    await mkdir(folder);
    const result = await download({ destination: folder + path.sep });
    expect(result).toMatchObject({ path: path.join(folder, 'stored.bin') });
    expect((await readFile(path.join(folder, 'stored.bin'))).equals(sourceBytes)).toBe(true);
  });

  it('creates the missing folders with createDirectories: true, for a folder and for a file path', async () => {
    const intoFolder = path.join(dir, 'made', 'deep', 'folder') + path.sep;
    expect(await download({ destination: intoFolder, createDirectories: true })).toMatchObject({ path: path.join(dir, 'made', 'deep', 'folder', 'stored.bin') });
    expect((await readFile(path.join(dir, 'made', 'deep', 'folder', 'stored.bin'))).equals(sourceBytes)).toBe(true);
    const filePath = path.join(dir, 'made2', 'x', 'copy.bin');
    expect(await download({ destination: filePath, createDirectories: true })).toMatchObject({ path: filePath });
    expect((await readFile(filePath)).equals(sourceBytes)).toBe(true);
  });

  it('refuses a trailing separator on an existing file, leaving the file alone', async () => {
    const file = path.join(dir, 'plain-file.bin');
    await writeFile(file, 'keep me');
    expect(await outcome(download({ destination: file + path.sep, overwrite: true }))).toEqual(invalid('destination'));
    expect(await readFile(file, 'utf8')).toBe('keep me');
  });

  (onPosix ? it : it.skip)('refuses a named pipe or a device as the destination', async () => {
    for (const special of [path.join(dir, 'fifo'), '/dev/null']) {
      expect(await outcome(download({ destination: special, overwrite: true }), 2000)).toEqual(invalid('destination'));
    }
  });

  it('refuses a destination inside the local store, so no plaintext lands there and no object is replaced', async () => {
    const objectFiles = (await readdir(store)).filter((entry) => !entry.startsWith('.'));
    expect(objectFiles.length).toBeGreaterThan(0);
    const storedBefore = await readFile(path.join(store, objectFiles[0] as string));
    for (const destination of [store, path.join(store, 'plain.bin'), path.join(store, objectFiles[0] as string), path.join(dir, 'linked', 'store-link')]) {
      expect(await outcome(download({ destination, overwrite: true }))).toEqual(invalid('destination'));
    }
    expect((await readFile(path.join(store, objectFiles[0] as string))).equals(storedBefore)).toBe(true);
    expect(existsSync(path.join(store, 'plain.bin'))).toBe(false);
  });

  it('refuses to download onto the key file, even with overwrite', async () => {
    const keyBefore = await readFile(keyPath);
    expect(await outcome(download({ destination: keyPath, overwrite: true }))).toEqual(invalid('destination'));
    // A folder whose entry for the remote name is the key file.
    const keyDir = path.join(dir, 'keydir');
    await mkdir(keyDir);
    await link(keyPath, path.join(keyDir, 'stored.bin'));
    expect(await outcome(download({ destination: keyDir, overwrite: true }))).toEqual(invalid('destination'));
    expect((await readFile(keyPath)).equals(keyBefore)).toBe(true);
    expect((await stat(keyPath)).mode & 0o777).toBe(0o600);
  });
});

describe('afterwards', () => {
  it('has every file-system thread free: many file operations at once still answer promptly', async () => {
    const started = Date.now();
    const outputs = await Promise.all(
      Array.from({ length: 8 }, (_, index) => download({ destination: path.join(dir, `parallel-${index}.bin`) })),
    );
    expect(outputs).toHaveLength(8);
    expect(Date.now() - started).toBeLessThan(5000);
    const errors = server.logs.lines.filter((line) => (JSON.parse(line) as { level: number }).level >= 50);
    expect(errors).toEqual([]);
  });
});
