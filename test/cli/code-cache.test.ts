/**
 * The bundle's V8 code cache (src/cli/code-cache.ts): where it lives, the
 * file's checks, and that no cache file, whatever its state, keeps the main
 * file from running: a cache that is truncated, corrupt, another file's, or
 * one V8 itself refuses is ignored and replaced. test/bundle runs the same
 * cases through the real bundle.
 */
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import vm from 'node:vm';
import {
  CODE_CACHE_DIRECTORY,
  CODE_CACHE_MAGIC,
  codeCacheDirectory,
  codeCacheFileName,
  decodeCodeCache,
  encodeCodeCache,
  runMainWithCodeCache,
  runtimeDescription,
  type CodeCacheKey,
} from '../../src/cli/code-cache.js';
import { platformDataDir } from '../../src/config/data-dir.js';

const key: CodeCacheKey = { source: 'a'.repeat(64), runtime: 'node v20.0.0; v8 11.3; linux-x64; /usr/bin/node' };
const data = Buffer.from(Array.from({ length: 4096 }, (_value, index) => (index * 7) % 256));

describe('codeCacheDirectory', () => {
  const cwd = path.resolve('/work/here');
  it('is code-cache/ in the data directory the command uses: the last --data-dir (either form), else CLOUDLOCKER_DATA_DIR, else the platform one', () => {
    expect(codeCacheDirectory(['node', 'x.mjs', 'serve', '--data-dir', '/d/one'], {}, cwd)).toBe(path.resolve('/d/one', CODE_CACHE_DIRECTORY));
    expect(codeCacheDirectory(['node', 'x.mjs', 'serve', '--data-dir=/d/two', '--port', '0'], {}, cwd)).toBe(path.resolve('/d/two', CODE_CACHE_DIRECTORY));
    expect(codeCacheDirectory(['node', 'x.mjs', 'ls', '--data-dir', '/d/one', '--data-dir', '/d/two'], {}, cwd)).toBe(path.resolve('/d/two', CODE_CACHE_DIRECTORY));
    expect(codeCacheDirectory(['node', 'x.mjs', 'serve', '--data-dir', 'rel'], {}, cwd)).toBe(path.join(cwd, 'rel', CODE_CACHE_DIRECTORY));
    expect(codeCacheDirectory(['node', 'x.mjs', 'serve'], { CLOUDLOCKER_DATA_DIR: '/d/env' }, cwd)).toBe(path.resolve('/d/env', CODE_CACHE_DIRECTORY));
    expect(codeCacheDirectory(['node', 'x.mjs', 'serve', '--data-dir', '/d/flag'], { CLOUDLOCKER_DATA_DIR: '/d/env' }, cwd)).toBe(path.resolve('/d/flag', CODE_CACHE_DIRECTORY));
    const env = { HOME: '/home/u', XDG_DATA_HOME: '/x' };
    expect(codeCacheDirectory(['node', 'x.mjs', 'serve'], env, cwd)).toBe(path.join(path.resolve(cwd, platformDataDir(env)), CODE_CACHE_DIRECTORY));
    // After "--" it is an operand, not the flag; an empty value is no value.
    expect(codeCacheDirectory(['node', 'x.mjs', 'upload', '--', '--data-dir', '/d/no'], { CLOUDLOCKER_DATA_DIR: '/d/env' }, cwd)).toBe(path.resolve('/d/env', CODE_CACHE_DIRECTORY));
    expect(codeCacheDirectory(['node', 'x.mjs', 'serve', '--data-dir='], { CLOUDLOCKER_DATA_DIR: '/d/env' }, cwd)).toBe(path.resolve('/d/env', CODE_CACHE_DIRECTORY));
  });

  it('is off with CLOUDLOCKER_CODE_CACHE=off (or 0, false)', () => {
    for (const value of ['off', 'OFF', '0', 'false']) expect(codeCacheDirectory(['node', 'x.mjs', 'serve', '--data-dir', '/d'], { CLOUDLOCKER_CODE_CACHE: value }, '/')).toBeUndefined();
    expect(codeCacheDirectory(['node', 'x.mjs', 'serve', '--data-dir', '/d'], { CLOUDLOCKER_CODE_CACHE: 'on' }, '/')).toBe(path.resolve('/d', CODE_CACHE_DIRECTORY));
  });
});

describe('the cache file', () => {
  it('gives back the data for the same main file and runtime', () => {
    const read = decodeCodeCache(encodeCodeCache(key, data), key);
    expect(read).toEqual({ ok: true, data });
  });

  it('is one file per runtime, and the runtime names node/Electron, V8, platform and binary', () => {
    expect(codeCacheFileName(key.runtime)).toMatch(/^cloudlocker-[0-9a-f]{16}\.v8cache$/);
    expect(codeCacheFileName(key.runtime)).not.toBe(codeCacheFileName(`${key.runtime}x`));
    const runtime = runtimeDescription();
    expect(runtime).toContain(process.versions.v8);
    expect(runtime).toContain(process.execPath);
    expect(runtimeDescription({ ...process, versions: { ...process.versions, electron: '45.6.1' } })).toContain('electron 45.6.1');
  });

  it('refuses every truncation, a flipped byte anywhere in the data, an edited header, and another main file or runtime', () => {
    const file = encodeCodeCache(key, data);
    for (let length = 0; length < file.length; length += 97) expect(decodeCodeCache(file.subarray(0, length), key).ok).toBe(false);
    expect(decodeCodeCache(file.subarray(0, file.length - 1), key)).toMatchObject({ ok: false, reason: expect.stringContaining('truncated') });
    expect(decodeCodeCache(Buffer.concat([file, Buffer.from([0])]), key)).toMatchObject({ ok: false, reason: expect.stringContaining('extended') });
    const headerLength = file.indexOf(0x0a, CODE_CACHE_MAGIC.length) + 1;
    for (const offset of [headerLength, headerLength + 1000, file.length - 1]) {
      const flipped = Buffer.from(file);
      flipped[offset] ^= 0x01;
      expect(decodeCodeCache(flipped, key)).toEqual({ ok: false, reason: 'data does not match its checksum' });
    }
    const editedHeader = Buffer.from(file.toString('latin1').replace('"length":4096', '"length":4095'), 'latin1');
    expect(decodeCodeCache(editedHeader, key).ok).toBe(false);
    const brokenJson = Buffer.from(file);
    brokenJson[CODE_CACHE_MAGIC.length] = 0x78; // the header's '{' → 'x': no longer JSON
    expect(decodeCodeCache(brokenJson, key)).toEqual({ ok: false, reason: 'unreadable header' });
    expect(decodeCodeCache(file, { ...key, source: 'b'.repeat(64) })).toEqual({ ok: false, reason: 'made for another main file' });
    expect(decodeCodeCache(file, { ...key, runtime: 'electron' })).toEqual({ ok: false, reason: 'made by another runtime' });
    expect(decodeCodeCache(Buffer.alloc(0), key)).toEqual({ ok: false, reason: 'not a cloudlocker code cache' });
    expect(decodeCodeCache(data, key)).toEqual({ ok: false, reason: 'not a cloudlocker code cache' });
    expect(decodeCodeCache(Buffer.from(`${CODE_CACHE_MAGIC}null\n`), key)).toEqual({ ok: false, reason: 'unreadable header' });
  });
});

describe('runMainWithCodeCache', () => {
  let work: string;
  let dataDir: string;
  let mainFile: string;
  beforeEach(async () => {
    work = await mkdtemp(path.join(tmpdir(), 'cloudlocker-code-cache-'));
    dataDir = path.join(work, 'data');
    await mkdir(dataDir);
    mainFile = path.join(work, 'cloudlocker-main.js');
    // A main file as tools/bundle.ts writes it: a function expression taking the module's stand-ins. Each run adds its
    // arguments to a list the test hands over through the one static "chunk".
    await writeFile(
      mainFile,
      "(function (exports, require, module, __cloudlockerEntryUrl, __cloudlockerImport) {'use strict';\n" +
        'const runs = require("./chunks/shared.mjs").runs;\n' +
        'function square(x) { return x * x; }\n' +
        'runs.push({ entryUrl: __cloudlockerEntryUrl, square: square(7), path: require("node:path").sep, strict: this === undefined });\n' +
        'module.exports.finished = Promise.resolve();\n' +
        '})',
    );
  });
  afterEach(async () => {
    await rm(work, { recursive: true, force: true });
  });

  function start(env: Record<string, string> = {}) {
    const runs: unknown[] = [];
    const outcome = runMainWithCodeCache({
      mainFile,
      entryUrl: pathToFileURL(path.join(work, 'cloudlocker.mjs')).href,
      modules: new Map([['./chunks/shared.mjs', { runs }]]),
      argv: ['node', 'cloudlocker.mjs', 'serve', '--data-dir', dataDir],
      env,
      cwd: work,
    });
    expect(runs).toEqual([{ entryUrl: pathToFileURL(path.join(work, 'cloudlocker.mjs')).href, square: 49, path: path.sep, strict: true }]);
    return outcome;
  }

  const cacheFile = () => path.join(dataDir, CODE_CACHE_DIRECTORY, codeCacheFileName(runtimeDescription()));

  it('runs without a cache, writes one (0600, in a 0700 directory), and the next start uses it', async () => {
    const first = start();
    expect(first.status).toBe('none');
    expect(await first.written).toBe(true);
    const second = start();
    expect(second).toEqual({ status: 'accepted', cacheFile: cacheFile() });
    expect(second.written).toBeUndefined();
    if (process.platform !== 'win32') {
      expect((await stat(cacheFile())).mode & 0o777).toBe(0o600);
      expect((await stat(path.dirname(cacheFile()))).mode & 0o777).toBe(0o700);
    }
  });

  it('ignores and replaces a corrupt, truncated or unrelated cache file', async () => {
    expect(await start().written).toBe(true);
    const good = await readFile(cacheFile());
    const flipped = Buffer.from(good);
    flipped[flipped.length - 10] ^= 0xff;
    const cases: Array<[string, Buffer]> = [
      ['flipped', flipped],
      ['truncated', good.subarray(0, good.length - 100)],
      ['empty', Buffer.alloc(0)],
      ['random', Buffer.from(Array.from({ length: 5000 }, (_value, index) => (index * 31) % 256))],
    ];
    for (const [, bytes] of cases) {
      await writeFile(cacheFile(), bytes);
      const outcome = start();
      expect(outcome.status).toBe('invalid');
      expect(await outcome.written).toBe(true);
      expect(start().status).toBe('accepted');
    }
  });

  it('falls back to compiling from source when V8 refuses the cache, and replaces it', async () => {
    // A main file this process has not compiled yet (V8 would otherwise take it from its in-memory compilation
    // cache and never look at the file: test/bundle does this across processes).
    await writeFile(mainFile, `${await readFile(mainFile, 'utf8')}\n// ${Date.now()} ${Math.random()}`);
    const source = createHash('sha256').update(await readFile(mainFile)).digest('hex');
    // Whole, and made for this file and runtime as far as the header says, but V8's data is another script's.
    const foreignData = new vm.Script(`globalThis.notCloudlocker = ${Math.random()};`).createCachedData();
    await mkdir(path.dirname(cacheFile()), { recursive: true });
    await writeFile(cacheFile(), encodeCodeCache({ source, runtime: runtimeDescription() }, foreignData));
    const outcome = start();
    expect(outcome.status).toBe('rejected');
    expect(await outcome.written).toBe(true);
    expect(start().status).toBe('accepted');
  });

  it('runs when the cache cannot be read or written, and when the data directory does not exist', async () => {
    await mkdir(cacheFile(), { recursive: true }); // a directory where the file should be
    const unreadable = start();
    expect(unreadable.status).toBe('unreadable');
    expect(await unreadable.written).toBe(false);
    await rm(dataDir, { recursive: true });
    const noDataDir = start();
    expect(noDataDir.status).toBe('none');
    expect(await noDataDir.written).toBe(false);
    await expect(stat(dataDir)).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('does nothing with CLOUDLOCKER_CODE_CACHE=off', async () => {
    const outcome = start({ CLOUDLOCKER_CODE_CACHE: 'off' });
    expect(outcome).toEqual({ status: 'off' });
    await expect(stat(path.join(dataDir, CODE_CACHE_DIRECTORY))).rejects.toMatchObject({ code: 'ENOENT' });
  });
});
