/**
 * A folder upload across a clean shutdown, in process (local store): the
 * shutdown interrupts the group (its request answers CANCELLED with
 * interrupted: true), the next start lists it as interrupted with its file
 * counters, a key file protected by a passphrase (v1 format here; the kill -9
 * suite uses age) makes it wait for resumeTransfer, and the resume stores
 * only the files not done, under the same id, byte-exact.
 */
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { createKeyFile } from '../../src/crypto/index.js';
import { LocalStorage } from '../../src/storage/local/local-storage.js';
import type { Storage } from '../../src/storage/storage.js';
import { makeTempDir, openClient, type TestServer } from '../helpers/server.js';
import { slowStorage, startTestService } from '../helpers/service.js';

const PASSPHRASE = 'the passphrase of the group test';
const FILES = 60;

/** The store, with the names of the objects whose writes began recorded in `began`. */
function recordingWrites(inner: Storage, began: string[]): Storage {
  return new Proxy(inner, {
    get(target, property) {
      if (property === 'beginWrite') {
        return (name: string, options: Parameters<Storage['beginWrite']>[1]) => {
          began.push(name);
          return target.beginWrite(name, options);
        };
      }
      const value = Reflect.get(target, property, target) as unknown;
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  });
}

describe('folder group: clean shutdown, restart, resumeTransfer', () => {
  let dir: string;
  let dataDir: string;
  let server: TestServer | undefined;

  beforeEach(async () => {
    dir = await makeTempDir('cloudlocker-group-shutdown-');
    dataDir = path.join(dir, 'data');
  });
  afterEach(async () => {
    await server?.close();
    server = undefined;
    await rm(dir, { recursive: true, force: true });
  });

  const start = (began: string[]) =>
    startTestService({
      dataDir,
      resumeOnStart: true,
      storageBackend: recordingWrites(slowStorage(new LocalStorage({ directory: path.join(dataDir, 'store') }), 20), began),
    });

  it('interrupts the group, lists it with its counters, waits for the passphrase, then stores only what was not done', async () => {
    const tree = path.join(dir, 'album');
    const sizes: number[] = [];
    for (let index = 0; index < FILES; index++) {
      await mkdir(path.join(tree, `part ${index % 4}`), { recursive: true });
      sizes.push(500 + index * 101);
      await writeFile(path.join(tree, `part ${index % 4}`, `photo-${index}.jpg`), randomBytes(sizes[index]!));
    }
    const total = sizes.reduce((sum, size) => sum + size, 0);
    const keyPath = path.join(dir, 'album.key.json');
    await createKeyFile(keyPath, { passphrase: PASSPHRASE });

    const beganRun1: string[] = [];
    server = await start(beganRun1);
    let client = await openClient(server);
    const answer = client.call('uploadFolder', { path: tree, keyPath, keyPassphrase: PASSPHRASE, transferId: 'album-1' });
    await client.waitForNotification(
      (n) => n.method === 'transferProgress' && n.params['transferId'] === 'album-1' && ((n.params['group'] as { filesDone: number }).filesDone ?? 0) >= 20,
    );
    await server.close();
    server = undefined;
    const response = await answer;
    expect(response.error?.data).toMatchObject({ reason: 'CANCELLED', interrupted: true });
    const journal = await readdir(path.join(dataDir, 'transfers'));
    expect(journal).toEqual(expect.arrayContaining(['album-1.json', 'album-1.done']));
    // The record holds the key file's path; neither the passphrase nor anything of the key.
    for (const file of journal) expect(await readFile(path.join(dataDir, 'transfers', file), 'utf8')).not.toContain(PASSPHRASE);

    const beganRun2: string[] = [];
    server = await start(beganRun2);
    client = await openClient(server);
    const listed = (await client.request('listTransfers', {})).transfers.find((t) => t.transferId === 'album-1');
    // Its key needs a passphrase: it waits, interrupted, with the counters of what was done.
    expect(listed).toMatchObject({ state: 'interrupted', direction: 'upload', name: 'album', totalBytes: total });
    const group = listed!.group!;
    expect(group.filesTotal).toBe(FILES);
    expect(group.filesDone).toBeGreaterThanOrEqual(20);
    expect(group.filesDone).toBeLessThan(FILES);
    expect(listed!.transferredBytes).toBeGreaterThan(0);
    const storedBefore = new Set(
      (await client.request('listFiles', { prefix: 'album/' })).files.map((file) => `${file.name}@${file.modifiedAt}`),
    );
    expect(storedBefore.size).toBeGreaterThanOrEqual(group.filesDone);

    const refused = await client.call('resumeTransfer', { transferId: 'album-1' });
    expect(refused.error?.data?.['reason']).toBe('KEY_INVALID');
    expect((await client.request('listTransfers', {})).transfers.find((t) => t.transferId === 'album-1')?.state).toBe('interrupted');

    const result = await client.request('resumeTransfer', { transferId: 'album-1', keyPassphrase: PASSPHRASE });
    expect(result).toMatchObject({ transferId: 'album-1', name: 'album', filesTotal: FILES, filesStored: FILES, size: total, failed: [] });
    // Files stored before the shutdown were neither written again nor replaced.
    const writtenAgain = beganRun2.filter((name) => [...storedBefore].some((entry) => entry.startsWith(`${name}@`)));
    expect(writtenAgain).toEqual([]);
    expect(beganRun2.length).toBe(FILES - storedBefore.size);
    const storedAfter = new Set((await client.request('listFiles', { prefix: 'album/' })).files.map((file) => `${file.name}@${file.modifiedAt}`));
    for (const entry of storedBefore) expect(storedAfter.has(entry)).toBe(true);
    // The group's progress went on from the bytes done before (v1 totals: plaintext bytes).
    const progress = client.notifications.filter((n) => n.method === 'transferProgress' && n.params['transferId'] === 'album-1');
    expect(progress[0]?.params['transferredBytes']).toBe(listed!.transferredBytes);
    expect(progress.at(-1)?.params).toMatchObject({ state: 'completed', transferredBytes: total, totalBytes: total });

    // Byte-exact round trip.
    const restore = path.join(dir, 'restore');
    await client.request('downloadFolder', { name: 'album', keyPath, keyPassphrase: PASSPHRASE, destination: restore, createDirectories: true });
    for (let index = 0; index < FILES; index++) {
      const relative = path.join(`part ${index % 4}`, `photo-${index}.jpg`);
      const digest = async (file: string) => createHash('sha256').update(await readFile(file)).digest('hex');
      expect(await digest(path.join(restore, 'album', relative))).toBe(await digest(path.join(tree, relative)));
    }
    await client.close();
  }, 120_000);

  it('cancelTransfer of an interrupted download group discards its journal and temporaries, keeps the files it saved', async () => {
    const tree = path.join(dir, 'docs');
    await mkdir(tree, { recursive: true });
    // 200 small files: they run up to 8 to a slot, 32 at once, so fewer would all be saved before the shutdown lands.
    for (let index = 0; index < 200; index++) await writeFile(path.join(tree, `doc-${index}.txt`), randomBytes(700 + index));
    const keyPath = path.join(dir, 'docs.key.json');
    await createKeyFile(keyPath);
    server = await start([]);
    let client = await openClient(server);
    await client.request('uploadFolder', { path: tree, keyPath, transferId: 'docs-up' });
    const restore = path.join(dir, 'restore');
    await mkdir(restore);
    const answer = client.call('downloadFolder', { name: 'docs', keyPath, destination: restore, transferId: 'docs-down' });
    await client.waitForNotification(
      (n) => n.method === 'transferProgress' && n.params['transferId'] === 'docs-down' && ((n.params['group'] as { filesDone: number }).filesDone ?? 0) >= 10,
    );
    await server.close();
    server = undefined;
    expect((await answer).error?.data).toMatchObject({ reason: 'CANCELLED', interrupted: true });
    const savedBefore = (await readdir(path.join(restore, 'docs'))).filter((entry) => entry.endsWith('.txt'));
    expect(savedBefore.length).toBeGreaterThanOrEqual(10);

    // Restarted without resuming by itself: it waits, interrupted, and is cancelled.
    server = await startTestService({ dataDir, resumeOnStart: false, storageBackend: new LocalStorage({ directory: path.join(dataDir, 'store') }) });
    client = await openClient(server);
    expect((await client.request('listTransfers', {})).transfers.find((t) => t.transferId === 'docs-down')?.state).toBe('interrupted');
    expect(await client.request('cancelTransfer', { transferId: 'docs-down' })).toEqual({ transferId: 'docs-down', cancelled: true });
    const journal = await readdir(path.join(dataDir, 'transfers'));
    expect(journal.filter((file) => file.startsWith('docs-down'))).toEqual([]);
    const left = await readdir(path.join(restore, 'docs'));
    expect(left.filter((entry) => entry.endsWith('.cloudlocker-part'))).toEqual([]);
    expect(left.filter((entry) => entry.endsWith('.txt')).sort()).toEqual([...savedBefore].sort());
    expect((await client.request('listTransfers', {})).transfers.find((t) => t.transferId === 'docs-down')?.state).toBe('cancelled');
    await client.close();
  }, 120_000);
});
