/**
 * The local store's in-place header rewrite (src/storage/local/in-place-header.ts):
 * no copy (same inode), the metadata fallback, crash safety by fault
 * injection at every step (a hook that never returns is the crash; a second
 * LocalStorage on the same directory is the restart), a redo record for an
 * object replaced since is dropped, and readers never see a torn header
 * while shares rewrite it (a slow, two-piece write widens the window).
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import type { FileHandle } from 'node:fs/promises';
import { LocalStorage, TEMP_FOLDER } from '../../../src/storage/local/local-storage.js';
import type { InPlaceStep } from '../../../src/storage/local/in-place-header.js';
import { encodeObjectPath } from '../../../src/storage/local/name-encoding.js';
import { AgeIdentity, authorKeyOf, openAgeBuffer, parseHeader, sealAgeBuffer } from '../../../src/crypto/age/index.js';
import { SLOT_MIN_PLAINTEXT } from '../../../src/crypto/age/slot.js';
import { shareStoredFile } from '../../../src/users/share.js';
import type { Storage } from '../../../src/storage/storage.js';

let directory: string;
let store: string;

beforeEach(async () => {
  directory = await fs.mkdtemp(path.join(os.tmpdir(), 'cloudlocker-inplace-'));
  store = path.join(directory, 'store');
});
afterEach(async () => {
  await fs.rm(directory, { recursive: true, force: true });
});

async function put(storage: Storage, name: string, bytes: Uint8Array) {
  const writer = await storage.beginWrite(name, { expectedSize: bytes.byteLength });
  await writer.writePart(0, 0, bytes);
  return writer.complete({ overwrite: true });
}

const fileOf = (name: string) => path.join(store, ...encodeObjectPath(name));
const tmpEntries = () => fs.readdir(path.join(store, TEMP_FOLDER));

describe('local store: rewriting a same-length header in place', () => {
  it('writes into the same file (no copy), changes the version and leaves nothing in .tmp', async () => {
    const storage = new LocalStorage({ directory: store });
    await storage.init();
    expect(storage.capabilities.headerRewrite).toBe('in-place');
    const payload = randomBytes(5 * 1024 * 1024);
    const info = await put(storage, 'big', Buffer.concat([Buffer.alloc(1000, 1), payload]));
    const inode = (await fs.stat(fileOf('big'))).ino;
    const result = await storage.rewriteHeader('big', info.version!, 1000, Buffer.alloc(1000, 2));
    expect(result.headerRewrite).toBe('in-place');
    expect((await fs.stat(fileOf('big'))).ino).toBe(inode);
    expect(result.version).not.toBe(info.version);
    const bytes = await fs.readFile(fileOf('big'));
    expect(bytes.subarray(0, 1000).equals(Buffer.alloc(1000, 2))).toBe(true);
    expect(bytes.subarray(1000).equals(payload)).toBe(true);
    expect(await tmpEntries()).toEqual([]);
    // Another length: the copy path (a new file).
    const copied = await storage.rewriteHeader('big', result.version!, 1000, Buffer.alloc(900, 3));
    expect(copied.headerRewrite).toBe('local-copy');
    expect((await fs.stat(fileOf('big'))).ino).not.toBe(inode);
    await storage.close();
  });

  it('every in-place rewrite gives a new version, even many in one millisecond or an old time just below a whole millisecond', async () => {
    const storage = new LocalStorage({ directory: store });
    await storage.init();
    let info = await put(storage, 'versions', Buffer.concat([Buffer.alloc(500, 0), randomBytes(100_000)]));
    // A modification time whose microseconds round up to the next millisecond.
    await fs.utimes(fileOf('versions'), 1_800_000_000.0009996, 1_800_000_000.0009996);
    info = await storage.stat('versions');
    const versions = new Set([info.version]);
    for (let i = 1; i <= 20; i++) {
      const rewritten = await storage.rewriteHeader('versions', info.version!, 500, Buffer.alloc(500, i));
      expect(rewritten.headerRewrite).toBe('in-place');
      info = rewritten;
      versions.add(info.version);
    }
    expect(versions.size).toBe(21);
    await storage.close();
  });

  it('an object with user metadata is copied (its sidecar is bound to the version), metadata kept', async () => {
    const storage = new LocalStorage({ directory: store });
    await storage.init();
    const writer = await storage.beginWrite('meta', { metadata: { purpose: 'test' } });
    await writer.writePart(0, 0, Buffer.alloc(3000, 1));
    const info = await writer.complete({ overwrite: true });
    const result = await storage.rewriteHeader('meta', info.version!, 100, Buffer.alloc(100, 2));
    expect(result.headerRewrite).toBe('local-copy');
    expect((await storage.stat('meta')).metadata).toEqual({ purpose: 'test' });
    await storage.close();
  });

  const crashes: { step: InPlaceStep; torn?: boolean; expected: 'old' | 'new' }[] = [
    { step: 'before-record', expected: 'old' },
    { step: 'record-written', expected: 'new' },
    { step: 'record-written', torn: true, expected: 'new' },
    { step: 'header-written', expected: 'new' },
    { step: 'synced', expected: 'new' },
  ];
  for (const { step, torn, expected } of crashes) {
    it(`a crash ${torn === true ? 'in the middle of the header write (torn: half written)' : `at "${step}"`}: after restart the object has the ${expected} header, payload intact`, async () => {
      const oldHeader = randomBytes(2048);
      const newHeader = randomBytes(2048);
      const payload = randomBytes(1024 * 1024);
      let reached!: (handle: FileHandle) => void;
      const crashed = new Promise<FileHandle>((resolve) => (reached = resolve));
      const first = new LocalStorage({
        directory: store,
        inPlaceStepHook: async (at, handle, header) => {
          if (at !== step) return;
          if (torn === true) await handle.write(header, 0, header.length / 2, 0);
          reached(handle);
          await new Promise<never>(() => undefined); // the process "dies" here
        },
      });
      await first.init();
      const info = await put(first, 'victim', Buffer.concat([oldHeader, payload]));
      void first.rewriteHeader('victim', info.version!, oldHeader.length, newHeader).catch(() => undefined);
      const handle = await crashed;
      if (torn === true) {
        const now = (await fs.readFile(fileOf('victim'))).subarray(0, 2048);
        expect(now.equals(oldHeader) || now.equals(newHeader)).toBe(false); // really torn
      }
      await handle.close(); // nothing of the dead process touches the file again

      const restarted = new LocalStorage({ directory: store });
      await restarted.init();
      const bytes = await fs.readFile(fileOf('victim'));
      expect(bytes.subarray(0, 2048).equals(expected === 'old' ? oldHeader : newHeader)).toBe(true);
      expect(bytes.subarray(2048).equals(payload)).toBe(true);
      expect(await tmpEntries()).toEqual([]);
      if (expected === 'new') expect((await restarted.stat('victim')).version).not.toBe(info.version);
      await restarted.close();
    });
  }

  it('a redo record whose object was replaced since is dropped without touching the new object', async () => {
    const oldHeader = randomBytes(1024);
    let reached!: (handle: FileHandle) => void;
    const crashed = new Promise<FileHandle>((resolve) => (reached = resolve));
    const first = new LocalStorage({
      directory: store,
      inPlaceStepHook: async (at, handle) => {
        if (at !== 'record-written') return;
        reached(handle);
        await new Promise<never>(() => undefined);
      },
    });
    await first.init();
    const info = await put(first, 'replaced', Buffer.concat([oldHeader, randomBytes(500_000)]));
    void first.rewriteHeader('replaced', info.version!, 1024, randomBytes(1024)).catch(() => undefined);
    await (await crashed).close();
    // Another program (or a later write) put a different file of the same size at the name.
    const replacement = randomBytes(1024 + 500_000);
    const other = path.join(directory, 'other');
    await fs.writeFile(other, replacement);
    await fs.rename(other, fileOf('replaced'));
    const restarted = new LocalStorage({ directory: store });
    await restarted.init();
    expect((await fs.readFile(fileOf('replaced'))).equals(replacement)).toBe(true);
    expect(await tmpEntries()).toEqual([]);
    await restarted.close();
  });

  /** A store whose in-place header writes put half the header down, then pause: a reader let in then would see a torn header. */
  async function slowTwoPieceWriter(): Promise<LocalStorage> {
    const storage = new LocalStorage({
      directory: store,
      inPlaceStepHook: async (at, handle, header) => {
        if (at !== 'record-written') return;
        await handle.write(header, 0, Math.floor(header.length / 2), 0);
        await new Promise((resolve) => setTimeout(resolve, 15));
      },
    });
    await storage.init();
    return storage;
  }

  it('readers of the header region never see a torn header while shares rewrite it (slow two-piece writes)', async () => {
    const owner = AgeIdentity.generate();
    const authors = [authorKeyOf(owner.card)];
    const storage = await slowTwoPieceWriter();
    const plain = randomBytes(2 * 65536 + 100);
    const object = sealAgeBuffer(plain, { identity: owner, name: 'shared', plaintextSize: SLOT_MIN_PLAINTEXT });
    const headerLength = parseHeader(object).length;
    await put(storage, 'shared', object);

    let sharing = true;
    let reads = 0;
    const reader = (async () => {
      while (sharing) {
        // As a download does: the header region first, then the rest (the payload never moves).
        const head = Buffer.from(await storage.readRange('shared', 0, 4096));
        const rest = Buffer.from(await storage.readRange('shared', 4096, object.length - 4096));
        const opened = openAgeBuffer(Buffer.concat([head, rest]), { identity: owner, name: 'shared', authors });
        expect(opened.equals(plain)).toBe(true);
        reads += 1;
      }
    })();
    const outcomes: string[] = [];
    for (let i = 0; i < 8; i++) {
      const outcome = await shareStoredFile({ storage, name: 'shared', identity: owner, authors, add: [AgeIdentity.generate().card.recipient] });
      outcomes.push(outcome.headerRewrite);
      expect(outcome.newHeaderLength).toBe(headerLength);
    }
    sharing = false;
    await reader;
    expect(outcomes).toEqual(Array(8).fill('in-place'));
    expect(reads).toBeGreaterThan(8);
    await storage.close();
  }, 60_000);

  it('a reader opened once (a download) never sees a torn header either: its reads of the header region wait for the in-place write', async () => {
    const owner = AgeIdentity.generate();
    const authors = [authorKeyOf(owner.card)];
    const storage = await slowTwoPieceWriter();
    const plain = randomBytes(2 * 65536 + 100);
    const object = sealAgeBuffer(plain, { identity: owner, name: 'shared', plaintextSize: SLOT_MIN_PLAINTEXT });
    await put(storage, 'shared', object);
    // Opened before any rewrite: the in-place writes go into this same file.
    const opened = await storage.openReader('shared');
    let sharing = true;
    let reads = 0;
    const reader = (async () => {
      const whole = Buffer.alloc(object.length);
      while (sharing) {
        expect(await opened.readInto(0, whole.subarray(0, 4096))).toBe(4096);
        expect(await opened.readInto(4096, whole.subarray(4096))).toBe(object.length - 4096);
        expect(openAgeBuffer(whole, { identity: owner, name: 'shared', authors }).equals(plain)).toBe(true);
        reads += 1;
      }
    })();
    const outcomes: string[] = [];
    for (let i = 0; i < 8; i++) {
      const outcome = await shareStoredFile({ storage, name: 'shared', identity: owner, authors, add: [AgeIdentity.generate().card.recipient] });
      outcomes.push(outcome.headerRewrite);
    }
    sharing = false;
    await reader;
    await opened.close();
    expect(outcomes).toEqual(Array(8).fill('in-place'));
    expect(reads).toBeGreaterThan(8);
    await storage.close();
  }, 60_000);
});

/** The version the index lists for `name` (listFiles' view). */
async function listedVersion(storage: Storage, name: string) {
  const page = await storage.list({ prefix: name, limit: 10 });
  return page.objects.find((o) => o.name === name)?.version;
}

/** Crashes the first store at `step` (optionally tearing the header), closes its handle; returns what was written. */
async function crashAt(step: InPlaceStep, name: string, tear: boolean) {
  const oldHeader = randomBytes(2048);
  const newHeader = randomBytes(2048);
  const payload = randomBytes(300_000);
  let reached!: (handle: FileHandle) => void;
  const crashed = new Promise<FileHandle>((resolve) => (reached = resolve));
  const first = new LocalStorage({
    directory: store,
    inPlaceStepHook: async (at, handle, header) => {
      if (at !== step) return;
      if (tear) await handle.write(header, 0, header.length / 2, 0);
      reached(handle);
      await new Promise<never>(() => undefined);
    },
  });
  await first.init();
  const info = await put(first, name, Buffer.concat([oldHeader, payload]));
  void first.rewriteHeader(name, info.version!, oldHeader.length, newHeader).catch(() => undefined);
  await (await crashed).close();
  return { oldHeader, newHeader, payload, info };
}

describe('local store in place: review s5 findings 1, 2, 8, 9', () => {
  it('finding 1: a torn header whose file came back under another inode (FAT remount) is completed, not dropped', async () => {
    const { newHeader, payload } = await crashAt('record-written', 'remounted', true);
    const before = await fs.stat(fileOf('remounted'));
    // The same bytes under a new inode number, as a vfat/exFAT remount makes up.
    const copy = path.join(directory, 'copy');
    await fs.copyFile(fileOf('remounted'), copy);
    await fs.rename(copy, fileOf('remounted'));
    expect((await fs.stat(fileOf('remounted'))).ino).not.toBe(before.ino);
    const restarted = new LocalStorage({ directory: store });
    await restarted.init();
    const bytes = await fs.readFile(fileOf('remounted'));
    expect(bytes.subarray(0, 2048).equals(newHeader)).toBe(true);
    expect(bytes.subarray(2048).equals(payload)).toBe(true);
    expect(await tmpEntries()).toEqual([]);
    await restarted.close();
  });

  it('finding 1: a record is dropped when the object has the old header but another payload (a new object of the same size)', async () => {
    const { oldHeader, payload } = await crashAt('record-written', 'other-payload', false);
    const other = Buffer.concat([oldHeader, randomBytes(payload.length)]);
    await fs.writeFile(fileOf('other-payload'), other);
    const restarted = new LocalStorage({ directory: store });
    await restarted.init();
    expect((await fs.readFile(fileOf('other-payload'))).equals(other)).toBe(true);
    expect(await tmpEntries()).toEqual([]);
    await restarted.close();
  });

  it('finding 2: where a set mtime does not take effect, a same-length header is copied, never written in place', async () => {
    const pinned = 1_700_000_000;
    const storage = new LocalStorage({ directory: store, setFileTimes: (handle) => handle.utimes(pinned, pinned) });
    await storage.init();
    const info = await put(storage, 'no-times', Buffer.concat([Buffer.alloc(1000, 1), randomBytes(200_000)]));
    const result = await storage.rewriteHeader('no-times', info.version!, 1000, Buffer.alloc(1000, 2));
    expect(result.headerRewrite).toBe('local-copy');
    expect(result.version).not.toBe(info.version);
    await storage.close();
  });

  it('finding 2: if the version did not change after the write, the old header is put back and the rewrite fails', async () => {
    const pinned = 1_700_000_000;
    let pin = false;
    const storage = new LocalStorage({
      directory: store,
      setFileTimes: (handle, seconds) => (pin ? handle.utimes(pinned, pinned) : handle.utimes(seconds, seconds)),
    });
    await storage.init();
    const oldHeader = Buffer.alloc(1000, 1);
    await put(storage, 'pinned', Buffer.concat([oldHeader, randomBytes(200_000)]));
    await fs.utimes(fileOf('pinned'), pinned, pinned);
    const info = await storage.stat('pinned');
    pin = true;
    await expect(storage.rewriteHeader('pinned', info.version!, 1000, Buffer.alloc(1000, 2))).rejects.toMatchObject({ reason: 'STORAGE_UNAVAILABLE' });
    expect((await fs.readFile(fileOf('pinned'))).subarray(0, 1000).equals(oldHeader)).toBe(true);
    expect(await tmpEntries()).toEqual([]);
    await storage.close();
  });

  it('finding 8b: when the write and its redo both fail, reads of the header fail until recovery succeeds; then the new header and version are served', async () => {
    let failTimes = false;
    const storage = new LocalStorage({
      directory: store,
      setFileTimes: async (handle, seconds) => {
        if (failTimes) throw Object.assign(new Error('EIO: i/o error'), { code: 'EIO' });
        await handle.utimes(seconds, seconds);
      },
    });
    await storage.init();
    const newHeader = randomBytes(1000);
    const info = await put(storage, 'stuck', Buffer.concat([randomBytes(1000), randomBytes(200_000)]));
    failTimes = true;
    await expect(storage.rewriteHeader('stuck', info.version!, 1000, newHeader)).rejects.toMatchObject({ reason: 'STORAGE_UNAVAILABLE' });
    expect((await tmpEntries()).some((e) => e.endsWith('.redo'))).toBe(true);
    await expect(storage.readRange('stuck', 0, 1000)).rejects.toMatchObject({ reason: 'STORAGE_UNAVAILABLE' });
    failTimes = false;
    const header = await storage.readRange('stuck', 0, 1000);
    expect(Buffer.from(header).equals(newHeader)).toBe(true);
    const now = await storage.stat('stuck');
    expect(now.version).not.toBe(info.version);
    expect(await listedVersion(storage, 'stuck')).toBe(now.version);
    expect(await tmpEntries()).toEqual([]);
    await storage.close();
  });

  it('finding 8c: a record that cannot be recovered at init() does not stop the store: kept, warned without secrets, its name unreadable, others served', async () => {
    const { info } = await crashAt('record-written', 'unrecoverable', true);
    const fine = new LocalStorage({ directory: store });
    await fine.init();
    await fs.rm(path.join(store, TEMP_FOLDER), { recursive: true, force: true }).catch(() => undefined);
    await fine.close();
    // Recreate the crash: the record exists again and recovery fails with EBUSY.
    const again = await crashAt('record-written', 'unrecoverable2', true);
    const warnings: string[] = [];
    const restarted = new LocalStorage({
      directory: store,
      onWarning: (m) => warnings.push(m),
      setFileTimes: async () => {
        throw Object.assign(new Error('EBUSY: resource busy'), { code: 'EBUSY' });
      },
    });
    await restarted.init();
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain('EBUSY');
    expect(warnings[0]).not.toContain('unrecoverable2');
    expect(warnings[0]).not.toContain(again.newHeader.toString('base64').slice(0, 16));
    expect((await tmpEntries()).filter((e) => e.endsWith('.redo'))).toHaveLength(1);
    await expect(restarted.readRange('unrecoverable2', 0, 100)).rejects.toMatchObject({ reason: 'STORAGE_UNAVAILABLE' });
    expect((await restarted.readRange('unrecoverable', 0, 10)).byteLength).toBe(10);
    expect(info.version).toBeDefined();
    await restarted.close();
  });

  it('finding 9: an object with another hard link (a backup snapshot) is copied; the other link keeps its bytes', async () => {
    const storage = new LocalStorage({ directory: store });
    await storage.init();
    const original = Buffer.concat([Buffer.alloc(1000, 1), randomBytes(200_000)]);
    const info = await put(storage, 'linked', original);
    const backup = path.join(directory, 'backup');
    await fs.link(fileOf('linked'), backup);
    const result = await storage.rewriteHeader('linked', info.version!, 1000, Buffer.alloc(1000, 2));
    expect(result.headerRewrite).toBe('local-copy');
    expect((await fs.readFile(backup)).equals(original)).toBe(true);
    expect((await fs.readFile(fileOf('linked'))).subarray(0, 1000).equals(Buffer.alloc(1000, 2))).toBe(true);
    await storage.close();
  });

  it('finding 9: a first attempt that fails but whose redo succeeds is a success, with the index updated and no record left', async () => {
    let failOnce = true;
    const storage = new LocalStorage({
      directory: store,
      inPlaceStepHook: (at) => {
        if (at === 'header-written' && failOnce) {
          failOnce = false;
          throw Object.assign(new Error('EIO: i/o error'), { code: 'EIO' });
        }
      },
    });
    await storage.init();
    const newHeader = randomBytes(1000);
    const info = await put(storage, 'retried', Buffer.concat([randomBytes(1000), randomBytes(200_000)]));
    const result = await storage.rewriteHeader('retried', info.version!, 1000, newHeader);
    expect(result.headerRewrite).toBe('in-place');
    expect(result.version).not.toBe(info.version);
    expect(await listedVersion(storage, 'retried')).toBe(result.version);
    expect((await fs.readFile(fileOf('retried'))).subarray(0, 1000).equals(newHeader)).toBe(true);
    expect(await tmpEntries()).toEqual([]);
    await storage.close();
  });

  it('finding 8a: the leftover-record recovery before a new in-place write holds readers of the header off', async () => {
    await crashAt('record-written', 'leftover', true);
    const [recordName] = (await tmpEntries()).filter((e) => e.endsWith('.redo'));
    const record = await fs.readFile(path.join(store, TEMP_FOLDER, recordName!));
    const torn = await fs.readFile(fileOf('leftover'));
    let gate: Promise<void> | undefined;
    let entered!: () => void;
    const inRecovery = new Promise<void>((resolve) => (entered = resolve));
    const storage = new LocalStorage({
      directory: store,
      setFileTimes: async (handle, seconds) => {
        if (gate !== undefined) {
          entered();
          await gate;
        }
        await handle.utimes(seconds, seconds);
      },
    });
    await storage.init();
    // A record left behind without the name being pending (as after an earlier failed write), torn header back.
    await fs.writeFile(fileOf('leftover'), torn);
    await fs.writeFile(path.join(store, TEMP_FOLDER, recordName!), record);
    const version = (await storage.stat('leftover')).version!;
    let release!: () => void;
    gate = new Promise<void>((resolve) => (release = resolve));
    const rewrite = storage.rewriteHeader('leftover', version, 2048, randomBytes(2048)).catch((err: unknown) => err);
    await inRecovery; // the recovery has written the header and is setting the time
    let readDone = false;
    const read = storage.readRange('leftover', 0, 2048).then((bytes) => {
      readDone = true;
      return bytes;
    });
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(readDone).toBe(false); // held off while the recovery writes
    gate = undefined;
    release();
    await rewrite;
    await read;
    expect(readDone).toBe(true);
    await storage.close();
  });
});
