/**
 * A folder group's small files share a slot (transfer-engine.ts,
 * SMALL_FILES_PER_SLOT): more of them are in flight than
 * maxConcurrentTransfers, never more than a slot's worth per slot; a larger
 * file still takes a whole slot; and a transfer that waits for a slot is not
 * starved by the group, which queues for each batch behind it.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { randomBytes, randomUUID } from 'node:crypto';
import { createKeyFile, storedFormats, v1Encryption, type MasterKey } from '../../src/crypto/index.js';
import { LocalStorage } from '../../src/storage/index.js';
import { walkFolder } from '../../src/transfer/folder-walk.js';
import { inspectSource } from '../../src/transfer/local-files.js';
import { SMALL_FILE_BYTES, SMALL_FILES_PER_SLOT, TransferEngine } from '../../src/transfer/transfer-engine.js';
import { TransferRegistry } from '../../src/transfer/transfer-registry.js';
import { runFolderUpload } from '../../src/transfer/upload-group.js';
import { hookedStorage } from '../helpers/storage-wrappers.js';

const SLOTS = 2;

interface Fixture {
  dir: string;
  storage: LocalStorage;
  engine: TransferEngine;
  key: MasterKey;
  /** Objects between "publishing" and published, now and at most. */
  publishing: { now: number; most: number; mostLarge: number; largeNow: number };
  completed: string[];
}

let f: Fixture | undefined;

afterEach(async () => {
  await f?.engine.close();
  await f?.storage.close();
  if (f !== undefined) await rm(f.dir, { recursive: true, force: true });
  f = undefined;
});

async function fixture(): Promise<Fixture> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'cloudlocker-slots-'));
  const storage = new LocalStorage({ directory: path.join(dir, 'store') });
  await storage.init();
  const publishing = { now: 0, most: 0, mostLarge: 0, largeNow: 0 };
  const completed: string[] = [];
  const hooked = hookedStorage(storage, {});
  // Every publish is held 15 ms, so the files a slot runs at once overlap there and are counted.
  const counting = {
    ...hooked,
    beginWrite: async (name: string, options?: Parameters<typeof storage.beginWrite>[1]) => {
      const writer = await hooked.beginWrite(name, options);
      const large = (options?.expectedSize ?? 0) > SMALL_FILE_BYTES;
      return {
        ...writer,
        minPartSize: writer.minPartSize,
        get resumeToken() {
          return writer.resumeToken;
        },
        writePart: (index: number, offset: number, data: Uint8Array) => writer.writePart(index, offset, data),
        abort: () => writer.abort(),
        complete: async (completeOptions: Parameters<typeof writer.complete>[0]) => {
          publishing.now += 1;
          publishing.most = Math.max(publishing.most, publishing.now);
          if (large) publishing.mostLarge = Math.max(publishing.mostLarge, ++publishing.largeNow);
          try {
            await new Promise((resolve) => setTimeout(resolve, 15));
            return await writer.complete(completeOptions);
          } finally {
            publishing.now -= 1;
            if (large) publishing.largeNow -= 1;
            completed.push(name);
          }
        },
      };
    },
  };
  const engine = new TransferEngine({ storage: counting, registry: new TransferRegistry({ progressIntervalMs: 10 }), maxConcurrentTransfers: SLOTS });
  const { key } = await createKeyFile(path.join(dir, 'k.key.json'));
  return { dir, storage, engine, key, publishing, completed };
}

async function makeFolder(dir: string, files: Array<{ name: string; size: number }>): Promise<string> {
  const root = path.join(dir, 'tree');
  await mkdir(root, { recursive: true });
  for (const file of files) await writeFile(path.join(root, file.name), randomBytes(file.size));
  return root;
}

async function uploadFolder(fx: Fixture, root: string, name: string) {
  return runFolderUpload(fx.engine, fx.storage, storedFormats, {
    reservation: { transferId: randomUUID(), direction: 'upload', name, abortController: new AbortController() },
    name,
    contents: await walkFolder(root, name),
    overwrite: false,
    encryptionFor: () => v1Encryption(fx.key),
    keyPath: 'k',
    keyCreated: false,
  });
}

const smallFiles = (count: number) => Array.from({ length: count }, (_, i) => ({ name: `s${String(i).padStart(3, '0')}.bin`, size: 100 + i }));

describe('a group of small files', () => {
  it('runs more of them at once than maxConcurrentTransfers, at most a slot\'s worth per slot, and stores every one', async () => {
    f = await fixture();
    const root = await makeFolder(f.dir, smallFiles(40));
    const result = await uploadFolder(f, root, 'small');
    expect(result).toMatchObject({ filesTotal: 40, filesStored: 40, failed: [] });
    expect(f.publishing.most).toBeGreaterThan(SLOTS);
    expect(f.publishing.most).toBeLessThanOrEqual(SLOTS * SMALL_FILES_PER_SLOT);
    expect((await f.storage.list({ prefix: 'small/', limit: 100 })).objects).toHaveLength(40);
  });

  it('gives a file larger than SMALL_FILE_BYTES a whole slot, as any transfer', async () => {
    f = await fixture();
    const root = await makeFolder(f.dir, Array.from({ length: 6 }, (_, i) => ({ name: `l${i}.bin`, size: SMALL_FILE_BYTES + 1 + i })));
    const result = await uploadFolder(f, root, 'large');
    expect(result).toMatchObject({ filesTotal: 6, filesStored: 6, failed: [] });
    expect(f.publishing.mostLarge).toBeLessThanOrEqual(SLOTS);
    expect(f.publishing.most).toBeLessThanOrEqual(SLOTS);
  });

  it('notifies a small file first as running (it never waits in the queue); a larger file is queued first, as any transfer', async () => {
    f = await fixture();
    const root = await makeFolder(f.dir, [...smallFiles(10), { name: 'large.bin', size: SMALL_FILE_BYTES + 1 }]);
    const states = new Map<string, string[]>();
    f.engine.registry.on('transferProgress', (progress) => {
      if (progress.groupId === undefined) return;
      states.set(progress.name, [...(states.get(progress.name) ?? []), progress.state]);
    });
    const result = await uploadFolder(f, root, 'mixed');
    expect(result).toMatchObject({ filesTotal: 11, filesStored: 11, failed: [] });
    expect(states.size).toBe(11);
    for (const [name, seen] of states) {
      expect(seen[seen.length - 1]).toBe('completed');
      if (name === 'mixed/large.bin') expect(seen[0]).toBe('queued');
      else {
        expect(seen[0]).toBe('running');
        expect(seen).not.toContain('queued');
      }
    }
  });

  it('does not starve a transfer waiting for a slot: it runs before the group has finished', async () => {
    f = await fixture();
    const fx = f;
    const root = await makeFolder(fx.dir, smallFiles(120));
    const group = uploadFolder(fx, root, 'many');
    // Once the group holds the slots, a single upload queues for one.
    while (fx.completed.length === 0) await new Promise((resolve) => setTimeout(resolve, 2));
    const single = path.join(fx.dir, 'single.bin');
    await writeFile(single, randomBytes(500));
    await fx.engine.upload({ source: await inspectSource(single), name: 'single', overwrite: false, encryption: v1Encryption(fx.key), keyPath: 'k', keyCreated: false });
    const groupFilesBefore = fx.completed.filter((name) => name.startsWith('many/')).length;
    expect(groupFilesBefore).toBeLessThan(120);
    await expect(group).resolves.toMatchObject({ filesStored: 120 });
  });
});
