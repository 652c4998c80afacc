/**
 * Resuming after a clean shutdown, in process: the shutdown interrupts a
 * journaled upload (its partial object is kept, not discarded), the next
 * start lists it as interrupted, and resumeTransfer continues it — with the
 * passphrase its key file needs, which is never journaled. Run for both key
 * formats: a v1 key file and an age identity (format v2).
 */
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { createHash, randomBytes } from 'node:crypto';
import { readdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { LocalStorage } from '../../src/storage/local/local-storage.js';
import { makeTempDir, openClient, type TestServer } from '../helpers/server.js';
import { slowStorage, startTestService } from '../helpers/service.js';
import { hookedStorage } from '../helpers/storage-wrappers.js';
import { KEY_FORMATS } from '../helpers/key-formats.js';

const MiB = 1024 * 1024;
const PASSPHRASE = 'the passphrase of this test';

describe.each(KEY_FORMATS)('clean shutdown and resumeTransfer ($title)', (keyFormat) => {
  let dir: string;
  let dataDir: string;
  let server: TestServer | undefined;

  beforeEach(async () => {
    dir = await makeTempDir('cloudlocker-shutdown-resume-');
    dataDir = path.join(dir, 'data');
  });
  afterEach(async () => {
    await server?.close();
    server = undefined;
    await rm(dir, { recursive: true, force: true });
  });

  const start = () =>
    startTestService({
      dataDir,
      resumeOnStart: false,
      storageBackend: slowStorage(new LocalStorage({ directory: path.join(dataDir, 'store') }), 25),
    });
  /** As start(), but parts from the 7th on are held until their transfer stops: the shutdown always finds the upload unfinished. */
  const startHoldingLaterParts = () =>
    startTestService({
      dataDir,
      resumeOnStart: false,
      storageBackend: hookedStorage(new LocalStorage({ directory: path.join(dataDir, 'store') }), {
        beforeWritePart: async (partIndex, signal) => {
          if (partIndex < 6 || signal === undefined || signal.aborted) return;
          await new Promise((resolve) => signal.addEventListener('abort', resolve, { once: true }));
        },
      }),
    });

  it('keeps an interrupted upload, lists it after the restart and resumes it with the passphrase', async () => {
    const source = path.join(dir, 'file.bin');
    const content = randomBytes(12 * MiB);
    await writeFile(source, content);
    const keyPath = path.join(dir, keyFormat.fileName);
    await keyFormat.create(keyPath, PASSPHRASE);

    server = await startHoldingLaterParts();
    let client = await openClient(server);
    const answer = client.call('upload', { path: source, keyPath, keyPassphrase: PASSPHRASE, name: 'file.bin', transferId: 'up-1' });
    await client.waitForNotification(
      (n) => n.method === 'transferProgress' && n.params['transferId'] === 'up-1' && (n.params['transferredBytes'] as number) > 0,
    );
    const firstInstance = (await client.request('listTransfers', {})).instanceId;
    await server.close();
    server = undefined;
    const response = await answer;
    expect(response.error?.data).toMatchObject({ reason: 'CANCELLED', interrupted: true });
    expect(await readdir(path.join(dataDir, 'store', '.tmp'))).toHaveLength(1);
    expect(await readdir(path.join(dataDir, 'transfers'))).toEqual(['up-1.json', 'up-1.parts']);

    server = await start();
    client = await openClient(server);
    const afterRestart = await client.request('listTransfers', {});
    // A new instance id tells a restart from a gap, whatever the seqs say.
    expect(afterRestart.instanceId).toEqual(expect.any(String));
    expect(afterRestart.instanceId).not.toBe(firstInstance);
    const listed = afterRestart.transfers.find((t) => t.transferId === 'up-1');
    expect(listed).toMatchObject({ state: 'interrupted', direction: 'upload', name: 'file.bin' });
    const doneBefore = listed!.transferredBytes;
    expect(doneBefore).toBeGreaterThan(0);

    // Without the passphrase the key cannot be read: the transfer stays interrupted.
    const refused = await client.call('resumeTransfer', { transferId: 'up-1' });
    expect(refused.error?.data?.['reason']).toBe('KEY_INVALID');
    expect((await client.request('listTransfers', {})).transfers.find((t) => t.transferId === 'up-1')?.state).toBe('interrupted');

    const result = await client.request('resumeTransfer', { transferId: 'up-1', keyPassphrase: PASSPHRASE });
    expect(result).toMatchObject({ transferId: 'up-1', name: 'file.bin', size: content.length });
    const progress = client.notifications.filter((n) => n.method === 'transferProgress' && n.params['transferId'] === 'up-1');
    expect(progress[0]?.params['transferredBytes']).toBe(doneBefore);

    // What was stored decrypts to the file.
    const target = path.join(dir, 'back.bin');
    await client.request('download', { name: 'file.bin', keyPath, keyPassphrase: PASSPHRASE, destination: target });
    const digest = (data: Buffer) => createHash('sha256').update(data).digest('hex');
    expect(digest(await readFile(target))).toBe(digest(content));
    expect(await client.request('getFileInfo', { name: 'file.bin' })).toMatchObject({ format: keyFormat.stored });

    const again = await client.call('resumeTransfer', { transferId: 'up-1' });
    expect(again.error?.code).toBe(-32602);
    const unknown = await client.call('resumeTransfer', { transferId: 'no-such-transfer' });
    expect(unknown.error?.data?.['reason']).toBe('NOT_FOUND');

    // After another restart the finished transfer is listed with its result, from the journal.
    await client.close();
    await server.close();
    server = await start();
    client = await openClient(server);
    const finished = (await client.request('listTransfers', {})).transfers.find((t) => t.transferId === 'up-1');
    expect(finished).toMatchObject({ state: 'completed', result: { transferId: 'up-1', name: 'file.bin', size: content.length, keyPath: path.resolve(keyPath) } });
    await client.close();
  }, 90_000);

  it('keeps an interrupted download and resumes it with ranged reads of only the parts not yet written', async () => {
    const source = path.join(dir, 'stored.bin');
    const content = randomBytes(12 * MiB);
    await writeFile(source, content);
    const keyPath = path.join(dir, keyFormat.fileName);
    await keyFormat.create(keyPath, PASSPHRASE);
    server = await start();
    let client = await openClient(server);
    await client.request('upload', { path: source, keyPath, keyPassphrase: PASSPHRASE, name: 'stored.bin' });
    const { storedSize } = await client.request('getFileInfo', { name: 'stored.bin' });
    await server.close();

    // Run 1: reads past 6 MiB wait until their transfer stops, so the shutdown always finds the download unfinished.
    const readsBefore: number[] = [];
    server = await startTestService({
      dataDir,
      resumeOnStart: false,
      storageBackend: hookedStorage(new LocalStorage({ directory: path.join(dataDir, 'store') }), {
        beforeReadRange: async (offset, signal) => {
          if (offset < 6 * MiB || signal === undefined || signal.aborted) {
            readsBefore.push(offset);
            return;
          }
          await new Promise((resolve) => signal.addEventListener('abort', resolve, { once: true }));
        },
      }),
    });
    client = await openClient(server);
    const target = path.join(dir, 'back.bin');
    const answer = client.call('download', { name: 'stored.bin', keyPath, keyPassphrase: PASSPHRASE, destination: target, transferId: 'down-1' });
    await client.waitForNotification(
      (n) => n.method === 'transferProgress' && n.params['transferId'] === 'down-1' && (n.params['transferredBytes'] as number) > 0,
    );
    await server.close();
    server = undefined;
    expect((await answer).error?.data).toMatchObject({ reason: 'CANCELLED', interrupted: true });

    // Run 2: every ranged read recorded.
    const readsAfter: Array<{ offset: number; length: number }> = [];
    server = await startTestService({
      dataDir,
      resumeOnStart: false,
      storageBackend: new Proxy(new LocalStorage({ directory: path.join(dataDir, 'store') }), {
        get(inner, property) {
          const value = Reflect.get(inner, property, inner) as unknown;
          if (typeof value === 'function' && (property === 'readRange' || property === 'readRangeStream' || property === 'readRangeInto')) {
            // readRange and readRangeStream take a length, readRangeInto a buffer to fill.
            return (name: string, offset: number, lengthOrTarget: number | Uint8Array, ...rest: unknown[]) => {
              readsAfter.push({ offset, length: typeof lengthOrTarget === 'number' ? lengthOrTarget : lengthOrTarget.length });
              return (value as (...args: unknown[]) => unknown).call(inner, name, offset, lengthOrTarget, ...rest);
            };
          }
          if (property === 'openReader') {
            // A download's parts are read through one reader of the object: its reads are recorded too.
            return async (name: string, signal?: AbortSignal) => {
              const reader = await inner.openReader(name, signal);
              return {
                readInto: (offset: number, target: Uint8Array, readSignal?: AbortSignal) => {
                  readsAfter.push({ offset, length: target.length });
                  return reader.readInto(offset, target, readSignal);
                },
                close: () => reader.close(),
              };
            };
          }
          return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(inner) : value;
        },
      }),
    });
    client = await openClient(server);
    const listed = (await client.request('listTransfers', {})).transfers.find((t) => t.transferId === 'down-1');
    expect(listed).toMatchObject({ state: 'interrupted', direction: 'download', name: 'stored.bin' });
    const doneBefore = listed!.transferredBytes;
    expect(doneBefore).toBeGreaterThan(0);
    expect(doneBefore).toBeLessThan(content.length);
    await client.request('resumeTransfer', { transferId: 'down-1', keyPassphrase: PASSPHRASE });
    expect((await readFile(target)).equals(content)).toBe(true);

    // Only the parts not written before the shutdown were read again, by ranges of the
    // stored object: at most its size less the plaintext already done (a done part's
    // stored bytes are at least its plaintext bytes), plus one header read; none past its end.
    expect(readsAfter.filter((read) => read.offset > 0).length).toBeGreaterThan(0);
    for (const read of readsAfter) expect(read.offset + read.length).toBeLessThanOrEqual(storedSize!);
    const readBytes = readsAfter.reduce((sum, read) => sum + read.length, 0);
    expect(readBytes).toBeLessThanOrEqual(storedSize! - doneBefore + 64 * 1024);
    expect(readsBefore.length).toBeGreaterThan(0);
    await client.close();
  }, 90_000);

  it('an upload that crashed while publishing its object is found complete, not sent again', async () => {
    const source = path.join(dir, 'small.bin');
    await writeFile(source, randomBytes(3 * MiB));
    const keyPath = path.join(dir, `plain.${keyFormat.fileName}`);
    await keyFormat.create(keyPath);
    server = await start();
    let client = await openClient(server);
    const uploaded = await client.request('upload', { path: source, keyPath, name: 'small.bin', transferId: 'published' });
    expect(await client.request('getFileInfo', { name: 'small.bin' })).toMatchObject({ format: keyFormat.stored });
    await server.close();
    server = undefined;
    // As the journal stands after a crash between publishing and recording the outcome.
    const journalFile = path.join(dataDir, 'transfers', 'published.json');
    const { outcome: _outcome, result: _result, finishedAt: _finishedAt, ...record } = JSON.parse(await readFile(journalFile, 'utf8')) as Record<string, unknown>;
    await writeFile(journalFile, JSON.stringify({ ...record, state: 'active', committing: true }));

    server = await startTestService({ dataDir, storageBackend: new LocalStorage({ directory: path.join(dataDir, 'store') }) });
    client = await openClient(server);
    const deadline = Date.now() + 5000;
    let state: string | undefined;
    while (Date.now() < deadline && state !== 'completed') {
      state = (await client.request('listTransfers', {})).transfers.find((t) => t.transferId === 'published')?.state;
      if (state !== 'completed') await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(state).toBe('completed');
    const stored = JSON.parse(await readFile(journalFile, 'utf8')) as { outcome: string; result: unknown };
    expect(stored.outcome).toBe('completed');
    expect(stored.result).toEqual(uploaded);

    // The same for a download that crashed while moving its file into place.
    const target = path.join(dir, 'small.out');
    const downloaded = await client.request('download', { name: 'small.bin', keyPath, destination: target, transferId: 'saved' });
    await server.close();
    server = undefined;
    const downloadJournal = path.join(dataDir, 'transfers', 'saved.json');
    const { outcome: _o, result: _r, finishedAt: _f, ...downloadRecord } = JSON.parse(await readFile(downloadJournal, 'utf8')) as Record<
      string,
      unknown
    >;
    await writeFile(downloadJournal, JSON.stringify({ ...downloadRecord, state: 'active', committing: true }));
    server = await startTestService({ dataDir, storageBackend: new LocalStorage({ directory: path.join(dataDir, 'store') }) });
    client = await openClient(server);
    let downloadState: string | undefined;
    for (const until = Date.now() + 5000; Date.now() < until && downloadState !== 'completed'; ) {
      downloadState = (await client.request('listTransfers', {})).transfers.find((t) => t.transferId === 'saved')?.state;
      if (downloadState !== 'completed') await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(downloadState).toBe('completed');
    // A result restored from the journal has no author (protocol: "absent ... for a download
    // resumed after a restart"); everything else is the answer the download gave.
    const { author: _author, ...withoutAuthor } = downloaded;
    expect((JSON.parse(await readFile(downloadJournal, 'utf8')) as { result: unknown }).result).toEqual(withoutAuthor);
  });
});
