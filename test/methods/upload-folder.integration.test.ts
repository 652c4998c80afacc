/**
 * uploadFolder end to end over a real wss connection, on the local store and
 * on S3 (s3rver): a tree with nested folders, empty files, an empty folder,
 * names with spaces and both Unicode normalisations, many small files,
 * links and special files skipped with a report; one group listed and
 * notified; cancel mid-group leaves nothing half-stored; a file that changes
 * during the upload is reported SOURCE_CHANGED while the rest are stored;
 * a large group is not refused BUSY and does not crowd out other uploads.
 */
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readFile, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Storage } from '../../src/storage/storage.js';
import { LocalStorage } from '../../src/storage/local/local-storage.js';
import { createTestS3Storage, startS3rver, type RunningS3rver } from '../helpers/s3rver.js';
import { makeTempDir, openClient, RpcCallError, type TestClient, type TestServer } from '../helpers/server.js';
import { startTestService } from '../helpers/service.js';
import { hookedStorage } from '../helpers/storage-wrappers.js';

const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');
const NFC = 'caf\u00e9';
const NFD = 'cafe\u0301';

let s3: RunningS3rver;
let cases = 0;
beforeAll(async () => {
  s3 = await startS3rver();
});
afterAll(async () => {
  await s3?.stop();
});

const backends: Array<[string, (dir: string) => Storage, number]> = [
  ['local', (dir) => new LocalStorage({ directory: path.join(dir, 'store') }), 1000],
  ['s3 (s3rver)', () => createTestS3Storage(s3.endpoint, { prefix: `folder-${++cases}` }), 300],
];

describe.each(backends)('uploadFolder (%s)', (_backendName, makeStorage, smallFiles) => {
  let dir: string;
  let server: TestServer | undefined;
  let client: TestClient;
  let keyPath: string;

  async function start(storage: Storage): Promise<void> {
    server = await startTestService({ storageBackend: storage, progressIntervalMs: 20 });
    client = await openClient(server);
  }

  beforeEach(async () => {
    dir = await makeTempDir('cloudlocker-folder-');
    keyPath = path.join(dir, 'keys', 'k.key.json');
    await mkdir(path.dirname(keyPath));
  });

  afterEach(async () => {
    await client?.close();
    await server?.stop();
    server = undefined;
    await rm(dir, { recursive: true, force: true });
  });

  /** Every stored name under a prefix. */
  async function storedNames(prefix: string): Promise<string[]> {
    const names: string[] = [];
    let cursor: string | null = null;
    do {
      const page: { files: Array<{ name: string }>; nextCursor: string | null } = await client.request('listFiles', { prefix, ...(cursor === null ? {} : { cursor }) });
      names.push(...page.files.map((file) => file.name));
      cursor = page.nextCursor;
    } while (cursor !== null);
    return names;
  }

  /** Download each name and compare it by hash with what `expected` says. */
  async function expectStoredAs(expected: Map<string, Buffer>): Promise<void> {
    const out = path.join(dir, 'out');
    await mkdir(out, { recursive: true });
    const entries = [...expected];
    for (let i = 0; i < entries.length; i += 16) {
      await Promise.all(
        entries.slice(i, i + 16).map(async ([name, bytes], j) => {
          const target = path.join(out, `${i + j}.bin`);
          await client.request('download', { name, keyPath, destination: target });
          expect(sha256(await readFile(target))).toBe(sha256(bytes));
        }),
      );
    }
  }

  it('stores a tree as <name>/<relative path>, byte-exact, as one group; skips links and special files with a report', async () => {
    await start(makeStorage(dir));
    const root = path.join(dir, 'tree');
    const expected = new Map<string, Buffer>();
    const put = async (relative: string, bytes: Buffer) => {
      await mkdir(path.dirname(path.join(root, relative)), { recursive: true });
      await writeFile(path.join(root, relative), bytes);
      expected.set(`photos/${relative.split(path.sep).join('/')}`, bytes);
    };
    await put('top.txt', Buffer.from('top'));
    await put(path.join('a', 'b', 'c', 'deep.bin'), randomBytes(200_000));
    await put(path.join('a', 'empty.txt'), Buffer.alloc(0));
    await put(path.join('with space', 'a file.txt'), Buffer.from('spaced'));
    await put(path.join(NFC, 'nfc.txt'), Buffer.from('nfc'));
    await put(path.join(NFD, 'nfd.txt'), Buffer.from('nfd'));
    for (let i = 0; i < smallFiles; i++) await put(path.join('small', `${i}.bin`), randomBytes(4096));
    await mkdir(path.join(root, 'empty', 'inner'), { recursive: true });
    await symlink(path.join(root, 'top.txt'), path.join(root, 'link-to-file'));
    await symlink(root, path.join(root, 'a', 'loop'));
    if (process.platform !== 'win32') execFileSync('mkfifo', [path.join(root, 'pipe')]);

    const answer = client.request('uploadFolder', { path: root, keyPath, name: 'photos', transferId: 'photos-1' });
    const result = await answer;
    const markers = ['photos/empty/inner/.cloudlocker-folder'];
    expect(result).toMatchObject({
      transferId: 'photos-1',
      name: 'photos',
      filesTotal: expected.size + markers.length,
      filesStored: expected.size + markers.length,
      emptyFolders: 1,
      failed: [],
      keyPath,
      keyCreated: true,
    });
    expect(result.size).toBe([...expected.values()].reduce((sum, bytes) => sum + bytes.length, 0));
    expect(result.skipped).toEqual(
      expect.arrayContaining([
        { path: path.join('a', 'loop'), reason: 'symbolic-link' },
        { path: 'link-to-file', reason: 'symbolic-link' },
        ...(process.platform !== 'win32' ? [{ path: 'pipe', reason: 'special-file' }] : []),
      ]),
    );
    // NFC and NFD spellings stay two folders; the empty folder is its marker; nothing else is stored.
    expect((await storedNames('photos/')).sort()).toEqual([...expected.keys(), ...markers].sort());

    // downloadFolder recreates the tree, byte-exact, empty folder included, in a folder it may create.
    const restore = path.join(dir, 'restore', 'here');
    expect(await outcomeOf(client.request('downloadFolder', { name: 'photos', keyPath, destination: restore }))).toMatchObject({ code: -32001, reason: 'NOT_FOUND' });
    const back = await client.request('downloadFolder', { name: 'photos', keyPath, destination: restore, createDirectories: true, transferId: 'photos-back' });
    expect(back).toEqual({
      transferId: 'photos-back',
      name: 'photos',
      path: path.join(restore, 'photos'),
      filesTotal: expected.size + 1,
      filesSaved: expected.size + 1,
      size: result.size,
      emptyFolders: 1,
      failed: [],
    });
    const restored = new Map<string, string>();
    for (const entry of await readdir(back.path, { recursive: true, withFileTypes: true })) {
      const relative = path.relative(back.path, path.join(entry.parentPath, entry.name));
      if (entry.isFile()) restored.set(`photos/${relative.split(path.sep).join('/')}`, sha256(await readFile(path.join(entry.parentPath, entry.name))));
      else expect(entry.isDirectory()).toBe(true);
    }
    expect(restored).toEqual(new Map([...expected].map(([name, bytes]) => [name, sha256(bytes)])));
    expect(await readdir(path.join(back.path, 'empty', 'inner'))).toEqual([]);
    // Again: every file is already there, so each is ALREADY_EXISTS and none is touched.
    const again = await client.request('downloadFolder', { name: 'photos', keyPath, destination: restore });
    expect(again.filesSaved).toBe(1); // the empty folder, which merges
    expect(again.failed).toHaveLength(expected.size);
    expect(again.failed.every((f) => f.error.data?.['reason'] === 'ALREADY_EXISTS')).toBe(true);

    // One group: listed with its result and file counters. Its files were notified as its members, each
    // with its own transferFinished, and are not kept once finished (the group holds what they came to).
    const { transfers } = await client.request('listTransfers', {});
    const group = transfers.find((t) => t.transferId === 'photos-1');
    expect(group).toMatchObject({ state: 'completed', group: { filesTotal: expected.size + 1, filesDone: expected.size + 1, filesFailed: 0 }, result });
    expect(transfers.filter((t) => t.groupId !== undefined)).toEqual([]);
    const memberIds = new Set(
      client.notifications.filter((n) => n.method === 'transferProgress' && n.params['groupId'] === 'photos-1').map((n) => n.params['transferId'] as string),
    );
    expect(memberIds.size).toBe(expected.size);
    const finishedMembers = client.notifications.filter((n) => n.method === 'transferFinished' && memberIds.has(n.params['transferId'] as string));
    expect(finishedMembers).toHaveLength(memberIds.size);
    expect(finishedMembers.every((n) => n.params['outcome'] === 'completed')).toBe(true);
    // A finished member's id is then unknown: acknowledging it acknowledges nothing.
    const someMember = [...memberIds][0]!;
    expect(await client.request('acknowledgeTransfers', { transferIds: [someMember] })).toEqual({ acknowledged: [] });
    const groupProgress = client.notifications.filter((n) => n.method === 'transferProgress' && n.params['transferId'] === 'photos-1');
    expect(groupProgress.some((n) => typeof (n.params['group'] as { currentFile?: string } | undefined)?.currentFile === 'string')).toBe(true);
    const transferred = groupProgress.map((n) => n.params['transferredBytes'] as number);
    expect(transferred).toEqual([...transferred].sort((a, b) => a - b));
    expect(transferred.at(-1)).toBe(result.size);
    const downloadGroup = transfers.find((t) => t.transferId === 'photos-back');
    expect(downloadGroup).toMatchObject({ direction: 'download', state: 'completed', result: back });
  }, 180_000);

  async function outcomeOf(promise: Promise<unknown>): Promise<unknown> {
    try {
      await promise;
      return 'succeeded';
    } catch (err) {
      if (err instanceof RpcCallError) return { code: err.error.code, reason: err.error.data?.['reason'], param: err.error.data?.['param'] };
      throw err;
    }
  }

  it('cancels mid-group: CANCELLED, no file half-stored, no more files started', async () => {
    let writes = 0;
    let release: () => void = () => undefined;
    const held = new Promise<void>((resolve) => (release = resolve));
    await start(
      hookedStorage(makeStorage(dir), {
        beforeWritePart: async () => {
          writes += 1;
          if (writes > 6) await held;
        },
      }),
    );
    const root = path.join(dir, 'many');
    await mkdir(root);
    for (let i = 0; i < 40; i++) await writeFile(path.join(root, `${String(i).padStart(2, '0')}.bin`), randomBytes(10_000));
    const answer = client.call('uploadFolder', { path: root, keyPath, name: 'many', transferId: 'many-1' });
    await client.waitForNotification((n) => n.params['transferId'] === 'many-1' && (n.params['group'] as { filesDone: number } | undefined)?.filesDone === 6, 20_000);
    expect(await client.request('cancelTransfer', { transferId: 'many-1' })).toEqual({ transferId: 'many-1', cancelled: true });
    release();
    const response = await answer;
    expect(response.error?.data).toMatchObject({ reason: 'CANCELLED' });
    const stored = await storedNames('many/');
    // Those stored before the cancel stay, and each of them is whole.
    expect(stored.length).toBeGreaterThanOrEqual(6);
    expect(stored.length).toBeLessThan(40);
    const expected = new Map<string, Buffer>();
    for (const name of stored) expected.set(name, await readFile(path.join(root, name.slice('many/'.length))));
    await expectStoredAs(expected);
    const listed = (await client.request('listTransfers', {})).transfers;
    expect(listed.find((t) => t.transferId === 'many-1')?.state).toBe('cancelled');
    expect(listed.filter((t) => t.groupId === 'many-1' && (t.state === 'running' || t.state === 'queued'))).toEqual([]);
    const started = listed.filter((t) => t.groupId === 'many-1').length;
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect((await client.request('listTransfers', {})).transfers.filter((t) => t.groupId === 'many-1').length).toBe(started);
  }, 60_000);

  it('reports a file that changed during the upload as SOURCE_CHANGED and stores the rest', async () => {
    const root = path.join(dir, 'changing');
    await mkdir(root);
    for (let i = 0; i < 12; i++) await writeFile(path.join(root, `${String(i).padStart(2, '0')}.bin`), randomBytes(5000));
    let changed = false;
    await start(
      hookedStorage(makeStorage(dir), {
        beforeWritePart: async () => {
          if (changed) return;
          changed = true;
          // The last file, not started yet: it grows after the folder was read.
          await writeFile(path.join(root, '11.bin'), randomBytes(6000));
        },
      }),
    );
    const result = await client.request('uploadFolder', { path: root, keyPath, name: 'changing' });
    expect(result.filesStored).toBe(11);
    expect(result.failed).toEqual([{ path: '11.bin', name: 'changing/11.bin', error: expect.objectContaining({ code: -32010, data: expect.objectContaining({ reason: 'SOURCE_CHANGED' }) }) }]);
    expect(await storedNames('changing/')).toEqual(Array.from({ length: 11 }, (_, i) => `changing/${String(i).padStart(2, '0')}.bin`));
    const group = (await client.request('listTransfers', {})).transfers.find((t) => t.transferId === result.transferId);
    expect(group?.group).toEqual({ filesTotal: 12, filesDone: 12, filesFailed: 1 });
  }, 60_000);

  it('is admitted as one transfer: 200 files are not BUSY and a single upload still runs beside them', async () => {
    await start(makeStorage(dir));
    const root = path.join(dir, 'wide');
    await mkdir(root);
    for (let i = 0; i < 200; i++) await writeFile(path.join(root, `${i}.txt`), `file ${i}`);
    const single = path.join(dir, 'single.txt');
    await writeFile(single, 'alone');
    const group = client.request('uploadFolder', { path: root, keyPath, name: 'wide' });
    await client.waitForNotification((n) => n.params['groupId'] !== undefined);
    const alone = await client.request('upload', { path: single, keyPath: path.join(dir, 'keys', 'other.key.json'), name: 'single.txt' });
    expect(alone.size).toBe(5);
    expect((await group).filesStored).toBe(200);
  }, 120_000);

  it('refuses a file as path, a key inside the folder, and answers NOT_FOUND for a missing folder', async () => {
    await start(makeStorage(dir));
    const file = path.join(dir, 'file.txt');
    await writeFile(file, 'x');
    const refusal = async (params: Record<string, unknown>) => {
      try {
        await client.request('uploadFolder', { keyPath, ...params } as never);
      } catch (err) {
        if (err instanceof RpcCallError) return { code: err.error.code, param: err.error.data?.['param'], reason: err.error.data?.['reason'] };
        throw err;
      }
      return 'succeeded';
    };
    expect(await refusal({ path: file })).toMatchObject({ code: -32602, param: 'path' });
    expect(await refusal({ path: path.join(dir, 'missing') })).toMatchObject({ code: -32001, reason: 'NOT_FOUND' });
    const withKey = path.join(dir, 'with-key');
    await mkdir(withKey);
    await writeFile(path.join(withKey, 'a.txt'), 'a');
    expect(await refusal({ path: withKey, keyPath: path.join(withKey, 'k.key.json') })).toMatchObject({ code: -32602, param: 'keyPath' });
    expect(await readdir(withKey)).toEqual(['a.txt']);
  });
});
