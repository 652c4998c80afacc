/**
 * The reserved-name guard on its own, over a real local store: every Storage
 * call given a name under .cloudlocker/ is refused, listings skip those names
 * and still fill their pages, and the unguarded store still reaches them.
 */
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { InvalidParamsError } from '../../src/errors.js';
import { LocalStorage } from '../../src/storage/index.js';
import { guardReservedNames, isReservedName } from '../../src/storage/reserved-names.js';
import type { Storage } from '../../src/storage/storage.js';
import { remoteNameProblem } from '../../protocol/index.js';
import { makeTempDir } from '../helpers/server.js';

async function put(storage: Storage, name: string, text: string): Promise<void> {
  const writer = await storage.beginWrite(name);
  await writer.writePart(0, 0, Buffer.from(text));
  await writer.complete({ overwrite: true });
}

describe('reserved names', () => {
  let dir: string;
  let raw: LocalStorage;
  let guarded: Storage;
  beforeEach(async () => {
    dir = await makeTempDir('cloudlocker-reserved-');
    raw = new LocalStorage({ directory: path.join(dir, 'store') });
    await raw.init();
    guarded = guardReservedNames(raw);
    await put(raw, '.cloudlocker/identities/alice', 'copy');
  });
  afterEach(async () => {
    await raw.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('the rule: .cloudlocker and everything under .cloudlocker/, nothing else', () => {
    for (const name of ['.cloudlocker', '.cloudlocker/x', '.cloudlocker/identities/alice']) {
      expect(isReservedName(name)).toBe(true);
      expect(remoteNameProblem(name)).toMatch(/reserved/);
    }
    for (const name of ['.cloudlockers', 'cloudlocker/x', '.Cloudlocker/x', 'a/.cloudlocker/x', '.cloudlocker-x']) {
      expect(isReservedName(name)).toBe(false);
      expect(remoteNameProblem(name)).toBeUndefined();
    }
  });

  it('refuses every call that names one', async () => {
    const name = '.cloudlocker/identities/alice';
    const calls: Array<() => Promise<unknown>> = [
      () => guarded.stat(name),
      () => guarded.readRange(name, 0, 10),
      () => guarded.readRangeInto!(name, 0, Buffer.alloc(4)),
      () => guarded.openReader!(name),
      () => guarded.delete(name),
      () => guarded.beginWrite(name),
      () => guarded.beginWrite('.cloudlocker/new'),
      () => guarded.resumeWrite(name, 'token', { parts: [] }),
      () => guarded.discardWrite(name, 'token'),
    ];
    for (const call of calls) await expect(call()).rejects.toBeInstanceOf(InvalidParamsError);
    expect(Buffer.from(await raw.readRange(name, 0, 10)).toString()).toBe('copy');
  });

  it('a stream over one fails when read', async () => {
    const stream = guardReservedNames({ ...raw, readRangeStream: async function* () { yield Buffer.from('copy'); } } as unknown as Storage).readRangeStream!(
      '.cloudlocker/identities/alice',
      0,
      4,
    );
    await expect((async () => {
      for await (const _ of stream) void _;
    })()).rejects.toBeInstanceOf(InvalidParamsError);
  });

  it('lists around them, filling pages, and a prefix inside them lists nothing', async () => {
    await put(raw, '-a', '1');
    await put(raw, '.cloudlocker/identities/bob', 'copy');
    await put(raw, 'b', '2');
    expect((await raw.list({ limit: 10 })).objects.map((o) => o.name)).toEqual(['-a', '.cloudlocker/identities/alice', '.cloudlocker/identities/bob', 'b']);
    expect((await guarded.list({ limit: 10 })).objects.map((o) => o.name)).toEqual(['-a', 'b']);
    const first = await guarded.list({ limit: 1 });
    expect(first.objects.map((o) => o.name)).toEqual(['-a']);
    const second = await guarded.list({ limit: 1, cursor: first.nextCursor! });
    expect(second).toEqual({ objects: [expect.objectContaining({ name: 'b' })], nextCursor: null });
    expect(await guarded.list({ limit: 10, prefix: '.cloudlocker/' })).toEqual({ objects: [], nextCursor: null });
    expect((await guarded.list({ limit: 10, prefix: '.cloud' })).objects).toEqual([]);
  });

  it('keeps the folder view (delimiter): folders pass through, the reserved folder does not', async () => {
    await put(raw, 'a.txt', 'a');
    await put(raw, 'docs/one.txt', '1');
    await put(raw, 'docs/sub/two.txt', '2');
    const root = await guarded.list({ prefix: '', delimiter: '/', limit: 10 });
    expect(root.objects.map((o) => o.name)).toEqual(['a.txt']);
    expect(root.folders?.map((f) => f.name)).toEqual(['docs/']);
    expect(root.nextCursor).toBeNull();
    const docs = await guarded.list({ prefix: 'docs/', delimiter: '/', limit: 10 });
    expect(docs.objects.map((o) => o.name)).toEqual(['docs/one.txt']);
    expect(docs.folders?.map((f) => f.name)).toEqual(['docs/sub/']);
    expect(await guarded.list({ prefix: '.cloudlocker/', delimiter: '/', limit: 10 })).toEqual({ objects: [], folders: [], nextCursor: null });
  });

  it('passes everything else through', async () => {
    await put(guarded, 'plain', 'hello');
    expect(Buffer.from(await guarded.readRange('plain', 0, 5)).toString()).toBe('hello');
    expect((await guarded.stat('plain')).storedSize).toBe(5);
    expect(guarded.kind).toBe('local');
    await guarded.delete('plain');
    await expect(guarded.stat('plain')).rejects.toMatchObject({ reason: 'NOT_FOUND' });
  });
});
