/**
 * What the local backend promises beyond the conformance suite: crash
 * leftovers, the on-disk layout, error mapping, hard-link fallback.
 * Faults a real file system cannot produce here (EACCES as root, ENOSPC, EIO)
 * are injected by spying on one fs call for the length of one test.
 */
import fs from 'node:fs/promises';
import fsCallbacks from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it, jest } from '@jest/globals';
import { InvalidParamsError } from '../../../src/errors.js';
import { FLUSH_BEHIND_BYTES } from '../../../src/fs/flush-behind.js';
import { IO_SLICE_BYTES } from '../../../src/storage/local/local-object-writer.js';
import { LocalStorage, META_FOLDER, TEMP_FOLDER } from '../../../src/storage/local/local-storage.js';
import { encodeObjectPath, MAX_ENTRY_BYTES } from '../../../src/storage/local/name-encoding.js';
import type { Storage } from '../../../src/storage/storage.js';
import { mapWithConcurrency, putObject, sortedByBytes, testBytes } from '../conformance.js';
import { filesFsyncedBetween, recordFsyncs, type FsStepLog } from '../../helpers/fs-calls.js';

let workDir: string;
let storeDir: string;
const opened: LocalStorage[] = [];

beforeEach(async () => {
  workDir = await fs.mkdtemp(path.join(os.tmpdir(), 'cloudlocker-local-storage-'));
  storeDir = path.join(workDir, 'nested', 'store');
});

afterEach(async () => {
  jest.restoreAllMocks();
  await Promise.all(opened.splice(0).map((storage) => storage.close()));
  await fs.rm(workDir, { recursive: true, force: true });
});

async function openStore(directory = storeDir): Promise<LocalStorage> {
  const storage = new LocalStorage({ directory });
  opened.push(storage);
  await storage.init();
  return storage;
}

async function tempEntries(): Promise<string[]> {
  return fs.readdir(path.join(storeDir, TEMP_FOLDER));
}

async function listAll(storage: Storage, prefix = '', limit = 1000): Promise<string[]> {
  const names: string[] = [];
  let cursor: string | undefined;
  do {
    const page = await storage.list({ prefix, limit, cursor });
    names.push(...page.objects.map((o) => o.name));
    cursor = page.nextCursor ?? undefined;
  } while (cursor !== undefined);
  return names;
}

/** Every file and directory under `root`, relative, with '/' separators. */
async function walk(root: string): Promise<string[]> {
  const found: string[] = [];
  for (const entry of await fs.readdir(root, { recursive: true })) found.push(entry.split(path.sep).join('/'));
  return found.sort();
}

function systemError(code: string): NodeJS.ErrnoException {
  // Shaped like Node's own errors, path included, to prove it never reaches the message.
  return Object.assign(new Error(`${code}: simulated failure, open '/home/secret-user/store/x'`), {
    code,
    syscall: 'open',
    path: '/home/secret-user/store/x',
  });
}

/**
 * A write's temporary is written and synced through the callback API on its
 * descriptor (local-object-writer.ts TemporaryFile): the fault is injected
 * there, answering the call's callback (its last argument) with `error`.
 */
function failCallbackOnce(method: 'write' | 'fsync' | 'fdatasync', error: NodeJS.ErrnoException) {
  return jest.spyOn(fsCallbacks, method).mockImplementationOnce(((...args: unknown[]) => {
    const callback = args[args.length - 1] as (err: NodeJS.ErrnoException | null) => void;
    callback(error);
  }) as never);
}

const isPosix = process.platform !== 'win32';

describe('LocalStorage: store layout', () => {
  it('init() creates the store and its temp folder, private to the user', async () => {
    const storage = await openStore();
    expect(storage.kind).toBe('local');
    expect(storage.location).toBe(path.resolve(storeDir));
    expect(await tempEntries()).toEqual([]);
    await putObject(storage, 'dir/file', testBytes(10, 1));
    if (isPosix) {
      expect((await fs.stat(storeDir)).mode & 0o777).toBe(0o700);
      expect((await fs.stat(path.join(storeDir, 'dir'))).mode & 0o777).toBe(0o700);
      expect((await fs.stat(path.join(storeDir, 'dir', 'file@'))).mode & 0o777).toBe(0o600);
    }
  });

  it('keeps names differing only by case or normalisation in files whose names differ even ignoring case', async () => {
    const storage = await openStore();
    const names = ['Readme', 'README', 'readme', 'é', 'e\u0301', 'É'];
    for (const name of names) await putObject(storage, name, new TextEncoder().encode(name));
    const onDisk = (await fs.readdir(storeDir)).filter((entry) => entry !== TEMP_FOLDER);
    expect(new Set(onDisk.map((entry) => entry.toLowerCase().normalize('NFC'))).size).toBe(names.length);
    for (const name of names) {
      expect(Buffer.from(await storage.readRange(name, 0, 100)).toString()).toBe(name);
    }
  });

  it('stores a 1024-byte name under entries of at most MAX_ENTRY_BYTES and finds it again after a restart', async () => {
    const name = `${'長'.repeat(200)}/${'x'.repeat(423)}`;
    expect(Buffer.byteLength(name)).toBe(1024);
    const first = await openStore();
    await putObject(first, name, testBytes(5, 2));
    for (const entry of await walk(storeDir)) {
      for (const part of entry.split('/')) expect(part.length).toBeLessThanOrEqual(MAX_ENTRY_BYTES);
    }
    await first.close();
    const second = await openStore();
    expect(await listAll(second)).toEqual([name]);
  });

  it('delete removes the directories it left empty, and only those', async () => {
    const storage = await openStore();
    await putObject(storage, 'a/b/c', testBytes(1, 3));
    await putObject(storage, 'a/d', testBytes(1, 4));
    await storage.delete('a/b/c');
    expect(await walk(storeDir)).toEqual([TEMP_FOLDER, 'a', 'a/d@']);
    await storage.delete('a/d');
    expect(await walk(storeDir)).toEqual([TEMP_FOLDER]);
  });

  it('a delete and a publish in the same directory do not trip over each other', async () => {
    const storage = await openStore();
    for (let i = 0; i < 30; i++) {
      await putObject(storage, 'shared/first', testBytes(1, i));
      await Promise.all([storage.delete('shared/first'), putObject(storage, `shared/second-${i}`, testBytes(2, i))]);
      expect(await listAll(storage, 'shared/')).toEqual([`shared/second-${i}`]);
      await storage.delete(`shared/second-${i}`);
    }
  });

  // Windows in which deleting a directory's last object prunes the
  // directory a publish needs. A publish first looks whether the directory
  // is there (a synchronous stat) and makes it only if not.
  // 'before the rename': the directory was there when looked at and goes
  // before the link/rename, which fails with ENOENT. The next two need a
  // mkdir, so the look is made to find nothing once (as when the directory
  // appears right after it, made by another publish):
  // 'during mkdir': fs.mkdir(dir, { recursive: true })
  // rejects with ENOENT when dir exists as it starts (EEXIST) but an rmdir
  // removes it before Node's follow-up stat. 'after mkdir': the directory goes
  // between mkdir and link/rename. Timing cannot hit any reliably, so the
  // first rename/link (or mkdir) into the shared parent runs the real delete
  // (the directory really goes) before the real call (or after it).
  it('a publish whose directory a concurrent delete prunes before the rename makes it again and succeeds', async () => {
    const storage = await openStore();
    await putObject(storage, 'shared/first', testBytes(1, 7));
    const parent = path.join(storeDir, ...encodeObjectPath('shared/first').slice(0, -1));
    const realLink = fs.link.bind(fs);
    let interleaved = false;
    // putObject publishes without overwrite: a link() into the parent.
    const link = jest.spyOn(fs, 'link').mockImplementation((async (from: string, to: string) => {
      if (!interleaved && path.dirname(to) === parent) {
        interleaved = true;
        await storage.delete('shared/first');
        await expect(fs.stat(parent)).rejects.toMatchObject({ code: 'ENOENT' });
      }
      return realLink(from, to);
    }) as unknown as typeof fs.link);
    const mkdir = jest.spyOn(fs, 'mkdir');
    try {
      await putObject(storage, 'shared/second', testBytes(2, 7));
      expect(interleaved).toBe(true);
      // The first attempt found the directory and made none; the second made it again.
      expect(mkdir.mock.calls.filter(([target]) => target === parent)).toHaveLength(1);
    } finally {
      link.mockRestore();
      mkdir.mockRestore();
    }
    expect(await listAll(storage, 'shared/')).toEqual(['shared/second']);
    expect(Buffer.from(await storage.readRange('shared/second', 0, 100))).toEqual(Buffer.from(testBytes(2, 7)));
    await expect(storage.stat('shared/first')).rejects.toMatchObject({ reason: 'NOT_FOUND' });
  });

  it.each(['during mkdir', 'after mkdir'] as const)(
    'a publish whose directory a concurrent delete prunes %s makes it again and succeeds',
    async (window) => {
      const storage = await openStore();
      await putObject(storage, 'shared/first', testBytes(1, 7));
      const parent = path.join(storeDir, ...encodeObjectPath('shared/first').slice(0, -1));
      const realStatSync = fsCallbacks.statSync.bind(fsCallbacks);
      let looked = false;
      const statSync = jest.spyOn(fsCallbacks, 'statSync').mockImplementation(((target: string, options?: unknown) => {
        if (!looked && target === parent) {
          looked = true;
          return undefined;
        }
        return realStatSync(target, options as Parameters<typeof realStatSync>[1]);
      }) as unknown as typeof fsCallbacks.statSync);
      const realMkdir = fs.mkdir.bind(fs);
      let interleaved = false;
      const mkdir = jest.spyOn(fs, 'mkdir').mockImplementation((async (target: string, options?: unknown) => {
        if (!interleaved && target === parent) {
          interleaved = true;
          if (window === 'after mkdir') {
            const created = await realMkdir(target, options as Parameters<typeof realMkdir>[1]);
            await storage.delete('shared/first');
            await expect(fs.stat(parent)).rejects.toMatchObject({ code: 'ENOENT' });
            return created;
          }
          await storage.delete('shared/first');
          await expect(fs.stat(parent)).rejects.toMatchObject({ code: 'ENOENT' });
          throw Object.assign(new Error(`ENOENT: no such file or directory, mkdir '${parent}'`), {
            code: 'ENOENT',
            errno: -2,
            syscall: 'mkdir',
            path: parent,
          });
        }
        return realMkdir(target, options as Parameters<typeof realMkdir>[1]);
      }) as unknown as typeof fs.mkdir);

      try {
        await putObject(storage, 'shared/second', testBytes(2, 7));
      } finally {
        statSync.mockRestore();
      }
      expect(looked).toBe(true);
      expect(interleaved).toBe(true);
      expect(mkdir.mock.calls.filter(([target]) => target === parent).length).toBeGreaterThanOrEqual(2);
      mkdir.mockRestore();
      expect(await listAll(storage, 'shared/')).toEqual(['shared/second']);
      expect(Buffer.from(await storage.readRange('shared/second', 0, 100))).toEqual(Buffer.from(testBytes(2, 7)));
      await expect(storage.stat('shared/first')).rejects.toMatchObject({ reason: 'NOT_FOUND' });
    },
  );
});

describe('LocalStorage: restarts and crashes', () => {
  it('init() removes temporaries left by a crashed run, which were never listed', async () => {
    const crashed = await openStore();
    const unfinished = await crashed.beginWrite('unfinished');
    await unfinished.writePart(0, 0, testBytes(100, 5));
    await fs.writeFile(path.join(storeDir, TEMP_FOLDER, 'old.part'), 'leftover');
    await fs.mkdir(path.join(storeDir, TEMP_FOLDER, 'odd', 'dir'), { recursive: true });
    expect(await tempEntries()).toHaveLength(3);

    // A new process starts on the same store while the old one is "dead".
    const restarted = await openStore();
    expect(await tempEntries()).toEqual([]);
    expect(await listAll(restarted)).toEqual([]);
    await expect(restarted.stat('unfinished')).rejects.toMatchObject({ reason: 'NOT_FOUND' });
    await unfinished.abort(); // the old writer's file is gone: abort still resolves
  });

  it('init() lists the objects already on disk and ignores files that are not objects', async () => {
    const first = await openStore();
    for (const name of ['one', 'dir/two', 'Upper/é']) await putObject(first, name, testBytes(7, 6));
    await first.close();

    // What other programs and people leave in folders.
    const outside = path.join(workDir, 'outside@');
    await fs.writeFile(outside, 'not in the store');
    const strays = ['desktop.ini', '.DS_Store', 'README@', '%61bc@', 'con@', 'dir/thumbs.db', 'dir/.hidden@'];
    for (const stray of strays) await fs.writeFile(path.join(storeDir, stray), 'stray');
    if (isPosix) await fs.symlink(outside, path.join(storeDir, 'link@'));

    const second = await openStore();
    expect(await listAll(second)).toEqual(sortedByBytes(['one', 'dir/two', 'Upper/é']));
    expect((await second.stat('dir/two')).storedSize).toBe(7);
  });

  it('lists 10 000 objects written by an earlier run in pages of 1000, in byte order', async () => {
    const names = Array.from({ length: 10_000 }, (_, i) => (i % 2 === 0 ? `obj/${i}` : `Obj/${i}`));
    // Written straight to disk (as an earlier run would have left them) to keep the test fast.
    await fs.mkdir(path.join(storeDir, TEMP_FOLDER), { recursive: true });
    for (const directory of new Set(names.map((name) => encodeObjectPath(name).slice(0, -1).join('/')))) {
      await fs.mkdir(path.join(storeDir, directory), { recursive: true });
    }
    await mapWithConcurrency(names, 64, (name) => fs.writeFile(path.join(storeDir, ...encodeObjectPath(name)), 'x'));

    const storage = await openStore();
    const pages: number[] = [];
    const listed: string[] = [];
    let cursor: string | undefined;
    do {
      const page = await storage.list({ limit: 1000, cursor });
      pages.push(page.objects.length);
      listed.push(...page.objects.map((o) => o.name));
      cursor = page.nextCursor ?? undefined;
    } while (cursor !== undefined);
    expect(pages).toEqual(Array(10).fill(1000));
    expect(listed).toEqual(sortedByBytes(names));
    expect(await listAll(storage, 'Obj/9', 1000)).toEqual(sortedByBytes(names.filter((n) => n.startsWith('Obj/9'))));
  });
});

describe('LocalStorage: operating-system errors', () => {
  it('beginWrite maps EACCES to PERMISSION_DENIED, with no path in the message', async () => {
    const storage = await openStore();
    // The temporary is created through the callback API (local-storage.ts beginWrite).
    const open = jest.spyOn(fsCallbacks, 'open').mockImplementationOnce(((...args: unknown[]) => {
      const callback = args[args.length - 1] as (err: NodeJS.ErrnoException | null) => void;
      callback(systemError('EACCES'));
    }) as never);
    try {
      const attempt = storage.beginWrite('denied');
      await expect(attempt).rejects.toMatchObject({ name: 'CloudlockerError', reason: 'PERMISSION_DENIED' });
      const message = await attempt.catch((err: Error) => err.message);
      expect(message).not.toContain(storeDir);
      expect(message).not.toContain('secret-user');
      expect(open).toHaveBeenCalledTimes(1);
    } finally {
      open.mockRestore();
    }
  });

  it('writePart maps ENOSPC to NO_SPACE, and abort() still removes the temporary', async () => {
    const storage = await openStore();
    const writer = await storage.beginWrite('full');
    const write = failCallbackOnce('write', systemError('ENOSPC'));
    try {
      await expect(writer.writePart(0, 0, testBytes(10, 7))).rejects.toMatchObject({ reason: 'NO_SPACE' });
    } finally {
      write.mockRestore();
    }
    await writer.abort();
    expect(await tempEntries()).toEqual([]);
    expect(await listAll(storage)).toEqual([]);
  });

  it('complete maps ENOSPC while syncing to NO_SPACE and leaves nothing', async () => {
    const storage = await openStore();
    const writer = await storage.beginWrite('full-at-sync');
    await writer.writePart(0, 0, testBytes(10, 8));
    const sync = failCallbackOnce('fsync', systemError('ENOSPC'));
    try {
      await expect(writer.complete({ overwrite: false })).rejects.toMatchObject({ reason: 'NO_SPACE' });
    } finally {
      sync.mockRestore();
    }
    expect(await tempEntries()).toEqual([]);
    await expect(storage.stat('full-at-sync')).rejects.toMatchObject({ reason: 'NOT_FOUND' });
  });

  it('a background flush that fails while parts land fails complete, though the final fsync would succeed, and leaves nothing', async () => {
    const storage = await openStore();
    const writer = await storage.beginWrite('full-behind');
    const datasync = failCallbackOnce('fdatasync', systemError('ENOSPC'));
    try {
      // Enough bytes for the writer to start flushing behind the writes.
      const part = testBytes(FLUSH_BEHIND_BYTES / 2, 3);
      await writer.writePart(0, 0, part);
      await writer.writePart(1, part.length, part);
      expect(datasync).toHaveBeenCalled();
      await expect(writer.complete({ overwrite: false })).rejects.toMatchObject({ reason: 'NO_SPACE' });
    } finally {
      datasync.mockRestore();
    }
    expect(await tempEntries()).toEqual([]);
    await expect(storage.stat('full-behind')).rejects.toMatchObject({ reason: 'NOT_FOUND' });
  });

  it('readRange maps EIO to STORAGE_UNAVAILABLE, naming the code but no path', async () => {
    const storage = await openStore();
    await putObject(storage, 'flaky', testBytes(10, 9));
    // Object reads go through fs.read on a descriptor (local-storage.ts readFd).
    const read = jest.spyOn(fsCallbacks, 'read').mockImplementationOnce(((...args: unknown[]) => {
      const callback = args[args.length - 1] as (err: NodeJS.ErrnoException | null, bytesRead: number) => void;
      callback(systemError('EIO'), 0);
    }) as unknown as typeof fsCallbacks.read);
    let error: unknown;
    try {
      error = await storage.readRange('flaky', 0, 10).then(
        () => undefined,
        (err: unknown) => err,
      );
    } finally {
      read.mockRestore();
    }
    expect(error).toMatchObject({ name: 'CloudlockerError', reason: 'STORAGE_UNAVAILABLE' });
    expect((error as Error).message).toContain('(EIO)');
    expect((error as Error).message).not.toContain('secret-user');
    expect((error as Error).message).not.toContain(storeDir);
  });

  it('a store directory that is a file fails init() with STORAGE_UNAVAILABLE and no path', async () => {
    const notADirectory = path.join(workDir, 'plain-file');
    await fs.writeFile(notADirectory, '');
    const storage = new LocalStorage({ directory: notADirectory });
    const error = await storage.init().then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(error).toMatchObject({ name: 'CloudlockerError', reason: 'STORAGE_UNAVAILABLE' });
    expect((error as Error).message).toMatch(/\(E[A-Z]+\)/);
    expect((error as Error).message).not.toContain(workDir);
  });
});

describe('LocalStorage: publishing', () => {
  it('fsyncs the temporary before it takes the object\'s name, and the folder after', async () => {
    const storage = await openStore();
    // Which file each step was about: the temporary that then takes the name must be the one fsynced.
    const log: FsStepLog = { steps: [], inodes: [] };
    const { steps, inodes } = log;
    const realLink = fs.link.bind(fs);
    const realRename = fs.rename.bind(fs);
    const fsync = recordFsyncs(log);
    const link = jest.spyOn(fs, 'link').mockImplementation((async (from: string, to: string) => {
      steps.push('link');
      inodes.push(fsCallbacks.statSync(from).ino);
      return realLink(from, to);
    }) as unknown as typeof fs.link);
    const rename = jest.spyOn(fs, 'rename').mockImplementation((async (from: string, to: string) => {
      steps.push('rename');
      inodes.push(fsCallbacks.statSync(from).ino);
      return realRename(from, to);
    }) as unknown as typeof fs.rename);
    try {
      await putObject(storage, 'durable/new', testBytes(10, 20));
      await putObject(storage, 'durable/new', testBytes(10, 21), { overwrite: true });
    } finally {
      fsync.mockRestore();
      link.mockRestore();
      rename.mockRestore();
    }
    // Without overwrite a link, with it a rename: each after its file's fsync, each followed by its folder's.
    const publishes = steps.flatMap((step, index) => (step === 'link' || step === 'rename' ? [index] : []));
    expect(publishes.map((index) => steps[index])).toEqual(['link', 'rename']);
    for (const [n, index] of publishes.entries()) {
      const start = n === 0 ? 0 : (publishes[n - 1] as number) + 1;
      const before = steps.slice(start, index);
      expect(before).toContain('fsync file');
      expect(filesFsyncedBetween(log, start, index)).toContain(inodes[index]);
      expect(steps.slice(index + 1, publishes[n + 1] ?? steps.length)).toContain('fsync folder');
    }
  });

  it('declares atomic no-overwrite when the file system has hard links', async () => {
    const storage = await openStore();
    expect(storage.capabilities).toEqual({ abortCleansUp: true, atomicNoOverwrite: true, headerRewrite: 'in-place' });
  });

  it('without hard links, falls back to check-then-rename and declares atomicNoOverwrite false', async () => {
    const link = jest.spyOn(fs, 'link').mockRejectedValue(systemError('EPERM'));
    try {
      const storage = await openStore();
      expect(storage.capabilities.atomicNoOverwrite).toBe(false);
      await putObject(storage, 'kept', testBytes(10, 10));
      await expect(putObject(storage, 'kept', testBytes(3, 11))).rejects.toMatchObject({ reason: 'ALREADY_EXISTS' });
      expect(Buffer.from(await storage.readRange('kept', 0, 100))).toEqual(Buffer.from(testBytes(10, 10)));
      await putObject(storage, 'other', testBytes(3, 12));
      expect(await listAll(storage)).toEqual(['kept', 'other']);
      expect(await tempEntries()).toEqual([]);
    } finally {
      link.mockRestore();
    }
  });

  it('complete() refuses parts that leave a gap or miss expectedSize, and leaves nothing', async () => {
    const storage = await openStore();
    const gappy = await storage.beginWrite('gappy');
    await gappy.writePart(0, 0, testBytes(10, 13));
    await gappy.writePart(1, 20, testBytes(10, 14));
    await expect(gappy.complete({ overwrite: false })).rejects.toThrow(/Part 1 starts at 20, expected 10/);

    const short = await storage.beginWrite('short', { expectedSize: 100 });
    await short.writePart(0, 0, testBytes(10, 15));
    await expect(short.complete({ overwrite: false })).rejects.toThrow(/expectedSize was 100/);

    expect(await tempEntries()).toEqual([]);
    expect(await listAll(storage)).toEqual([]);
  });

  it('a signal aborted in the middle of a large part stops the write between slices', async () => {
    const storage = await openStore();
    const controller = new AbortController();
    const writer = await storage.beginWrite('large', { signal: controller.signal });
    const realWrite = fsCallbacks.write;
    // The cancel arrives while the first slice is being written.
    const write = jest.spyOn(fsCallbacks, 'write').mockImplementationOnce(((...args: unknown[]) => {
      controller.abort();
      return (realWrite as (...a: unknown[]) => void)(...args);
    }) as never);
    try {
      await expect(writer.writePart(0, 0, new Uint8Array(3 * IO_SLICE_BYTES))).rejects.toMatchObject({ reason: 'CANCELLED' });
      expect(write).toHaveBeenCalledTimes(1);
    } finally {
      write.mockRestore();
    }
    await writer.abort();
    expect(await tempEntries()).toEqual([]);
  });

  it('abort() after complete() keeps the object', async () => {
    const storage = await openStore();
    const writer = await storage.beginWrite('kept');
    await writer.writePart(0, 0, testBytes(10, 16));
    await writer.complete({ overwrite: false });
    await writer.abort();
    expect((await storage.stat('kept')).storedSize).toBe(10);
  });

  it('close() discards writes in progress; the store refuses calls after close and before init', async () => {
    const storage = await openStore();
    const writer = await storage.beginWrite('in-progress');
    await writer.writePart(0, 0, testBytes(10, 17));
    await storage.close();
    expect(await tempEntries()).toEqual([]);
    await expect(writer.complete({ overwrite: false })).rejects.toMatchObject({ reason: 'CANCELLED' });
    await expect(storage.stat('in-progress')).rejects.toMatchObject({ reason: 'STORAGE_UNAVAILABLE' });

    const fresh = new LocalStorage({ directory: storeDir });
    await expect(fresh.stat('x')).rejects.toThrow(/init\(\) must be called/);
  });
});

describe('LocalStorage: parameter checks', () => {
  it.each([
    ['a parent segment', '../escape'],
    ['a parent segment inside', 'a/../../b'],
    ['an absolute path', '/absolute'],
    ['an empty segment', 'a//b'],
    ['a backslash', 'back\\slash'],
    ['a NUL byte', 'nul\u0000byte'],
    ['1025 bytes', 'x'.repeat(1025)],
  ])(
    'every method refuses a name with %s with InvalidParamsError, touching nothing',
    async (_label, name) => {
      const storage = await openStore();
      await expect(storage.beginWrite(name)).rejects.toBeInstanceOf(InvalidParamsError);
      await expect(storage.stat(name)).rejects.toBeInstanceOf(InvalidParamsError);
      await expect(storage.readRange(name, 0, 1)).rejects.toBeInstanceOf(InvalidParamsError);
      await expect(storage.delete(name)).rejects.toBeInstanceOf(InvalidParamsError);
      expect(await walk(storeDir)).toEqual([TEMP_FOLDER]);
    },
  );

  it.each([
    [{ limit: 0 }, 'limit'],
    [{ limit: 1001 }, 'limit'],
    [{ limit: 1.5 }, 'limit'],
    [{ limit: 10, prefix: 'a\ud800' }, 'prefix'],
    [{ limit: 10, cursor: '' }, 'cursor'],
  ])('list(%j) rejects with InvalidParamsError on %s', async (options, param) => {
    const storage = await openStore();
    await expect(storage.list(options)).rejects.toMatchObject({ name: 'InvalidParamsError', param });
  });
});

describe('LocalStorage: readRangeInto (reading into the caller buffer)', () => {
  const size = 1000;
  const data = testBytes(size, 21);

  async function storeWithObject(): Promise<LocalStorage> {
    const storage = await openStore();
    await putObject(storage, 'ranged', data);
    return storage;
  }

  it.each([
    ['the start', 0, 10],
    ['the middle', 500, 123],
    ['the last byte', size - 1, 1],
    ['the whole object', 0, size],
  ])('fills the buffer with the bytes readRange returns at %s and resolves with their count', async (_label, offset, length) => {
    const storage = await storeWithObject();
    const target = new Uint8Array(length);
    expect(await storage.readRangeInto('ranged', offset, target)).toBe(length);
    expect(Buffer.from(target)).toEqual(Buffer.from(await storage.readRange('ranged', offset, length)));
    expect(Buffer.from(target)).toEqual(Buffer.from(data.subarray(offset, offset + length)));
  });

  it('reads fewer bytes when the object ends first and leaves the rest of the buffer as it was', async () => {
    const storage = await storeWithObject();
    const target = new Uint8Array(100).fill(0xee);
    expect(await storage.readRangeInto('ranged', size - 10, target)).toBe(10);
    expect(Buffer.from(target.subarray(0, 10))).toEqual(Buffer.from(data.subarray(size - 10)));
    expect(target.subarray(10).every((byte) => byte === 0xee)).toBe(true);
    expect(await storage.readRangeInto('ranged', size + 5, target)).toBe(0);
  });

  it('rejects a missing name with NOT_FOUND and an aborted signal with CANCELLED, writing nothing', async () => {
    const storage = await storeWithObject();
    const target = new Uint8Array(10).fill(7);
    await expect(storage.readRangeInto('missing', 0, target)).rejects.toMatchObject({ reason: 'NOT_FOUND' });
    const controller = new AbortController();
    controller.abort();
    await expect(storage.readRangeInto('ranged', 0, target, controller.signal)).rejects.toMatchObject({ reason: 'CANCELLED' });
    expect(target.every((byte) => byte === 7)).toBe(true);
    await expect(storage.readRangeInto('ranged', -1, target)).rejects.toBeInstanceOf(RangeError);
  });
});

describe('LocalStorage: openReader (one open of an object for many reads)', () => {
  const size = 1000;
  const data = testBytes(size, 23);

  it('reads ranges into the caller buffer as readRangeInto does, fewer bytes only at the end', async () => {
    const storage = await openStore();
    await putObject(storage, 'opened', data);
    const reader = await storage.openReader('opened');
    try {
      for (const [offset, length] of [[0, 10], [500, 123], [size - 1, 1], [0, size]] as const) {
        const target = new Uint8Array(length);
        expect(await reader.readInto(offset, target)).toBe(length);
        expect(Buffer.from(target)).toEqual(Buffer.from(data.subarray(offset, offset + length)));
      }
      const tail = new Uint8Array(100).fill(0xee);
      expect(await reader.readInto(size - 10, tail)).toBe(10);
      expect(Buffer.from(tail.subarray(0, 10))).toEqual(Buffer.from(data.subarray(size - 10)));
      expect(tail.subarray(10).every((byte) => byte === 0xee)).toBe(true);
      expect(await reader.readInto(size + 5, tail)).toBe(0);
      await expect(reader.readInto(-1, tail)).rejects.toBeInstanceOf(RangeError);
    } finally {
      await reader.close();
    }
  });

  it('keeps reading the version it opened after the name is replaced or deleted', async () => {
    const storage = await openStore();
    await putObject(storage, 'opened', data);
    const reader = await storage.openReader('opened');
    await putObject(storage, 'opened', testBytes(size, 99), { overwrite: true });
    const target = new Uint8Array(size);
    expect(await reader.readInto(0, target)).toBe(size);
    expect(Buffer.from(target)).toEqual(Buffer.from(data));
    await storage.delete('opened');
    expect(await reader.readInto(0, target)).toBe(size);
    expect(Buffer.from(target)).toEqual(Buffer.from(data));
    await reader.close();
  });

  it('rejects a missing name with NOT_FOUND, an aborted signal with CANCELLED and reads after close(), writing nothing', async () => {
    const storage = await openStore();
    await putObject(storage, 'opened', data);
    await expect(storage.openReader('missing')).rejects.toMatchObject({ reason: 'NOT_FOUND' });
    const controller = new AbortController();
    controller.abort();
    await expect(storage.openReader('opened', controller.signal)).rejects.toMatchObject({ reason: 'CANCELLED' });
    const reader = await storage.openReader('opened');
    const target = new Uint8Array(10).fill(7);
    await expect(reader.readInto(0, target, controller.signal)).rejects.toMatchObject({ reason: 'CANCELLED' });
    await reader.close();
    await reader.close();
    await expect(reader.readInto(0, target)).rejects.toThrow('after close()');
    expect(target.every((byte) => byte === 7)).toBe(true);
  });
});

describe('LocalStorage: rewriteHeader on disk', () => {
  it('keeps the object file mode, leaves no temporary, and a failure before publishing leaves the old file untouched', async () => {
    const storage = await openStore();
    const info = await putObject(storage, 'shared.bin', Buffer.concat([testBytes(64, 1), testBytes(9000, 2)]));
    const file = path.join(storeDir, ...encodeObjectPath('shared.bin'));
    await fs.chmod(file, 0o640);
    const renamed = await storage.rewriteHeader('shared.bin', (await storage.stat('shared.bin')).version!, 64, testBytes(100, 3));
    expect(renamed.version).not.toBe(info.version);
    if (process.platform !== 'win32') expect((await fs.stat(file)).mode & 0o777).toBe(0o640);
    expect(await tempEntries()).toEqual([]);

    // The rename fails (disk gone, say): the old object stays as it was, the temporary is removed.
    const before = await fs.readFile(file);
    jest.spyOn(fs, 'rename').mockRejectedValueOnce(Object.assign(new Error('EIO: i/o error'), { code: 'EIO' }));
    await expect(storage.rewriteHeader('shared.bin', renamed.version!, 100, testBytes(10, 4))).rejects.toMatchObject({
      reason: 'STORAGE_UNAVAILABLE',
    });
    expect((await fs.readFile(file)).equals(before)).toBe(true);
    expect(await tempEntries()).toEqual([]);
  });
});

describe('LocalStorage: user metadata sidecars', () => {
  const metaEntries = () => fs.readdir(path.join(storeDir, META_FOLDER));

  it('one sidecar per object with metadata, removed with the object, replaced with it, and orphans removed by init()', async () => {
    const storage = await openStore();
    await putObject(storage, 'a', testBytes(10, 1), { metadata: { kind: 'one' } });
    await putObject(storage, 'b', testBytes(10, 2));
    expect(await metaEntries()).toHaveLength(1);
    await putObject(storage, 'a', testBytes(11, 3), { overwrite: true, metadata: { kind: 'two' } });
    expect(await metaEntries()).toHaveLength(1);
    expect((await storage.stat('a')).metadata).toEqual({ kind: 'two' });
    await storage.delete('a');
    expect(await metaEntries()).toEqual([]);

    // A crash between writing a sidecar and publishing leaves one of no object: the next init() removes it.
    await putObject(storage, 'c', testBytes(10, 4), { metadata: { kind: 'kept' } });
    await fs.writeFile(path.join(storeDir, META_FOLDER, `${'0'.repeat(64)}.x.1.2.json`), '{"metadata":{}}');
    await storage.close();
    const next = await openStore();
    expect(await metaEntries()).toHaveLength(1);
    expect((await next.stat('c')).metadata).toEqual({ kind: 'kept' });
  });

  it('a sidecar bound to another version is never taken for the current object\'s', async () => {
    const storage = await openStore();
    const first = await putObject(storage, 'v', testBytes(10, 5), { metadata: { kind: 'old' } });
    const [sidecar] = await metaEntries();
    const kept = await fs.readFile(path.join(storeDir, META_FOLDER, sidecar!));
    await putObject(storage, 'v', testBytes(10, 6), { overwrite: true });
    // The old version's sidecar put back by hand (a failed removal): it names the old version only.
    await fs.writeFile(path.join(storeDir, META_FOLDER, sidecar!), kept);
    expect(sidecar).toContain(first.version);
    expect((await storage.stat('v')).metadata).toBeUndefined();
  });
});
