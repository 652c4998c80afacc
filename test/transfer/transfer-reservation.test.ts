/**
 * TransferEngine.reserving: a request's transferId is held while the
 * request is checked, before the transfer exists (the end-to-end race is in
 * test/methods/cancel-before-start.integration.test.ts).
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { TransferFinishedParams } from '../../protocol/index.js';
import { createKeyFile, v1Encryption, type MasterKey } from '../../src/crypto/index.js';
import { CloudlockerError, InvalidParamsError } from '../../src/errors.js';
import { LocalStorage } from '../../src/storage/index.js';
import { inspectSource } from '../../src/transfer/local-files.js';
import { TransferEngine } from '../../src/transfer/transfer-engine.js';
import { TransferRegistry } from '../../src/transfer/transfer-registry.js';

describe('TransferEngine.reserving', () => {
  let dir: string;
  let storage: LocalStorage;
  let registry: TransferRegistry;
  let engine: TransferEngine;
  let key: MasterKey;
  let finished: TransferFinishedParams[];

  beforeEach(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'cloudlocker-reserve-'));
    storage = new LocalStorage({ directory: path.join(dir, 'store') });
    await storage.init();
    registry = new TransferRegistry();
    engine = new TransferEngine({ storage, registry, tuneGarbageCollection: false });
    ({ key } = await createKeyFile(path.join(dir, 'k.key.json')));
    finished = [];
    registry.on('transferFinished', (f) => finished.push(f));
  });

  afterEach(async () => {
    await engine.close();
    await storage.close();
    await rm(dir, { recursive: true, force: true });
  });

  async function uploadRequest(file: string) {
    await writeFile(path.join(dir, file), 'some bytes');
    return { source: await inspectSource(path.join(dir, file)), name: file, overwrite: false, encryption: v1Encryption(key), keyPath: 'k', keyCreated: false };
  }

  it('starts a transfer cancelled while its request was checked as cancelled, and stores nothing', async () => {
    const pending = engine.reserving('upload', 'r1', 'a.bin', async (reservation) => {
      const request = await uploadRequest('a.bin');
      expect(engine.cancel('r1')).toEqual({ transferId: 'r1', cancelled: true });
      return engine.upload({ ...request, reservation });
    });
    await expect(pending).rejects.toMatchObject({ reason: 'CANCELLED' });
    expect(finished).toEqual([expect.objectContaining({ transferId: 'r1', outcome: 'cancelled', direction: 'upload', name: 'a.bin' })]);
    expect((await storage.list({ limit: 10 })).objects).toEqual([]);
  });

  it('answers CANCELLED, and lists a cancelled transfer, when the checks of a cancelled request fail', async () => {
    const pending = engine.reserving('download', 'r2', 'b.bin', async () => {
      engine.cancel('r2');
      throw new CloudlockerError('NOT_FOUND');
    });
    await expect(pending).rejects.toMatchObject({ reason: 'CANCELLED' });
    expect(registry.get('r2')).toMatchObject({ state: 'cancelled', direction: 'download', name: 'b.bin' });
    expect(finished.map((f) => f.outcome)).toEqual(['cancelled']);
  });

  it('releases the id of a request that failed before its transfer started, uncancelled', async () => {
    await expect(
      engine.reserving('upload', 'r3', 'c.bin', async () => {
        throw new CloudlockerError('NOT_FOUND');
      }),
    ).rejects.toMatchObject({ reason: 'NOT_FOUND' });
    expect(registry.get('r3')).toBeUndefined();
    expect(() => engine.cancel('r3')).toThrow(expect.objectContaining({ reason: 'NOT_FOUND' }));
    const result = await engine.reserving('upload', 'r3', 'c.bin', async (reservation) =>
      engine.upload({ ...(await uploadRequest('c.bin')), reservation }),
    );
    expect(result).toMatchObject({ transferId: 'r3', name: 'c.bin' });
  });

  it('refuses a second reservation of an id held, and an id of a listed transfer', async () => {
    let release!: () => void;
    const held = engine.reserving('upload', 'r4', 'd.bin', () => new Promise<void>((resolve) => (release = resolve)));
    await expect(engine.reserving('upload', 'r4', 'e.bin', async () => undefined)).rejects.toBeInstanceOf(InvalidParamsError);
    release();
    await held;
    await engine.reserving('upload', 'r5', 'f.bin', async (reservation) => engine.upload({ ...(await uploadRequest('f.bin')), reservation }));
    await expect(engine.reserving('upload', 'r5', 'g.bin', async () => undefined)).rejects.toBeInstanceOf(InvalidParamsError);
  });
});
