/**
 * End-to-end tests of the file methods over a real wss connection with real
 * temporary directories, run once per storage backend (each backend's test
 * file is a few lines that call runFileMethodsSuite).
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { CHUNK_SIZE, HEADER_SIZE, encryptBuffer, loadKeyFile, readKeyFile, storedFormats } from '../../src/crypto/index.js';
import type { Storage } from '../../src/storage/storage.js';
import { makeTempDir, openClient, RpcCallError, type TestClient, type TestServer } from '../helpers/server.js';
import { slowStorage, startTestService } from '../helpers/service.js';
import { midTransferHold } from '../helpers/mid-transfer-hold.js';
import { ageSecretsOf, secretsIn } from '../helpers/age-secrets.js';

export interface BackendUnderTest {
  storage: Storage;
  teardown(): Promise<void>;
  /**
   * The unfinished writes the store holds (local: files in its temp folder;
   * S3: multipart uploads in progress, from ListMultipartUploads). Required
   * when the backend declares abortCleansUp, as in the conformance suite; a
   * store that cannot list them (s3rver has no ListMultipartUploads) declares
   * abortCleansUp false and the suite checks what it can still see.
   */
  unfinishedWrites?(): Promise<string[]>;
}

const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

async function rpcError(promise: Promise<unknown>): Promise<{ code: number; reason: unknown; message: string; data: unknown }> {
  try {
    await promise;
  } catch (err) {
    if (err instanceof RpcCallError) {
      return { code: err.error.code, reason: err.error.data?.reason, message: err.error.message, data: err.error.data };
    }
    throw err;
  }
  throw new Error('expected the call to fail');
}

export interface SuiteOptions {
  /** Objects written at once when seeding a store: what the backend (and its test server) takes well. */
  seedConcurrency: number;
  /** How many objects the listing test pages over (the issue asks for 2500 on the default store). */
  listingObjects: number;
}

export function runFileMethodsSuite(
  backendName: string,
  makeBackend: () => Promise<BackendUnderTest>,
  { seedConcurrency, listingObjects }: SuiteOptions,
): void {
  describe(`file methods end to end (${backendName})`, () => {
    let backend: BackendUnderTest;
    let server: TestServer;
    let client: TestClient;
    let dir: string;
    let keyPath: string;

    async function start(wrap?: (storage: Storage) => Storage, options: { progressIntervalMs?: number } = {}) {
      server = await startTestService({ storageBackend: wrap ? wrap(backend.storage) : backend.storage, ...options });
      client = await openClient(server);
    }

    /** Leftover writes must be none when the backend claims to clean up (abortCleansUp). */
    async function expectNoUnfinishedWrites(): Promise<void> {
      if (!backend.storage.capabilities.abortCleansUp) return;
      expect(backend.unfinishedWrites).toBeDefined();
      expect(await backend.unfinishedWrites!()).toEqual([]);
    }

    async function localFile(name: string, bytes: Buffer): Promise<string> {
      const file = path.join(dir, name);
      await writeFile(file, bytes);
      return file;
    }

    beforeEach(async () => {
      backend = await makeBackend();
      dir = await makeTempDir('cloudlocker-e2e-');
      // Created by the first upload: an age identity (format v2), the default.
      keyPath = path.join(dir, 'main.key.txt');
    });

    afterEach(async () => {
      await client?.close();
      await server?.stop();
      await backend.teardown();
      await rm(dir, { recursive: true, force: true });
    });

    it('round-trips files at the chunk boundaries and of several chunks, bytes compared by hash', async () => {
      await start();
      for (const size of [0, 1, CHUNK_SIZE - 1, CHUNK_SIZE, CHUNK_SIZE + 1, 7 * CHUNK_SIZE + 3]) {
        const bytes = randomBytes(size);
        const source = await localFile(`in-${size}`, bytes);
        const up = await client.request('upload', { path: source, keyPath, name: `sizes/${size}.bin` });
        expect(up).toMatchObject({ name: `sizes/${size}.bin`, size, keyPath, keyCreated: size === 0 });
        const out = path.join(dir, `out-${size}`);
        const down = await client.request('download', { name: `sizes/${size}.bin`, keyPath, destination: out });
        // An age file names its verified author: here the uploader's own card.
        expect(down).toEqual({ transferId: down.transferId, name: `sizes/${size}.bin`, path: out, size, author: { kind: 'self', cardId: up.keyId } });
        expect(sha256(await readFile(out))).toBe(sha256(bytes));
      }
      const listing = await client.request('listFiles', { prefix: 'sizes/' });
      expect(listing.files.map((f) => f.size).sort((a, b) => a - b)).toEqual(
        [0, 1, CHUNK_SIZE - 1, CHUNK_SIZE, CHUNK_SIZE + 1, 7 * CHUNK_SIZE + 3],
      );
      const info = await client.request('getFileInfo', { name: 'sizes/1.bin' });
      const { keyId } = await loadKeyFile(keyPath);
      expect(info).toMatchObject({ name: 'sizes/1.bin', size: 1, formatVersion: 2, format: 'age', keyId, authorCardId: keyId, stanzaCount: 2 });
      expect(info.storedSize).toBe(listing.files.find((f) => f.name === 'sizes/1.bin')!.storedSize);
    });

    it('round-trips a 100 MiB file', async () => {
      await start();
      const bytes = randomBytes(100 * 1024 * 1024);
      const source = await localFile('big.bin', bytes);
      const up = await client.request('upload', { path: source, keyPath });
      expect(up).toMatchObject({ name: 'big.bin', size: bytes.length });
      const outDir = path.join(dir, 'downloads');
      await mkdir(outDir);
      const down = await client.request('download', { name: 'big.bin', keyPath, destination: outDir });
      expect(down.path).toBe(path.join(outDir, 'big.bin'));
      expect(sha256(await readFile(down.path))).toBe(sha256(bytes));
    }, 120_000);

    it('follows the three key-path rules: existing file, new path, directory', async () => {
      await start();
      const source = await localFile('doc.txt', Buffer.from('hello'));
      const created = await client.request('upload', { path: source, keyPath, name: 'k/one.txt' });
      expect(created).toMatchObject({ keyPath, keyCreated: true });
      expect((await stat(keyPath)).mode & 0o777).toBe(0o600);
      const reused = await client.request('upload', { path: source, keyPath, name: 'k/two.txt' });
      expect(reused).toMatchObject({ keyPath, keyCreated: false, keyId: created.keyId });
      const keyDir = path.join(dir, 'keys');
      await mkdir(keyDir);
      const inDir = await client.request('upload', { path: source, keyPath: keyDir, name: 'k/three.txt' });
      expect(inDir).toMatchObject({ keyPath: path.join(keyDir, 'three.txt.key.txt'), keyCreated: true });
      expect(inDir.keyId).not.toBe(created.keyId);
      const again = await rpcError(client.request('upload', { path: source, keyPath: keyDir, name: 'k/three.txt', overwrite: true }));
      expect(again).toMatchObject({ code: -32002, reason: 'ALREADY_EXISTS' });
      // A v1 key file only when asked for: `<name>.key.json` in the directory.
      const v1InDir = await client.request('upload', { path: source, keyPath: keyDir, name: 'k/four.txt', keyType: 'v1' });
      expect(v1InDir).toMatchObject({ keyPath: path.join(keyDir, 'four.txt.key.json'), keyCreated: true });
      expect((await client.request('getFileInfo', { name: 'k/four.txt' })).format).toBe('v1');
      // The key never reaches the store: no stored object contains its text line,
      // its raw 32 secret bytes or the signing seed derived from them.
      const secrets = [...(await ageSecretsOf(keyPath)), ...(await ageSecretsOf(inDir.keyPath))];
      for (const name of ['k/one.txt', 'k/two.txt', 'k/three.txt']) {
        const stored = await backend.storage.readRange(name, 0, 1 << 20);
        expect({ name, found: secretsIn(stored, secrets) }).toEqual({ name, found: [] });
      }
      const v1Key = JSON.parse(await readFile(v1InDir.keyPath, 'utf8')) as { key: string };
      const storedV1 = await backend.storage.readRange('k/four.txt', 0, 1 << 20);
      expect(Buffer.from(storedV1).includes(Buffer.from(v1Key.key, 'base64'))).toBe(false);
    });

    it('refuses bad recipients before creating a key file: -32602 naming recipients[i], and no file left behind', async () => {
      await start();
      const source = await localFile('doc.txt', Buffer.from('hello'));
      const classical = await client.request('createKey', { path: path.join(dir, 'classical.key.txt') });
      const pq = await client.request('createKey', { path: path.join(dir, 'pq.key.txt'), type: 'mlkem768x25519' });
      const keyDir = path.join(dir, 'keys');
      await mkdir(keyDir);
      const cases: { params: Record<string, unknown>; param: string; keyFile: string }[] = [
        // Bad syntax, for a new file and for a new file in a directory.
        { params: { keyPath: path.join(dir, 'new-1.key.txt'), recipients: [classical.recipient!, 'age1bad'] }, param: 'recipients[1]', keyFile: path.join(dir, 'new-1.key.txt') },
        { params: { keyPath: keyDir, name: 'bad/dir.txt', recipients: ['age1bad'] }, param: 'recipients[0]', keyFile: path.join(keyDir, 'dir.txt.key.txt') },
        // Classical with post-quantum, against the requested keyType (and the default X25519).
        { params: { keyPath: path.join(dir, 'new-pq.key.txt'), keyType: 'mlkem768x25519', recipients: [classical.recipient!] }, param: 'recipients[0]', keyFile: path.join(dir, 'new-pq.key.txt') },
        { params: { keyPath: path.join(dir, 'new-x.key.txt'), recipients: [pq.card!] }, param: 'recipients[0]', keyFile: path.join(dir, 'new-x.key.txt') },
        // A v1 key takes no extra recipients.
        { params: { keyPath: path.join(dir, 'new-v1.key.json'), keyType: 'v1', recipients: [classical.recipient!] }, param: 'recipients', keyFile: path.join(dir, 'new-v1.key.json') },
      ];
      for (const { params, param, keyFile } of cases) {
        const refused = await rpcError(client.request('upload', { path: source, name: 'bad/file.txt', ...params } as never));
        expect(refused).toMatchObject({ code: -32602, data: { param } });
        await expect(stat(keyFile)).rejects.toMatchObject({ code: 'ENOENT' });
      }
      expect(await readdir(keyDir)).toEqual([]);
      // An existing key's own type decides: post-quantum with a classical recipient is refused too.
      const mixed = await rpcError(client.request('upload', { path: source, keyPath: pq.path, name: 'bad/pq.txt', recipients: [classical.card!] }));
      expect(mixed).toMatchObject({ code: -32602, data: { param: 'recipients[0]' } });
      expect((await client.request('listFiles', { prefix: 'bad/' })).files).toEqual([]);
      // Good recipients still create the key.
      const good = await client.request('upload', { path: source, keyPath: path.join(dir, 'new-pq.key.txt'), keyType: 'mlkem768x25519', name: 'bad/ok.txt', recipients: [pq.card!] });
      expect(good).toMatchObject({ keyCreated: true });
    });

    it('getServerInfo tells whether overwrite: false is atomic on this store, and warns when it is not', async () => {
      await start();
      const { storage } = await client.request('getServerInfo', {});
      expect(storage.atomicNoOverwrite).toBe(backend.storage.capabilities.atomicNoOverwrite);
      expect(storage.headerRewrite).toBe(backend.storage.capabilities.headerRewrite);
      if (storage.atomicNoOverwrite === false) {
        expect(storage.warnings).toContainEqual(expect.stringMatching(/not enforced atomically/));
      } else {
        expect(storage.warnings ?? []).not.toContainEqual(expect.stringMatching(/not enforced atomically/));
      }
    });

    it('keeps a key file that a failed upload created, since a concurrent upload used it', async () => {
      // Slow enough that the first upload is still running when it is
      // cancelled, on a fast store and a loaded machine too (Ceph RGW took
      // 40 MiB at 50 ms, then 500 ms, a part before the cancel arrived under
      // load); a cancel cuts the pause short, so this costs no time.
      await start((storage) => slowStorage(storage, 3_000));
      const first = await localFile('first.bin', randomBytes(40 * 1024 * 1024));
      const second = await localFile('second.bin', Buffer.from('the other file'));
      const creating = client.request('upload', { path: first, keyPath, name: 'first.bin', transferId: 'creator' });
      await client.waitForNotification((n) => n.params['transferId'] === 'creator' && n.params['state'] === 'running');
      expect(await client.request('upload', { path: second, keyPath, name: 'second.bin' })).toMatchObject({ keyCreated: false });
      await client.request('cancelTransfer', { transferId: 'creator' });
      expect(await rpcError(creating)).toMatchObject({ reason: 'CANCELLED' });
      const out = path.join(dir, 'second.out');
      await client.request('download', { name: 'second.bin', keyPath, destination: out });
      expect(await readFile(out, 'utf8')).toBe('the other file');
    });

    it('refuses to overwrite unless asked, on upload and on download', async () => {
      await start();
      const first = await localFile('v1.txt', Buffer.from('version one'));
      const second = await localFile('v2.txt', Buffer.from('version two'));
      await client.request('upload', { path: first, keyPath, name: 'o.txt' });
      const refused = await rpcError(client.request('upload', { path: second, keyPath, name: 'o.txt' }));
      expect(refused).toMatchObject({ code: -32002, reason: 'ALREADY_EXISTS' });
      const out = path.join(dir, 'o.out');
      await client.request('download', { name: 'o.txt', keyPath, destination: out });
      expect(await readFile(out, 'utf8')).toBe('version one');
      await client.request('upload', { path: second, keyPath, name: 'o.txt', overwrite: true });
      const notReplaced = await rpcError(client.request('download', { name: 'o.txt', keyPath, destination: out }));
      expect(notReplaced).toMatchObject({ code: -32002, reason: 'ALREADY_EXISTS' });
      expect(await readFile(out, 'utf8')).toBe('version one');
      await client.request('download', { name: 'o.txt', keyPath, destination: out, overwrite: true });
      expect(await readFile(out, 'utf8')).toBe('version two');
    });

    it('age: answers NOT_A_RECIPIENT for another identity, WRONG_NAME for a renamed object, INTEGRITY for a flipped byte, writing nothing', async () => {
      await start();
      const source = await localFile('secret.bin', randomBytes(3 * CHUNK_SIZE));
      await client.request('upload', { path: source, keyPath, name: 'secret.bin' });
      const otherKey = path.join(dir, 'other.key.txt');
      await client.request('createKey', { path: otherKey });
      const outDir = path.join(dir, 'out');
      await mkdir(outDir);
      const notForMe = await rpcError(client.request('download', { name: 'secret.bin', keyPath: otherKey, destination: outDir }));
      expect(notForMe).toMatchObject({ code: -32012, reason: 'NOT_A_RECIPIENT' });

      const info = await backend.storage.stat('secret.bin');
      const stored = Buffer.from(await backend.storage.readRange('secret.bin', 0, info.storedSize));
      // The store copies the object under another name: its author signed the first name only.
      const copy = await backend.storage.beginWrite('copied.bin', { expectedSize: stored.length });
      await copy.writePart(0, 0, stored);
      await copy.complete({ overwrite: true });
      const moved = await rpcError(client.request('download', { name: 'copied.bin', keyPath, destination: outDir }));
      expect(moved).toMatchObject({ code: -32016, reason: 'WRONG_NAME' });

      // Flip one byte in the second chunk of the stored object.
      const headerLength = storedFormats.parse(stored).header.length;
      stored[headerLength + CHUNK_SIZE + 16 + 100]! ^= 0x01;
      const writer = await backend.storage.beginWrite('secret.bin', { expectedSize: stored.length });
      await writer.writePart(0, 0, stored);
      await writer.complete({ overwrite: true });
      const tampered = await rpcError(client.request('download', { name: 'secret.bin', keyPath, destination: outDir }));
      expect(tampered).toMatchObject({ code: -32005, reason: 'INTEGRITY' });
      expect(await readdir(outDir)).toEqual([]);
    });

    it('v1: answers KEY_MISMATCH for the wrong key and INTEGRITY for a flipped byte, writing nothing', async () => {
      await start();
      keyPath = path.join(dir, 'main.key.json');
      await client.request('createKey', { path: keyPath, type: 'v1' });
      const source = await localFile('secret.bin', randomBytes(3 * CHUNK_SIZE));
      await client.request('upload', { path: source, keyPath, name: 'secret.bin' });
      expect((await client.request('getFileInfo', { name: 'secret.bin' })).format).toBe('v1');
      const otherKey = path.join(dir, 'other.key.json');
      await client.request('createKey', { path: otherKey, type: 'v1' });
      const outDir = path.join(dir, 'out');
      await mkdir(outDir);
      const mismatch = await rpcError(client.request('download', { name: 'secret.bin', keyPath: otherKey, destination: outDir }));
      expect(mismatch).toMatchObject({ code: -32004, reason: 'KEY_MISMATCH' });
      expect(await readdir(outDir)).toEqual([]);

      // Flip one byte in the second chunk of the stored object.
      const info = await backend.storage.stat('secret.bin');
      const stored = Buffer.from(await backend.storage.readRange('secret.bin', 0, info.storedSize));
      stored[HEADER_SIZE + CHUNK_SIZE + 16 + 100]! ^= 0x01;
      const writer = await backend.storage.beginWrite('secret.bin', { expectedSize: stored.length });
      await writer.writePart(0, 0, stored);
      await writer.complete({ overwrite: true });

      const tampered = await rpcError(client.request('download', { name: 'secret.bin', keyPath, destination: outDir }));
      expect(tampered).toMatchObject({ code: -32005, reason: 'INTEGRITY' });
      expect(await readdir(outDir)).toEqual([]);
    });

    it('downloads to a file whose name is near the file-system limit of 255 bytes', async () => {
      await start();
      const longName = `${'n'.repeat(240)}.bin`;
      const source = await localFile('long-source.bin', randomBytes(CHUNK_SIZE + 5));
      await client.request('upload', { path: source, keyPath, name: `long/${longName}` });
      const outDir = path.join(dir, 'long-out');
      await mkdir(outDir);
      const down = await client.request('download', { name: `long/${longName}`, keyPath, destination: outDir });
      expect(path.basename(down.path)).toBe(longName);
      expect(sha256(await readFile(down.path))).toBe(sha256(await readFile(source)));
    });

    it('rejects invalid remote names with -32602', async () => {
      await start();
      const source = await localFile('n.txt', Buffer.from('n'));
      for (const name of ['../escape', 'a/../b', '/abs', 'back\\slash', 'ctl\u0001char', 'a//b', '.', 'x/']) {
        const failure = await rpcError(client.request('upload', { path: source, keyPath, name }));
        expect(failure.code).toBe(-32602);
      }
      expect((await client.request('listFiles', {})).files).toEqual([]);
    });

    it(`pages listFiles over ${listingObjects} objects with limit and cursor, sorted by name`, async () => {
      // Seed valid encrypted objects straight into the store: 2500 uploads over RPC would only slow the suite.
      const { key } = await (await import('../../src/crypto/index.js')).createKeyFile(keyPath);
      const names = Array.from({ length: listingObjects }, (_, i) => `list/${String(i).padStart(5, '0')}-${i % 7}`);
      const body = encryptBuffer(key, Buffer.from('x'));
      await backend.storage.init();
      for (let i = 0; i < names.length; i += seedConcurrency) {
        await Promise.all(
          names.slice(i, i + seedConcurrency).map(async (name) => {
            const writer = await backend.storage.beginWrite(name, { expectedSize: body.length });
            await writer.writePart(0, 0, body);
            // overwrite: true: the names are fresh, and a no-overwrite publish
            // costs four more requests on a store that needs name claims (RGW).
            await writer.complete({ overwrite: true });
          }),
        );
      }
      await start();
      const seen: string[] = [];
      let cursor: string | null = null;
      const pageSize = Math.ceil(listingObjects / 8.5);
      let pages = 0;
      do {
        const page: { files: Array<{ name: string; size: number }>; nextCursor: string | null } = await client.request(
          'listFiles',
          { prefix: 'list/', limit: pageSize, ...(cursor === null ? {} : { cursor }) },
        );
        expect(page.files.length).toBeLessThanOrEqual(pageSize);
        expect(page.files.every((f) => f.size === 1)).toBe(true);
        seen.push(...page.files.map((f) => f.name));
        cursor = page.nextCursor;
        pages += 1;
      } while (cursor !== null);
      expect(pages).toBe(9);
      expect(seen).toEqual([...names].sort());
      const bad = await rpcError(client.request('listFiles', { cursor: 'not-a-cursor!' }));
      expect(bad.code).toBe(-32602);
    }, 60_000);

    it('sends progress to a second connection: monotonic, throttled, ending at the total, seq rising', async () => {
      const intervalMs = 20;
      await start((storage) => slowStorage(storage, 25), { progressIntervalMs: intervalMs });
      const watcher = await openClient(server);
      try {
        const size = 24 * 1024 * 1024 + 11;
        const source = await localFile('watched.bin', randomBytes(size));
        const startedAt = Date.now();
        const result = await client.request('upload', { path: source, keyPath, name: 'watched.bin', transferId: 'watched-1' });
        const elapsedMs = Date.now() - startedAt;
        const finished = await watcher.waitForNotification(
          (n) => n.method === 'transferFinished' && n.params['transferId'] === 'watched-1',
        );
        expect(finished.params).toMatchObject({ outcome: 'completed', direction: 'upload', name: 'watched.bin', result });
        const progress = watcher.notifications
          .filter((n) => n.method === 'transferProgress' && n.params['transferId'] === 'watched-1')
          .map((n) => n.params as { seq: number; cryptoBytes: number; transferredBytes: number; totalBytes: number; state: string });
        const transferred = progress.map((p) => p.transferredBytes);
        expect(transferred).toEqual([...transferred].sort((a, b) => a - b));
        expect(new Set(transferred).size).toBeGreaterThanOrEqual(3);
        expect(progress.at(-1)).toMatchObject({ state: 'completed', cryptoBytes: size, transferredBytes: size, totalBytes: size });
        const allSeqs = watcher.notifications.map((n) => n.params['seq'] as number);
        expect(allSeqs).toEqual([...allSeqs].sort((a, b) => a - b));
        expect(new Set(allSeqs).size).toBe(allSeqs.length);
        expect(finished.params['seq']).toBeGreaterThan(progress.at(-1)!.seq);
        // Throttled: at most one running-state progress per interval (plus the one that opens the run).
        const running = progress.filter((p) => p.state === 'running');
        expect(running.length).toBeLessThanOrEqual(Math.ceil(elapsedMs / intervalMs) + 1);
      } finally {
        await watcher.close();
      }
    });

    it('cancels mid-upload and mid-download, answering CANCELLED and leaving nothing behind', async () => {
      // Held mid-transfer (the writer and the destination temporary exist) until the cancel: no race with the machine's speed.
      const hold = midTransferHold();
      await start(hold.wrap);
      const source = await localFile('cancel.bin', randomBytes(40 * CHUNK_SIZE));
      const uploadHeld = hold.arm();
      const upload = client.request('upload', { path: source, keyPath, name: 'cancel.bin', transferId: 'up-cancel' });
      await uploadHeld;
      const started = Date.now();
      expect(await client.request('cancelTransfer', { transferId: 'up-cancel' })).toEqual({ transferId: 'up-cancel', cancelled: true });
      expect(await rpcError(upload)).toMatchObject({ code: -32007, reason: 'CANCELLED' });
      expect(Date.now() - started).toBeLessThan(1000);
      hold.disarm();
      // "Nothing behind": no listed object, no temporary in the store, no open multipart upload.
      expect((await client.request('listFiles', {})).files).toEqual([]);
      expect(await rpcError(client.request('getFileInfo', { name: 'cancel.bin' }))).toMatchObject({ reason: 'NOT_FOUND' });
      await expectNoUnfinishedWrites();
      // The key the cancelled upload created stays: another upload may use it already.
      expect((await stat(keyPath)).isFile()).toBe(true);

      expect(await client.request('upload', { path: source, keyPath, name: 'cancel.bin' })).toMatchObject({ keyCreated: false });
      const outDir = path.join(dir, 'dl');
      await mkdir(outDir);
      const downloadHeld = hold.arm();
      const download = client.request('download', { name: 'cancel.bin', keyPath, destination: outDir, transferId: 'down-cancel' });
      await downloadHeld;
      // The download is under way: its temporary is at the destination.
      expect((await readdir(outDir)).length).toBe(1);
      await client.request('cancelTransfer', { transferId: 'down-cancel' });
      expect(await rpcError(download)).toMatchObject({ code: -32007, reason: 'CANCELLED' });
      hold.disarm();
      // No partial file or temporary (hidden names included) at the destination, none in the store.
      expect(await readdir(outDir)).toEqual([]);
      await expectNoUnfinishedWrites();
      const missing = await rpcError(client.request('cancelTransfer', { transferId: 'no-such-transfer' }));
      expect(missing).toMatchObject({ code: -32001, reason: 'NOT_FOUND' });
    });

    it('finishes a transfer whose requester disconnected, visible in listTransfers', async () => {
      await start((storage) => slowStorage(storage, 10));
      const source = await localFile('orphan.bin', randomBytes(20 * CHUNK_SIZE));
      const requester = await openClient(server);
      void requester.call('upload', { path: source, keyPath, name: 'orphan.bin', transferId: 'orphan' });
      await client.waitForNotification((n) => n.params['transferId'] === 'orphan' && n.params['state'] === 'running');
      await requester.close();
      const finished = await client.waitForNotification(
        (n) => n.method === 'transferFinished' && n.params['transferId'] === 'orphan',
        20_000,
      );
      expect(finished.params['outcome']).toBe('completed');
      const { seq, transfers, instanceId } = await client.request('listTransfers', {});
      // The client that was away learns the result from the list: stored name, sizes, key path.
      expect(transfers.find((t) => t.transferId === 'orphan')).toMatchObject({
        state: 'completed',
        direction: 'upload',
        result: { transferId: 'orphan', name: 'orphan.bin', size: 20 * CHUNK_SIZE, keyPath, keyCreated: true },
      });
      expect(transfers.find((t) => t.transferId === 'orphan')?.result).toEqual(finished.params['result']);
      expect(instanceId).toMatch(/^[0-9a-f-]{36}$/);
      expect(seq).toBeGreaterThanOrEqual(finished.params['seq'] as number);
      expect((await client.request('listTransfers', { sinceSeq: seq })).transfers).toEqual([]);
      const stored = await client.request('getFileInfo', { name: 'orphan.bin' });
      expect(stored.size).toBe(20 * CHUNK_SIZE);
    });

    it('runs 8 uploads at once and every one verifies', async () => {
      await start();
      const sources = await Promise.all(
        Array.from({ length: 8 }, async (_, i) => {
          const bytes = randomBytes(2 * 1024 * 1024 + i * 4099);
          return { bytes, file: await localFile(`par-${i}`, bytes) };
        }),
      );
      await client.request('createKey', { path: keyPath });
      await Promise.all(sources.map(({ file }, i) => client.request('upload', { path: file, keyPath, name: `par/${i}` })));
      for (const [i, { bytes }] of sources.entries()) {
        const out = path.join(dir, `par-${i}.out`);
        await client.request('download', { name: `par/${i}`, keyPath, destination: out });
        expect(sha256(await readFile(out))).toBe(sha256(bytes));
      }
    });

    it('browses by folder (listFiles with delimiter, paged) and deletes a folder with recursive: true, counting', async () => {
      const { key } = await (await import('../../src/crypto/index.js')).createKeyFile(keyPath);
      const body = encryptBuffer(key, Buffer.from('xyz'));
      await backend.storage.init();
      const names = ['f/a.txt', 'f/sub/1', 'f/sub/2', 'f/sub/deep/3', 'f/z.txt', 'f/é/x', 'f-sibling', 'g/1'];
      for (const name of names) {
        const writer = await backend.storage.beginWrite(name, { expectedSize: body.length });
        await writer.writePart(0, 0, body);
        await writer.complete({ overwrite: true });
      }
      await start();
      type Page = { files: Array<{ name: string; size: number }>; folders?: Array<{ name: string; fileCount?: number }>; nextCursor: string | null };
      const whole: Page = await client.request('listFiles', { prefix: 'f/', delimiter: '/' });
      expect(whole.files.map((f) => [f.name, f.size])).toEqual([
        ['f/a.txt', 3],
        ['f/z.txt', 3],
      ]);
      expect(whole.folders?.map((f) => f.name)).toEqual(['f/sub/', 'f/é/']);
      if (backend.storage.kind === 'local') expect(whole.folders?.map((f) => f.fileCount)).toEqual([3, 1]);
      const seen: string[] = [];
      let cursor: string | null = null;
      do {
        const page: Page = await client.request('listFiles', { prefix: 'f/', delimiter: '/', limit: 1, ...(cursor === null ? {} : { cursor }) });
        seen.push(...page.files.map((f) => f.name), ...(page.folders ?? []).map((f) => f.name));
        cursor = page.nextCursor;
      } while (cursor !== null);
      expect(seen).toEqual(['f/a.txt', 'f/sub/', 'f/z.txt', 'f/é/']);
      // Without a delimiter the answer is as before: no folders member.
      expect(Object.keys(await client.request('listFiles', { prefix: 'g/' }))).toEqual(['files', 'nextCursor']);

      expect(await client.request('deleteFile', { name: 'f', recursive: true, operationId: 'rm-f' })).toEqual({ name: 'f', deleted: true, deletedCount: 6 });
      // deleteProgress: counts towards the total listed, never down, the last one done with every file deleted.
      const progress = client.notifications.filter((n) => n.method === 'deleteProgress').map((n) => n.params);
      expect(progress.length).toBeGreaterThanOrEqual(2);
      for (const params of progress) expect(params).toMatchObject({ operationId: 'rm-f', name: 'f', totalCount: 6 });
      const counts = progress.map((params) => params['deletedCount'] as number);
      expect(counts).toEqual([...counts].sort((a, b) => a - b));
      expect(progress.at(-1)).toEqual({ operationId: 'rm-f', name: 'f', deletedCount: 6, totalCount: 6, done: true });
      expect(progress.slice(0, -1).every((params) => params['done'] === false)).toBe(true);
      const left: Page = await client.request('listFiles', {});
      expect(left.files.map((f) => f.name)).toEqual(['f-sibling', 'g/1']);
      expect(await rpcError(client.request('deleteFile', { name: 'f', recursive: true }))).toMatchObject({ code: -32001, reason: 'NOT_FOUND' });
      // Without recursive, a folder name is a file name: not found, nothing deleted.
      expect(await rpcError(client.request('deleteFile', { name: 'g' }))).toMatchObject({ code: -32001, reason: 'NOT_FOUND' });
      expect((await client.request('listFiles', { prefix: 'g/' })).files).toHaveLength(1);
    });

    it('deletes files, and answers NOT_FOUND for what is not there', async () => {
      await start();
      const source = await localFile('del.txt', Buffer.from('bye'));
      await client.request('upload', { path: source, keyPath, name: 'del.txt' });
      expect(await client.request('deleteFile', { name: 'del.txt' })).toEqual({ name: 'del.txt', deleted: true });
      expect(await rpcError(client.request('deleteFile', { name: 'del.txt' }))).toMatchObject({ code: -32001, reason: 'NOT_FOUND' });
      const outDir = path.join(dir, 'o');
      await mkdir(outDir);
      expect(await rpcError(client.request('download', { name: 'del.txt', keyPath, destination: outDir }))).toMatchObject({
        reason: 'NOT_FOUND',
      });
      const missingSource = await rpcError(client.request('upload', { path: path.join(dir, 'nope'), keyPath }));
      expect(missingSource).toMatchObject({ code: -32001, reason: 'NOT_FOUND' });
      expect(missingSource.message).not.toContain(dir);
    });

    it('gives clear errors for a directory source, a missing destination folder, and the key file as source', async () => {
      await start();
      await client.request('createKey', { path: keyPath });
      expect(await rpcError(client.request('upload', { path: dir, keyPath }))).toMatchObject({ code: -32602 });
      expect(await rpcError(client.request('upload', { path: keyPath, keyPath }))).toMatchObject({ code: -32602 });
      const source = await localFile('d.txt', Buffer.from('d'));
      await client.request('upload', { path: source, keyPath, name: 'd.txt' });
      const failure = await rpcError(
        client.request('download', { name: 'd.txt', keyPath, destination: path.join(dir, 'no', 'such', 'file') }),
      );
      expect(failure).toMatchObject({ code: -32001, reason: 'NOT_FOUND' });
    });
  });
}
