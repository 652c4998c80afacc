import { createHash, randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile, appendFile, stat } from 'node:fs/promises';
import fsCallbacks from 'node:fs';
import fsPromises from 'node:fs/promises';
import { jest } from '@jest/globals';
import os from 'node:os';
import path from 'node:path';
import type { TransferFinishedParams, TransferProgressParams } from '../../protocol/index.js';
import { CHUNK_SIZE, createKeyFile, masterKeyCredentials, v1Encryption, type MasterKey } from '../../src/crypto/index.js';
import { CloudlockerError } from '../../src/errors.js';
import { FLUSH_BEHIND_BYTES } from '../../src/fs/flush-behind.js';
import { LocalStorage } from '../../src/storage/index.js';
import type { Storage } from '../../src/storage/storage.js';
import { gatedStorage, hookedStorage } from '../helpers/storage-wrappers.js';
import { filesFsyncedBetween, recordFsyncs, type FsStepLog } from '../helpers/fs-calls.js';
import { inspectSource } from '../../src/transfer/local-files.js';
import { TransferEngine } from '../../src/transfer/transfer-engine.js';
import { TransferRegistry } from '../../src/transfer/transfer-registry.js';

interface Fixture {
  dir: string;
  storage: LocalStorage;
  engine: TransferEngine;
  key: MasterKey;
  progress: TransferProgressParams[];
  finished: TransferFinishedParams[];
  writeSource(name: string, bytes: Buffer): Promise<string>;
  cleanup(): Promise<void>;
}

async function fixture(options: { storage?: (local: LocalStorage) => Storage; maxConcurrentTransfers?: number; maxQueuedTransfers?: number } = {}): Promise<Fixture> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'cloudlocker-engine-'));
  const storage = new LocalStorage({ directory: path.join(dir, 'store') });
  await storage.init();
  const registry = new TransferRegistry({ progressIntervalMs: 10 });
  const engine = new TransferEngine({
    storage: options.storage ? options.storage(storage) : storage,
    registry,
    partConcurrency: 3,
    chunksPerPart: 2,
    ...(options.maxConcurrentTransfers === undefined ? {} : { maxConcurrentTransfers: options.maxConcurrentTransfers }),
    ...(options.maxQueuedTransfers === undefined ? {} : { maxQueuedTransfers: options.maxQueuedTransfers }),
  });
  const { key } = await createKeyFile(path.join(dir, 'k.key.json'));
  const progress: TransferProgressParams[] = [];
  const finished: TransferFinishedParams[] = [];
  registry.on('transferProgress', (p) => progress.push(p));
  registry.on('transferFinished', (f) => finished.push(f));
  return {
    dir,
    storage,
    engine,
    key,
    progress,
    finished,
    async writeSource(name, bytes) {
      const file = path.join(dir, name);
      await writeFile(file, bytes);
      return file;
    },
    async cleanup() {
      await engine.close();
      await storage.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

async function uploadBytes(f: Fixture, name: string, bytes: Buffer, extra: { transferId?: string; overwrite?: boolean } = {}) {
  const file = await f.writeSource(`${name.replace(/\//g, '_')}.src`, bytes);
  return f.engine.upload({
    source: await inspectSource(file),
    name,
    overwrite: extra.overwrite ?? false,
    encryption: v1Encryption(f.key),
    keyPath: 'k',
    keyCreated: false,
    ...(extra.transferId === undefined ? {} : { transferId: extra.transferId }),
  });
}

describe('TransferEngine with the local store', () => {
  let f: Fixture;
  afterEach(async () => f?.cleanup());

  it.each([0, 1, CHUNK_SIZE - 1, CHUNK_SIZE, CHUNK_SIZE + 1, 5 * CHUNK_SIZE + 17])(
    'round-trips %i bytes through parts of two chunks',
    async (size) => {
      f = await fixture();
      const bytes = randomBytes(size);
      const uploaded = await uploadBytes(f, 'dir/file.bin', bytes);
      expect(uploaded).toMatchObject({ name: 'dir/file.bin', size, keyId: f.key.keyId });
      const out = path.join(f.dir, 'out.bin');
      const downloaded = await f.engine.download({ name: 'dir/file.bin', destination: out, overwrite: false, credentials: masterKeyCredentials(f.key) });
      expect(downloaded).toEqual({ transferId: downloaded.transferId, name: 'dir/file.bin', path: out, size });
      expect(sha256(await readFile(out))).toBe(sha256(bytes));
      expect((await readdir(f.dir)).filter((n) => n.includes('cloudlocker-part'))).toEqual([]);
    },
  );

  it('reads every part of a download through one reader of the object, closed at the end, also when a part fails authentication', async () => {
    const counts = { openReader: 0, readInto: 0, closed: 0, readRangeInto: 0 };
    f = await fixture({
      storage: (local) =>
        new Proxy(local, {
          get(target, property) {
            if (property === 'openReader') {
              return async (name: string, signal?: AbortSignal) => {
                counts.openReader += 1;
                const reader = await target.openReader(name, signal);
                return {
                  readInto: (offset: number, into: Uint8Array, readSignal?: AbortSignal) => {
                    counts.readInto += 1;
                    return reader.readInto(offset, into, readSignal);
                  },
                  close: async () => {
                    counts.closed += 1;
                    await reader.close();
                  },
                };
              };
            }
            if (property === 'readRangeInto') counts.readRangeInto += 1;
            const value = Reflect.get(target, property, target) as unknown;
            return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
          },
        }),
    });
    const bytes = randomBytes(5 * CHUNK_SIZE + 17);
    await uploadBytes(f, 'one-open.bin', bytes);
    const out = path.join(f.dir, 'one-open.out');
    await f.engine.download({ name: 'one-open.bin', destination: out, overwrite: false, credentials: masterKeyCredentials(f.key) });
    expect(sha256(await readFile(out))).toBe(sha256(bytes));
    // Six chunks in parts of two: three parts, one open.
    expect(counts).toEqual({ openReader: 1, readInto: 3, closed: 1, readRangeInto: 0 });

    // A byte of the stored payload flipped on disk: the part fails authentication, nothing is saved, the reader is closed.
    const [object] = (await readdir(path.join(f.dir, 'store'), { recursive: true })).filter((entry) => entry.endsWith('@'));
    const objectPath = path.join(f.dir, 'store', object!);
    const stored = await readFile(objectPath);
    stored[stored.length - 40] ^= 0x01;
    await writeFile(objectPath, stored);
    const tamperedOut = path.join(f.dir, 'tampered.out');
    await expect(
      f.engine.download({ name: 'one-open.bin', destination: tamperedOut, overwrite: false, credentials: masterKeyCredentials(f.key) }),
    ).rejects.toMatchObject({ reason: 'INTEGRITY' });
    expect(counts.openReader).toBe(2);
    expect(counts.closed).toBe(2);
    expect((await readdir(f.dir)).filter((n) => n.startsWith('tampered') || n.includes('cloudlocker-part'))).toEqual([]);
  });

  it('reports monotonic progress ending at the total, then one finish per transfer', async () => {
    f = await fixture();
    const size = 9 * CHUNK_SIZE + 5;
    const result = await uploadBytes(f, 'p.bin', randomBytes(size), { transferId: 'progress-1' });
    const mine = f.progress.filter((p) => p.transferId === 'progress-1');
    const counters = mine.map((p) => p.transferredBytes);
    expect(counters).toEqual([...counters].sort((a, b) => a - b));
    expect(mine.at(-1)).toMatchObject({ state: 'completed', cryptoBytes: size, transferredBytes: size });
    const finishes = f.finished.filter((p) => p.transferId === 'progress-1');
    expect(finishes).toEqual([expect.objectContaining({ outcome: 'completed', result })]);
    expect(finishes[0]!.seq).toBeGreaterThan(mine.at(-1)!.seq);
  });

  it('refuses a transferId that is already in use', async () => {
    f = await fixture();
    await uploadBytes(f, 'a', randomBytes(10), { transferId: 'same' });
    await expect(uploadBytes(f, 'b', randomBytes(10), { transferId: 'same' })).rejects.toMatchObject({ param: 'transferId' });
  });

  it('fails with SOURCE_CHANGED when the source grows during the upload, and stores nothing', async () => {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    f = await fixture({ storage: (local) => gatedStorage(local, gate) });
    const file = await f.writeSource('grow.bin', randomBytes(8 * CHUNK_SIZE));
    const source = await inspectSource(file);
    const pending = f.engine.upload({ transferId: 'grow', source, name: 'grow.bin', overwrite: false, encryption: v1Encryption(f.key), keyPath: 'k', keyCreated: false });
    await waitFor(() => f.progress.some((p) => p.transferId === 'grow' && p.state === 'running'));
    await appendFile(file, randomBytes(100));
    release();
    await expect(pending).rejects.toMatchObject({ reason: 'SOURCE_CHANGED' });
    await expect(f.storage.stat('grow.bin')).rejects.toMatchObject({ reason: 'NOT_FOUND' });
  });

  it('cancels a running upload promptly, answers CANCELLED and leaves nothing in the store', async () => {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    f = await fixture({ storage: (local) => gatedStorage(local, gate) });
    const pending = uploadBytes(f, 'big.bin', randomBytes(20 * CHUNK_SIZE), { transferId: 'cancel-me' });
    await waitFor(() => f.progress.some((p) => p.transferId === 'cancel-me' && p.state === 'running'));
    expect(f.engine.cancel('cancel-me')).toEqual({ transferId: 'cancel-me', cancelled: true });
    release();
    await expect(pending).rejects.toMatchObject({ reason: 'CANCELLED' });
    expect(f.finished.find((x) => x.transferId === 'cancel-me')).toMatchObject({ outcome: 'cancelled', error: { code: -32007 } });
    expect((await f.storage.list({ limit: 10 })).objects).toEqual([]);
    expect(await readdir(path.join(f.dir, 'store', '.tmp'))).toEqual([]);
    expect(f.engine.cancel('cancel-me')).toEqual({ transferId: 'cancel-me', cancelled: false });
    expect(() => f.engine.cancel('nope')).toThrow(CloudlockerError);
  });

  it('cancels a running download and leaves no file and no temporary', async () => {
    f = await fixture();
    await uploadBytes(f, 'dl.bin', randomBytes(20 * CHUNK_SIZE));
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const slow = new TransferEngine({ storage: gatedStorage(f.storage, gate), registry: f.engine.registry, chunksPerPart: 2 });
    const outDir = path.join(f.dir, 'out');
    await import('node:fs/promises').then((fs) => fs.mkdir(outDir));
    const pending = slow.download({ transferId: 'dl-cancel', name: 'dl.bin', destination: outDir, overwrite: false, credentials: masterKeyCredentials(f.key) });
    await waitFor(() => f.progress.some((p) => p.transferId === 'dl-cancel' && p.state === 'running'));
    slow.cancel('dl-cancel');
    release();
    await expect(pending).rejects.toMatchObject({ reason: 'CANCELLED' });
    expect(await readdir(outDir)).toEqual([]);
  });

  it('queues transfers beyond the running limit and refuses with BUSY beyond the queue cap', async () => {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    f = await fixture({ storage: (local) => gatedStorage(local, gate), maxConcurrentTransfers: 1, maxQueuedTransfers: 1 });
    const first = uploadBytes(f, 'q1', randomBytes(10), { transferId: 'q1' });
    await waitFor(() => f.progress.some((p) => p.transferId === 'q1' && p.state === 'running'));
    const second = uploadBytes(f, 'q2', randomBytes(10), { transferId: 'q2' });
    await waitFor(() => f.progress.some((p) => p.transferId === 'q2'));
    expect(f.engine.registry.get('q2')?.state).toBe('queued');
    await expect(uploadBytes(f, 'q3', randomBytes(10), { transferId: 'q3' })).rejects.toMatchObject({ reason: 'BUSY' });
    // Cancelling a queued transfer takes it out of the queue without running it.
    f.engine.cancel('q2');
    await expect(second).rejects.toMatchObject({ reason: 'CANCELLED' });
    release();
    await expect(first).resolves.toMatchObject({ name: 'q1' });
    expect(f.progress.filter((p) => p.transferId === 'q2').map((p) => p.state)).not.toContain('running');
  });

  it('frees the queue place of a cancelled queued transfer at once, so it no longer counts towards BUSY', async () => {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    f = await fixture({ storage: (local) => gatedStorage(local, gate), maxConcurrentTransfers: 1, maxQueuedTransfers: 2 });
    const running = uploadBytes(f, 'r', randomBytes(10), { transferId: 'r' });
    await waitFor(() => f.engine.registry.get('r')?.state === 'running');
    const queued = [uploadBytes(f, 'a', randomBytes(10), { transferId: 'a' }), uploadBytes(f, 'b', randomBytes(10), { transferId: 'b' })];
    await waitFor(() => f.engine.registry.has('a') && f.engine.registry.has('b'));
    f.engine.cancel('a');
    f.engine.cancel('b');
    await Promise.all(queued.map((p) => expect(p).rejects.toMatchObject({ reason: 'CANCELLED' })));
    const third = uploadBytes(f, 'c', randomBytes(10), { transferId: 'c' });
    await waitFor(() => f.engine.registry.has('c'));
    release();
    await expect(third).resolves.toMatchObject({ name: 'c' });
    await expect(running).resolves.toMatchObject({ name: 'r' });
  });

  it('chooses parts large enough for a store that caps the number of parts', async () => {
    const partSizes: number[] = [];
    f = await fixture({
      storage: (local) => {
        const capped: Storage = {
          ...hookedStorage(local, {}),
          beginWrite: async (name, options) => {
            const writer = await local.beginWrite(name, options);
            return {
              minPartSize: writer.minPartSize,
              maxParts: 3,
              writePart: (index, offset, data) => {
                partSizes[index] = data.length;
                return writer.writePart(index, offset, data);
              },
              complete: (o) => writer.complete(o),
              abort: () => writer.abort(),
            };
          },
        };
        return capped;
      },
    });
    const bytes = randomBytes(20 * CHUNK_SIZE + 1);
    await uploadBytes(f, 'capped.bin', bytes);
    expect(partSizes.length).toBeLessThanOrEqual(3);
    const out = path.join(f.dir, 'capped.out');
    await f.engine.download({ name: 'capped.bin', destination: out, overwrite: false, credentials: masterKeyCredentials(f.key) });
    expect(sha256(await readFile(out))).toBe(sha256(bytes));
  });

  it('runs eight uploads at once and each one verifies', async () => {
    f = await fixture();
    const sources = Array.from({ length: 8 }, (_, i) => randomBytes(3 * CHUNK_SIZE + i * 1000));
    await Promise.all(sources.map((bytes, i) => uploadBytes(f, `many/${i}`, bytes)));
    for (const [i, bytes] of sources.entries()) {
      const out = path.join(f.dir, `many-${i}.out`);
      await f.engine.download({ name: `many/${i}`, destination: out, overwrite: false, credentials: masterKeyCredentials(f.key) });
      expect(sha256(await readFile(out))).toBe(sha256(bytes));
    }
  });

  it('a storage failure in one part fails the transfer with that error and aborts the write', async () => {
    f = await fixture({
      storage: (local) =>
        hookedStorage(local, {
          beforeWritePart: async (index) => {
            if (index === 2) throw new CloudlockerError('NO_SPACE');
          },
        }),
    });
    await expect(uploadBytes(f, 'full.bin', randomBytes(10 * CHUNK_SIZE))).rejects.toMatchObject({ reason: 'NO_SPACE' });
    expect((await f.storage.list({ limit: 10 })).objects).toEqual([]);
    expect(await readdir(path.join(f.dir, 'store', '.tmp'))).toEqual([]);
  });

  it('a download whose destination fails a background flush fails with that error, leaving no file and no temporary', async () => {
    f = await fixture();
    // Large enough for the destination to be flushed behind the writes (FLUSH_BEHIND_BYTES).
    const bytes = randomBytes(FLUSH_BEHIND_BYTES + 3 * CHUNK_SIZE);
    await uploadBytes(f, 'big.bin', bytes);
    const outDir = path.join(f.dir, 'out');
    await mkdir(outDir);
    const failure = Object.assign(new Error('ENOSPC: no space left on device, fdatasync'), { code: 'ENOSPC', errno: -28, syscall: 'fdatasync' });
    // The download's temporary is written and flushed through the callback API on its descriptor (local-files.ts DestinationFile).
    const datasync = jest.spyOn(fsCallbacks, 'fdatasync').mockImplementationOnce(((_fd: number, callback: (err: NodeJS.ErrnoException | null) => void) => {
      callback(failure);
    }) as never);
    try {
      await expect(f.engine.download({ name: 'big.bin', destination: outDir, overwrite: false, credentials: masterKeyCredentials(f.key) })).rejects.toMatchObject({
        reason: 'NO_SPACE',
      });
      expect(datasync).toHaveBeenCalled();
    } finally {
      datasync.mockRestore();
    }
    expect(await readdir(outDir)).toEqual([]);
  });

  it('fsyncs a download\'s temporary before it takes the target\'s name', async () => {
    f = await fixture();
    await uploadBytes(f, 'durable.bin', randomBytes(3 * CHUNK_SIZE + 5));
    const out = path.join(f.dir, 'durable.out');
    // Which file each step was about: the temporary that takes the target's name must be the one fsynced.
    const log: FsStepLog = { steps: [], inodes: [] };
    const { steps, inodes } = log;
    const fsync = recordFsyncs(log);
    const realLink = fsPromises.link.bind(fsPromises);
    // Without overwrite the temporary takes the name with link() (src/fs/publish.ts).
    const link = jest.spyOn(fsPromises, 'link').mockImplementation((async (from: string, to: string) => {
      steps.push(to === out ? 'link target' : 'link');
      inodes.push(fsCallbacks.statSync(from).ino);
      return realLink(from, to);
    }) as unknown as typeof fsPromises.link);
    try {
      await f.engine.download({ name: 'durable.bin', destination: out, overwrite: false, credentials: masterKeyCredentials(f.key) });
    } finally {
      fsync.mockRestore();
      link.mockRestore();
    }
    expect(steps).toContain('link target');
    const linked = steps.indexOf('link target');
    expect(steps.slice(0, linked)).toContain('fsync file');
    expect(filesFsyncedBetween(log, 0, linked)).toContain(inodes[linked]);
  });

  it('refuses to replace an existing download target unless overwrite is set', async () => {
    f = await fixture();
    await uploadBytes(f, 'o.bin', Buffer.from('new content'));
    const out = path.join(f.dir, 'o.out');
    await writeFile(out, 'old content');
    await expect(f.engine.download({ name: 'o.bin', destination: out, overwrite: false, credentials: masterKeyCredentials(f.key) })).rejects.toMatchObject({
      reason: 'ALREADY_EXISTS',
    });
    expect(await readFile(out, 'utf8')).toBe('old content');
    await f.engine.download({ name: 'o.bin', destination: out, overwrite: true, credentials: masterKeyCredentials(f.key) });
    expect(await readFile(out, 'utf8')).toBe('new content');
    expect((await stat(out)).mode & 0o777).toBe(0o600);
  });
});

async function waitFor(condition: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}
