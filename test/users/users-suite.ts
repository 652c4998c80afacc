/**
 * The users methods end to end, on one backend: unlock/lock and its
 * notification, contacts over RPC, the reserved names no file method can
 * reach, and the identity copy in the store (publish, sign in on a fresh
 * data dir, change the passphrase) with the store's attacks on that copy
 * (docs: ../shared/design/users-and-sharing.md, section 4).
 *
 * Work factor: 2^10 for speed here; one case runs the product's 2^18.
 */
import { mkdir, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createIdentityFile, AgeIdentity, describeAgePrefix, encryptIdentityText, identityFileText, sealAgeBuffer } from '../../src/crypto/age/index.js';
import type { Storage } from '../../src/storage/storage.js';
import { identityCopyName, sealIdentityCopy, storeIdentityCopy } from '../../src/users/identity-copy.js';
import { filesUnder } from '../helpers/age-secrets.js';
import { hookedStorage } from '../helpers/storage-wrappers.js';
import { makeTempDir, openClient, RpcCallError, type TestClient, type TestServer } from '../helpers/server.js';
import { startTestService } from '../helpers/service.js';

export interface UsersBackend {
  /** A fresh store; the same one may be handed to two services. */
  readonly storage: () => Storage;
  readonly teardown: () => Promise<void>;
}

const STRONG = 'violet tractor mango harbour 47 quietly';
const STRONG_2 = 'seventeen lanterns drift over the copper bay';
const LOG_N = 10;

async function rpcError(promise: Promise<unknown>): Promise<{ code: number; reason: unknown; message: string; data: Record<string, unknown> }> {
  try {
    await promise;
  } catch (err) {
    if (err instanceof RpcCallError) {
      return { code: err.error.code, reason: err.error.data?.reason, message: err.error.message, data: (err.error.data ?? {}) as Record<string, unknown> };
    }
    throw err;
  }
  throw new Error('expected the call to fail');
}

export function runUsersSuite(backendName: string, makeBackend: () => Promise<UsersBackend>): void {
  describe(`users methods end to end (${backendName})`, () => {
    let backend: UsersBackend;
    let storage: Storage;
    let dir: string;
    const servers: TestServer[] = [];
    const clients: TestClient[] = [];

    async function device(
      options: { identityCopyLogN?: number; wrapStorage?: (inner: Storage) => Storage; dataDir?: string } = {},
    ): Promise<{ server: TestServer; client: TestClient }> {
      const own = backend.storage();
      const server = await startTestService({
        ...(options.dataDir === undefined ? {} : { dataDir: options.dataDir }),
        storageBackend: options.wrapStorage === undefined ? own : options.wrapStorage(own),
        identityCopyLogN: options.identityCopyLogN ?? LOG_N,
      });
      const client = await openClient(server);
      servers.push(server);
      clients.push(client);
      return { server, client };
    }

    beforeEach(async () => {
      backend = await makeBackend();
      storage = backend.storage();
      await storage.init();
      dir = await makeTempDir('cloudlocker-users-');
    });

    afterEach(async () => {
      for (const client of clients.splice(0)) await client.close();
      for (const server of servers.splice(0)) await server.stop();
      await storage.close();
      await backend.teardown();
      await rm(dir, { recursive: true, force: true });
    });

    async function newIdentityFile(name: string, passphrase?: string): Promise<{ keyPath: string; card: string; cardId: string }> {
      const keyPath = path.join(dir, name);
      const created = await createIdentityFile(keyPath, passphrase === undefined ? {} : { passphrase, scryptLogN: LOG_N });
      return { keyPath, card: created.card, cardId: created.cardId };
    }

    /** Two devices on the store, A (Alice) and B (Bob), each unlocked with its own identity and holding the other as a contact. */
    async function aliceAndBob() {
      const a = await device();
      const b = await device();
      const keyA = await newIdentityFile('a.age');
      const keyB = await newIdentityFile('b.age');
      await a.client.request('unlock', { keyPath: keyA.keyPath });
      await b.client.request('unlock', { keyPath: keyB.keyPath });
      await a.client.request('addContact', { name: 'Bob', card: keyB.card });
      await b.client.request('addContact', { name: 'Alice', card: keyA.card });
      return { a, b, keyA, keyB };
    }

    describe('unlock, lock, getIdentity', () => {
      it('holds one identity, tells every connection, and lock forgets it', async () => {
        const { server, client } = await device();
        const other = await openClient(server);
        clients.push(other);
        const key = await newIdentityFile('me.age', STRONG);
        expect((await rpcError(client.request('getIdentity', {}))).reason).toBe('LOCKED');

        const unlocked = await client.request('unlock', { keyPath: key.keyPath, keyPassphrase: STRONG });
        expect(unlocked).toEqual({ unlocked: true, card: key.card, cardId: key.cardId, recipient: expect.stringMatching(/^age1/), keyPath: key.keyPath });
        const note = await other.waitForNotification((n) => n.method === 'identityChanged');
        expect(note.params).toEqual({ unlocked: true, cause: 'unlock', card: key.card, cardId: key.cardId, seq: expect.any(Number) });
        expect(await other.request('getIdentity', {})).toMatchObject({ unlocked: true, cardId: key.cardId, keyPath: key.keyPath });

        expect(await other.request('lock', {})).toEqual({ wasUnlocked: true });
        await client.waitForNotification((n) => n.method === 'identityChanged' && n.params['unlocked'] === false);
        expect((await rpcError(client.request('getIdentity', {}))).reason).toBe('LOCKED');
        expect(await client.request('lock', {})).toEqual({ wasUnlocked: false });
        // The passphrase never reached the log.
        expect(server.logs.text()).not.toContain(STRONG);
      });

      it('identityChanged carries a seq from the sequence the transfer notifications use (listTransfers agrees)', async () => {
        const { client } = await device();
        const key = await newIdentityFile('me.age');
        const plain = path.join(dir, 'seq.txt');
        await writeFile(plain, 'ordered');
        await client.request('upload', { path: plain, keyPath: key.keyPath });
        const finished = await client.waitForNotification((n) => n.method === 'transferFinished');
        const before = finished.params['seq'] as number;
        await client.request('unlock', { keyPath: key.keyPath });
        const unlocked = await client.waitForNotification((n) => n.method === 'identityChanged' && n.params['unlocked'] === true);
        await client.request('lock', {});
        const locked = await client.waitForNotification((n) => n.method === 'identityChanged' && n.params['unlocked'] === false);
        expect(unlocked.params['seq']).toBeGreaterThan(before);
        expect(locked.params['seq']).toBe((unlocked.params['seq'] as number) + 1);
        // The listing's seq counts them too: a client that saw the lock misses nothing after it.
        const listed = await client.request('listTransfers', { sinceSeq: locked.params['seq'] as number });
        expect(listed.seq).toBe(locked.params['seq']);
        expect(listed.transfers).toEqual([]);
      });

      it('refuses a wrong passphrase, a missing one, a v1 key file and a missing file, each with its reason', async () => {
        const { client } = await device();
        const key = await newIdentityFile('me.age', STRONG);
        expect(await rpcError(client.request('unlock', { keyPath: key.keyPath, keyPassphrase: 'wrong wrong wrong' }))).toMatchObject({
          reason: 'KEY_INVALID',
          data: { passphraseWrong: true },
        });
        expect(await rpcError(client.request('unlock', { keyPath: key.keyPath }))).toMatchObject({ reason: 'KEY_INVALID', data: { passphraseRequired: true } });
        const v1 = path.join(dir, 'old.key.json');
        await client.request('createKey', { path: v1, type: 'v1' });
        expect((await rpcError(client.request('unlock', { keyPath: v1 }))).reason).toBe('KEY_INVALID');
        expect((await rpcError(client.request('unlock', { keyPath: path.join(dir, 'none.age') }))).reason).toBe('NOT_FOUND');
        expect((await rpcError(client.request('getIdentity', {}))).reason).toBe('LOCKED');
      });

      it('locks by itself after the idle timeout', async () => {
        const { client } = await device();
        const key = await newIdentityFile('me.age');
        await client.request('unlock', { keyPath: key.keyPath, idleTimeoutMs: 300 });
        expect(await client.request('getIdentity', {})).toMatchObject({ unlocked: true, idleTimeoutMs: 300 });
        const note = await client.waitForNotification((n) => n.method === 'identityChanged' && n.params['unlocked'] === false, 5000);
        expect(note.params).toEqual({ unlocked: false, cause: 'idle', seq: expect.any(Number) });
        expect((await rpcError(client.request('getIdentity', {}))).reason).toBe('LOCKED');
      });

      it('a call needing the identity while locked gets LOCKED', async () => {
        const { client } = await device();
        const error = await rpcError(client.request('publishIdentity', { userName: 'alice', passphrase: STRONG }));
        expect(error).toMatchObject({ code: -32030, reason: 'LOCKED' });
        expect(error.message).toMatch(/unlock/);
      });
    });

    describe('transfers with the unlocked identity', () => {
      it('upload and download need no keyPath while unlocked; an explicit keyPath still wins; locked: LOCKED', async () => {
        const { client } = await device();
        const key = await newIdentityFile('me.age');
        const plain = path.join(dir, 'note.txt');
        await writeFile(plain, 'unlocked once');
        expect((await rpcError(client.request('upload', { path: plain }))).reason).toBe('LOCKED');
        expect((await rpcError(client.request('download', { name: 'note.txt', destination: path.join(dir, 'x') }))).reason).toBe('LOCKED');

        await client.request('unlock', { keyPath: key.keyPath });
        const uploaded = await client.request('upload', { path: plain });
        expect(uploaded).toMatchObject({ name: 'note.txt', keyId: key.cardId, keyPath: key.keyPath, keyCreated: false });
        const out = path.join(dir, 'out.txt');
        expect(await client.request('download', { name: 'note.txt', destination: out })).toMatchObject({ author: { kind: 'self', cardId: key.cardId } });
        expect(await readFile(out, 'utf8')).toBe('unlocked once');

        // An explicit keyPath wins over the unlocked identity.
        const other = await newIdentityFile('other.age');
        expect(await client.request('upload', { path: plain, name: 'other.txt', keyPath: other.keyPath })).toMatchObject({ keyId: other.cardId });
        expect((await rpcError(client.request('download', { name: 'other.txt', destination: path.join(dir, 'o1') }))).reason).toBe('NOT_A_RECIPIENT');
        await client.request('download', { name: 'other.txt', destination: path.join(dir, 'o2'), keyPath: other.keyPath });

        await client.request('lock', {});
        expect((await rpcError(client.request('download', { name: 'note.txt', destination: path.join(dir, 'y') }))).reason).toBe('LOCKED');
        expect(await readdir(dir)).not.toContain('y');
      });

      it('uploadFolder and downloadFolder need no keyPath while unlocked; an explicit keyPath still wins; locked: LOCKED, nothing stored or written', async () => {
        const { client } = await device();
        const key = await newIdentityFile('me.age');
        const tree = path.join(dir, 'tree');
        await mkdir(path.join(tree, 'sub'), { recursive: true });
        await writeFile(path.join(tree, 'a.txt'), 'first');
        await writeFile(path.join(tree, 'sub', 'b.txt'), 'second');
        const restore = path.join(dir, 'restore');
        await mkdir(restore);

        const lockedUpload = await rpcError(client.request('uploadFolder', { path: tree }));
        expect(lockedUpload).toMatchObject({ code: -32030, reason: 'LOCKED' });
        expect(lockedUpload.message).toMatch(/unlock/);
        expect((await client.request('listFiles', {})).files).toEqual([]);

        await client.request('unlock', { keyPath: key.keyPath });
        const uploaded = await client.request('uploadFolder', { path: tree });
        expect(uploaded).toMatchObject({ name: 'tree', filesStored: 2, failed: [], keyId: key.cardId, keyPath: key.keyPath, keyCreated: false });
        const downloaded = await client.request('downloadFolder', { name: 'tree', destination: restore });
        expect(downloaded).toMatchObject({ filesSaved: 2, failed: [] });
        expect(await readFile(path.join(restore, 'tree', 'sub', 'b.txt'), 'utf8')).toBe('second');

        // An explicit keyPath wins: a folder stored for another identity is not readable with the unlocked one.
        const other = await newIdentityFile('other.age');
        expect(await client.request('uploadFolder', { path: tree, name: 'theirs', keyPath: other.keyPath })).toMatchObject({ keyId: other.cardId, filesStored: 2 });
        const wrongKey = await client.request('downloadFolder', { name: 'theirs', destination: restore });
        expect(wrongKey.filesSaved).toBe(0);
        expect(wrongKey.failed.map((failure) => failure.error.data?.['reason'])).toEqual(['NOT_A_RECIPIENT', 'NOT_A_RECIPIENT']);
        expect(await filesUnder(path.join(restore, 'theirs'))).toEqual([]);
        expect(await client.request('downloadFolder', { name: 'theirs', destination: restore, keyPath: other.keyPath })).toMatchObject({ filesSaved: 2 });

        // The unlocked identity's own file must not travel inside the folder it encrypts.
        const inside = path.join(dir, 'with-key');
        await mkdir(inside);
        await writeFile(path.join(inside, 'c.txt'), 'third');
        await createIdentityFile(path.join(inside, 'me.age'), {});
        await client.request('unlock', { keyPath: path.join(inside, 'me.age') });
        expect(await rpcError(client.request('uploadFolder', { path: inside }))).toMatchObject({ code: -32602 });
        expect((await client.request('listFiles', { prefix: 'with-key/' })).files).toEqual([]);

        await client.request('lock', {});
        expect((await rpcError(client.request('downloadFolder', { name: 'tree', destination: path.join(dir, 'later'), createDirectories: true }))).reason).toBe('LOCKED');
        expect(await readdir(dir)).not.toContain('later');
      });
    });

    describe('two devices, two users, one store', () => {
      it('B signs in and reads what A uploaded; A shares with user C by card; C sees A as author once A is a contact', async () => {
        const a = await device();
        const keyA = await newIdentityFile('a.age');
        await a.client.request('unlock', { keyPath: keyA.keyPath });
        await a.client.request('publishIdentity', { userName: 'alice', passphrase: STRONG });
        const report = path.join(dir, 'report.txt');
        await writeFile(report, 'quarterly numbers');
        await a.client.request('upload', { path: report });

        // Device B: a fresh data dir, the passphrase alone.
        const b = await device();
        await b.client.request('signIn', { userName: 'alice', passphrase: STRONG, keyPath: path.join(dir, 'b.age') });
        const onB = path.join(dir, 'on-b.txt');
        expect(await b.client.request('download', { name: 'report.txt', destination: onB })).toMatchObject({ author: { kind: 'self' } });
        expect(await readFile(onB, 'utf8')).toBe('quarterly numbers');

        // User C, on a third device, gives A their card; A uploads a file for C.
        const c = await device();
        const keyC = await newIdentityFile('c.age');
        await c.client.request('unlock', { keyPath: keyC.keyPath });
        await a.client.request('addContact', { name: 'Carol', card: keyC.card });
        const shared = path.join(dir, 'shared.txt');
        await writeFile(shared, 'for carol');
        await a.client.request('upload', { path: shared, recipients: [keyC.card] });
        // C does not know A yet: the file is refused as by an unknown author.
        expect((await rpcError(c.client.request('download', { name: 'shared.txt', destination: path.join(dir, 'c1.txt') }))).reason).toBe('AUTHOR_UNKNOWN');
        expect(await readdir(dir)).not.toContain('c1.txt');
        await c.client.request('addContact', { name: 'Alice', card: keyA.card });
        expect(await c.client.request('download', { name: 'shared.txt', destination: path.join(dir, 'c2.txt') })).toMatchObject({
          author: { kind: 'contact', name: 'Alice', cardId: keyA.cardId },
        });
        expect(await readFile(path.join(dir, 'c2.txt'), 'utf8')).toBe('for carol');
        // A folder download trusts the same contacts as a single download. (C's second device: a local
        // store's listing index is per service, built at start, so it sees A's folder.)
        await a.client.request('upload', { path: shared, name: 'for-carol/shared.txt', recipients: [keyC.card] });
        const cFolders = await device();
        const folderOnC = () =>
          cFolders.client.request('downloadFolder', { name: 'for-carol', keyPath: keyC.keyPath, destination: path.join(dir, 'c-folder'), createDirectories: true });
        expect((await folderOnC()).failed.map((failure) => failure.error.data?.['reason'])).toEqual(['AUTHOR_UNKNOWN']);
        await cFolders.client.request('addContact', { name: 'Alice', card: keyA.card });
        const saved = await folderOnC();
        expect(saved).toMatchObject({ filesSaved: 1, failed: [] });
        expect(await readFile(path.join(saved.path, 'shared.txt'), 'utf8')).toBe('for carol');
        // Removing the contact makes A unknown again.
        await c.client.request('removeContact', { name: 'alice' });
        expect((await rpcError(c.client.request('download', { name: 'shared.txt', destination: path.join(dir, 'c3.txt') }))).reason).toBe('AUTHOR_UNKNOWN');
        // A file not encrypted to C stays closed to C.
        expect((await rpcError(c.client.request('download', { name: 'report.txt', destination: path.join(dir, 'c4.txt') }))).reason).toBe('NOT_A_RECIPIENT');
      });
    });

    describe('sharing a stored file', () => {
      async function storedBytes(name: string): Promise<Buffer> {
        const size = (await storage.stat(name)).storedSize;
        return Buffer.from(await storage.readRange(name, 0, size));
      }

      it('shareFile adds a contact by rewriting only the header; B reads it (and so does age -d); unshareFile takes it back', async () => {
        const { a, b, keyA, keyB } = await aliceAndBob();
        const content = Buffer.alloc(3 * 65536 + 123, 7);
        const source = path.join(dir, 'plan.bin');
        await writeFile(source, content);
        await a.client.request('upload', { path: source });
        expect((await rpcError(b.client.request('download', { name: 'plan.bin', destination: path.join(dir, 'b0.bin') }))).reason).toBe('NOT_A_RECIPIENT');

        const before = await storedBytes('plan.bin');
        const oldHeader = describeAgePrefix(before)!.prefixLength - 16;
        const shared = await a.client.request('shareFile', { name: 'plan.bin', with: ['bob'] });
        // A file under 1 MiB has no header slot: its longer header is copied, also on the local store ("in-place" for same-length headers).
        const copyMethod = storage.capabilities.headerRewrite === 'in-place' ? 'local-copy' : storage.capabilities.headerRewrite;
        expect(shared).toMatchObject({ name: 'plan.bin', recipientCount: 2, headerRewrite: copyMethod });
        const after = await storedBytes('plan.bin');
        const newHeader = describeAgePrefix(after)!.prefixLength - 16;
        expect(newHeader).toBeGreaterThan(oldHeader);
        // The payload (nonce and every chunk) is byte for byte the one uploaded.
        expect(after.subarray(newHeader).equals(before.subarray(oldHeader))).toBe(true);
        expect(shared.storedSize).toBe(after.length);

        const onB = path.join(dir, 'b1.bin');
        expect(await b.client.request('download', { name: 'plan.bin', destination: onB })).toMatchObject({
          author: { kind: 'contact', name: 'Alice', cardId: keyA.cardId },
        });
        expect((await readFile(onB)).equals(content)).toBe(true);
        // Interop: Debian's age opens the shared object with B's identity file.
        const storedFile = path.join(dir, 'stored.age');
        await writeFile(storedFile, after);
        expect(execFileSync('age', ['-d', '-i', keyB.keyPath, storedFile]).equals(content)).toBe(true);
        // A still reads it.
        await a.client.request('download', { name: 'plan.bin', destination: path.join(dir, 'a1.bin') });

        const unshared = await a.client.request('unshareFile', { name: 'plan.bin' });
        expect(unshared).toMatchObject({ name: 'plan.bin', recipientCount: 1 });
        expect((await rpcError(b.client.request('download', { name: 'plan.bin', destination: path.join(dir, 'b2.bin') }))).reason).toBe('NOT_A_RECIPIENT');
        const reencrypted = await storedBytes('plan.bin');
        // A new file key: not one payload byte in common with the shared object's (nonce included).
        expect(reencrypted.subarray(describeAgePrefix(reencrypted)!.prefixLength - 16, describeAgePrefix(reencrypted)!.prefixLength).equals(after.subarray(newHeader, newHeader + 16))).toBe(false);
        await writeFile(storedFile, reencrypted);
        expect(() => execFileSync('age', ['-d', '-i', keyB.keyPath, storedFile], { stdio: 'pipe' })).toThrow();
        const onA = path.join(dir, 'a2.bin');
        await a.client.request('download', { name: 'plan.bin', destination: onA });
        expect((await readFile(onA)).equals(content)).toBe(true);
      });

      it('a file of 1 MiB and more keeps its header length when shared (header slot: in place on the local store); downloads during shares complete; B and age -d read it', async () => {
        const { a, b, keyA, keyB } = await aliceAndBob();
        const content = randomBytes(3 * 1024 * 1024 + 5);
        const source = path.join(dir, 'big-plan.bin');
        await writeFile(source, content);
        await a.client.request('upload', { path: source });
        const before = await storedBytes('big-plan.bin');
        const others = await Promise.all([0, 1, 2].map((i) => newIdentityFile(`other-${i}.age`)));
        // In place (local store): A's own downloads run while the header is rewritten four times, and each
        // completes byte-exact (the payload never moves). A store that replaces the object is not asked this.
        const inPlace = storage.capabilities.headerRewrite === 'in-place';
        const download = (i: number) => a.client.request('download', { name: 'big-plan.bin', destination: path.join(dir, `during-${i}.bin`) });
        const downloads = inPlace ? [0, 1, 2].map(download) : [];
        const shares = [];
        for (const other of others) shares.push(await a.client.request('shareFile', { name: 'big-plan.bin', with: [other.card] }));
        const shared = await a.client.request('shareFile', { name: 'big-plan.bin', with: ['bob'] });
        await Promise.all(inPlace ? downloads : [0, 1, 2].map(download));
        for (const i of [0, 1, 2]) expect((await readFile(path.join(dir, `during-${i}.bin`))).equals(content)).toBe(true);
        expect([...shares, shared].map((result) => result.headerRewrite)).toEqual(Array(4).fill(storage.capabilities.headerRewrite));
        expect(shared).toMatchObject({ recipientCount: 5, storedSize: before.length });
        const after = await storedBytes('big-plan.bin');
        const prefix = describeAgePrefix(before)!.prefixLength;
        expect(describeAgePrefix(after)!.prefixLength).toBe(prefix);
        expect(after.subarray(prefix).equals(before.subarray(prefix))).toBe(true);
        const onB = path.join(dir, 'big-b.bin');
        expect(await b.client.request('download', { name: 'big-plan.bin', destination: onB })).toMatchObject({ author: { kind: 'contact', name: 'Alice' } });
        expect((await readFile(onB)).equals(content)).toBe(true);
        const storedFile = path.join(dir, 'big-stored.age');
        await writeFile(storedFile, after);
        expect(execFileSync('age', ['-d', '-i', keyB.keyPath, storedFile], { maxBuffer: 8 << 20 }).equals(content)).toBe(true);
      }, 60_000);

      it('unshareFile never overwrites a write by another device that lands before it publishes (SOURCE_CHANGED, theirs kept)', async () => {
        let replaceBeforePublish = false;
        const theirs = Buffer.from('written by another device while unshareFile was re-encrypting');
        const a = await device({
          wrapStorage: (inner) =>
            hookedStorage(inner, {
              beforeComplete: async () => {
                if (!replaceBeforePublish) return;
                replaceBeforePublish = false;
                // Another device (its own store instance) replaces the object right before unshare's publish.
                const writer = await storage.beginWrite('race.bin');
                await writer.writePart(0, 0, theirs);
                await writer.complete({ overwrite: true });
              },
            }),
        });
        const keyA = await newIdentityFile('a.age');
        const keyB = await newIdentityFile('b.age');
        await a.client.request('unlock', { keyPath: keyA.keyPath });
        await a.client.request('addContact', { name: 'Bob', card: keyB.card });
        const source = path.join(dir, 'race.bin');
        await writeFile(source, Buffer.alloc(70_000, 3));
        await a.client.request('upload', { path: source });
        await a.client.request('shareFile', { name: 'race.bin', with: ['bob'] });

        replaceBeforePublish = true;
        expect((await rpcError(a.client.request('unshareFile', { name: 'race.bin' }))).reason).toBe('SOURCE_CHANGED');
        expect(replaceBeforePublish).toBe(false);
        expect((await storedBytes('race.bin')).equals(theirs)).toBe(true);
      });

      it("a damaged contacts file still lets the user download their own files, and refuses everyone else's", async () => {
        const dataDir = path.join(dir, 'data-a');
        await mkdir(dataDir);
        const a = await device({ dataDir });
        const b = await device();
        const keyA = await newIdentityFile('a.age');
        const keyB = await newIdentityFile('b.age');
        await a.client.request('unlock', { keyPath: keyA.keyPath });
        await b.client.request('unlock', { keyPath: keyB.keyPath });
        await a.client.request('addContact', { name: 'Bob', card: keyB.card });
        const mine = path.join(dir, 'mine.txt');
        await writeFile(mine, 'my own notes');
        await a.client.request('upload', { path: mine });
        const theirs = path.join(dir, 'from-bob.txt');
        await writeFile(theirs, 'from bob');
        await b.client.request('upload', { path: theirs, recipients: [keyA.card] });
        expect(await a.client.request('download', { name: 'from-bob.txt', destination: path.join(dir, 'ok.txt') })).toMatchObject({ author: { kind: 'contact', name: 'Bob' } });

        await writeFile(path.join(dataDir, 'contacts.json'), '{"version": 1, "contacts": [ cut short');
        expect((await rpcError(a.client.request('listContacts', {}))).reason).toBe('CONTACTS_INVALID');
        const back = path.join(dir, 'mine-back.txt');
        expect(await a.client.request('download', { name: 'mine.txt', destination: back })).toMatchObject({ author: { kind: 'self', cardId: keyA.cardId } });
        expect(await readFile(back, 'utf8')).toBe('my own notes');
        // Fail safe: nobody but the user is trusted while the contacts cannot be read.
        expect((await rpcError(a.client.request('download', { name: 'from-bob.txt', destination: path.join(dir, 'refused.txt') }))).reason).toBe('AUTHOR_UNKNOWN');
        expect(await readdir(dir)).not.toContain('refused.txt');
      });

      it('exportFile writes a standalone age file for one recipient that age -d opens, and never over a file', async () => {
        const { client } = await device();
        const key = await newIdentityFile('a.age');
        const dave = await newIdentityFile('dave.age');
        await client.request('unlock', { keyPath: key.keyPath });
        await client.request('addContact', { name: 'Dave', card: dave.card });
        const content = Buffer.alloc(2 * 65536 + 7, 3);
        const source = path.join(dir, 'big.bin');
        await writeFile(source, content);
        await client.request('upload', { path: source });
        const stored = await storedBytes('big.bin');
        const out = path.join(dir, 'for-dave.age');
        const exported = await client.request('exportFile', { name: 'big.bin', recipient: 'Dave', destination: out });
        expect(exported).toMatchObject({ name: 'big.bin', path: out });
        const file = await readFile(out);
        expect(exported.size).toBe(file.length);
        if (process.platform !== 'win32') expect((await stat(out)).mode & 0o777).toBe(0o600);
        // The payload is the stored one, byte for byte.
        const storedHeader = describeAgePrefix(stored)!.prefixLength - 16;
        const fileHeader = describeAgePrefix(file)!.prefixLength - 16;
        expect(file.subarray(fileHeader).equals(stored.subarray(storedHeader))).toBe(true);
        expect(execFileSync('age', ['-d', '-i', dave.keyPath, out]).equals(content)).toBe(true);
        // Only for Dave: not even the exporter's own identity opens it.
        expect(() => execFileSync('age', ['-d', '-i', key.keyPath, out], { stdio: 'pipe' })).toThrow();
        expect((await rpcError(client.request('exportFile', { name: 'big.bin', recipient: 'Dave', destination: out }))).reason).toBe('ALREADY_EXISTS');
        expect(await rpcError(client.request('exportFile', { name: 'big.bin', recipient: 'nobody', destination: path.join(dir, 'n.age') }))).toMatchObject({ data: { param: 'recipient' } });
        // Never onto the identity that opens every file, even with overwrite: named directly, or as the folder it is in.
        const keyBytes = await readFile(key.keyPath);
        expect(await rpcError(client.request('exportFile', { name: 'big.bin', recipient: 'Dave', destination: key.keyPath, overwrite: true }))).toMatchObject({
          data: { param: 'destination' },
        });
        const keyNamed = path.basename(key.keyPath);
        await client.request('upload', { path: source, name: keyNamed });
        expect(
          await rpcError(client.request('exportFile', { name: keyNamed, recipient: 'Dave', destination: `${path.dirname(key.keyPath)}${path.sep}`, overwrite: true })),
        ).toMatchObject({ data: { param: 'destination' } });
        expect((await readFile(key.keyPath)).equals(keyBytes)).toBe(true);
      });

      it('refuses to pass on a planted file, an unknown contact name, a v1 file, and only the author may unshare', async () => {
        const { client } = await device();
        const key = await newIdentityFile('a.age');
        await client.request('unlock', { keyPath: key.keyPath });
        const bob = AgeIdentity.generate();
        const attacker = AgeIdentity.generate();
        const planted = sealAgeBuffer(Buffer.from('planted'), { identity: attacker, name: 'planted.txt', recipients: [key.card] });
        const writer = await storage.beginWrite('planted.txt');
        await writer.writePart(0, 0, planted);
        await writer.complete({ overwrite: false });
        expect((await rpcError(client.request('shareFile', { name: 'planted.txt', with: [bob.card.card] }))).reason).toBe('AUTHOR_UNKNOWN');
        expect(Buffer.from(await storage.readRange('planted.txt', 0, planted.length + 10)).equals(planted)).toBe(true);

        const plain = path.join(dir, 'x.txt');
        await writeFile(plain, 'x');
        await client.request('upload', { path: plain });
        expect(await rpcError(client.request('shareFile', { name: 'x.txt', with: ['nobody'] }))).toMatchObject({ code: -32602, data: { param: 'with[0]' } });
        const v1 = path.join(dir, 'v1.key.json');
        await client.request('upload', { path: plain, name: 'v1.txt', keyPath: v1, keyType: 'v1' });
        expect(await rpcError(client.request('shareFile', { name: 'v1.txt', with: [bob.card.card] }))).toMatchObject({ code: -32602, data: { param: 'name' } });

        // Bob's file shared with us: we may read it, not unshare it.
        const bobKey = path.join(dir, 'bob.age');
        await writeFile(bobKey, identityFileText(bob, new Date()));
        await client.request('addContact', { name: 'Bob', card: bob.card.card });
        await client.request('upload', { path: plain, name: 'from-bob.txt', keyPath: bobKey, recipients: [key.card] });
        await client.request('download', { name: 'from-bob.txt', destination: path.join(dir, 'fb.txt') });
        expect(await rpcError(client.request('unshareFile', { name: 'from-bob.txt' }))).toMatchObject({ code: -32602, data: { param: 'name' } });
      });
    });

    describe('contacts over the protocol', () => {
      it('add, list, remove; bad cards are -32602', async () => {
        const { client } = await device();
        const bob = AgeIdentity.generate().card;
        expect(await client.request('addContact', { name: 'Bob', card: bob.card })).toMatchObject({ name: 'Bob', cardId: bob.cardId });
        expect((await rpcError(client.request('addContact', { name: 'bob', card: AgeIdentity.generate().card.card }))).reason).toBe('ALREADY_EXISTS');
        const broken = bob.card.slice(0, -1) + (bob.card.endsWith('q') ? 'p' : 'q');
        expect(await rpcError(client.request('addContact', { name: 'Eve', card: broken }))).toMatchObject({ code: -32602, data: { param: 'card' } });
        expect((await client.request('listContacts', {})).contacts.map((c) => c.name)).toEqual(['Bob']);
        expect(await client.request('removeContact', { name: 'BOB' })).toEqual({ name: 'Bob', removed: true });
        expect((await rpcError(client.request('removeContact', { name: 'Bob' }))).reason).toBe('NOT_FOUND');
      });
    });

    describe('reserved names (.cloudlocker/)', () => {
      it('no file method can list, read, overwrite or delete the identity copy', async () => {
        const { client } = await device();
        const key = await newIdentityFile('me.age');
        await client.request('unlock', { keyPath: key.keyPath });
        await client.request('publishIdentity', { userName: 'alice', passphrase: STRONG });
        const copyName = identityCopyName('alice');
        const before = await storage.readRange(copyName, 0, 1 << 16);

        const plain = path.join(dir, 'plain.txt');
        await writeFile(plain, 'hello');
        const v1Key = path.join(dir, 'v1.key.json');
        expect((await client.request('listFiles', {})).files).toEqual([]);
        expect((await client.request('listFiles', { prefix: '.cloudlocker/' })).files).toEqual([]);
        expect((await client.request('listFiles', { prefix: '.cloud' })).files).toEqual([]);
        for (const call of [
          client.request('getFileInfo', { name: copyName }),
          client.request('deleteFile', { name: copyName }),
          client.request('download', { name: copyName, keyPath: v1Key, destination: path.join(dir, 'out') }),
          client.request('upload', { path: plain, keyPath: v1Key, name: copyName, overwrite: true }),
          client.request('upload', { path: plain, keyPath: v1Key, name: '.cloudlocker/anything', overwrite: true }),
        ]) {
          const error = await rpcError(call);
          expect(error.code).toBe(-32602);
          expect(error.message).toMatch(/reserved/);
        }
        expect(Buffer.from(await storage.readRange(copyName, 0, 1 << 16)).equals(Buffer.from(before))).toBe(true);
        expect(await readdir(dir)).not.toContain('out');
      });

      it('a listing page is filled past reserved names and ends with null', async () => {
        const { client } = await device();
        const key = await newIdentityFile('me.age');
        const plain = path.join(dir, 'plain.txt');
        await writeFile(plain, 'x');
        const v1Key = path.join(dir, 'v1.key.json');
        // '-' (0x2d) sorts before '.' (0x2e) and 'a' after it: the copies sit between.
        await client.request('upload', { path: plain, keyPath: v1Key, name: '-first' });
        await client.request('upload', { path: plain, keyPath: v1Key, name: 'after' });
        await client.request('unlock', { keyPath: key.keyPath });
        for (const user of ['u1', 'u2', 'u3']) await client.request('publishIdentity', { userName: user, passphrase: STRONG });
        const first = await client.request('listFiles', { limit: 1 });
        expect(first.files.map((f) => f.name)).toEqual(['-first']);
        expect(first.nextCursor).not.toBeNull();
        const second = await client.request('listFiles', { limit: 1, cursor: first.nextCursor! });
        expect(second.files.map((f) => f.name)).toEqual(['after']);
        expect(second.nextCursor).toBeNull();
        expect((await client.request('listFiles', {})).files.map((f) => f.name)).toEqual(['-first', 'after']);
      });
    });

    describe('identity copy: publish, sign in on a new device, change the passphrase', () => {
      it('device B signs in with the user name and passphrase alone and holds the same identity', async () => {
        const a = await device();
        const key = await newIdentityFile('a.age');
        await a.client.request('unlock', { keyPath: key.keyPath });
        expect(await a.client.request('publishIdentity', { userName: 'alice', passphrase: STRONG })).toEqual({
          userName: 'alice',
          cardId: key.cardId,
          scryptLogN: LOG_N,
        });
        // A second publish without overwrite leaves the copy alone.
        expect((await rpcError(a.client.request('publishIdentity', { userName: 'alice', passphrase: STRONG_2 }))).reason).toBe('ALREADY_EXISTS');

        const b = await device();
        const keyB = path.join(dir, 'b', 'identity.age');
        await mkdir(path.dirname(keyB));
        const signedIn = await b.client.request('signIn', { userName: 'alice', passphrase: STRONG, keyPath: keyB });
        expect(signedIn).toMatchObject({ userName: 'alice', unlocked: true, cardId: key.cardId, card: key.card, keyPath: keyB });
        await b.client.waitForNotification((n) => n.method === 'identityChanged' && n.params['cause'] === 'signIn');
        if (process.platform !== 'win32') expect((await stat(keyB)).mode & 0o777).toBe(0o600);
        // The file written is a plain age identity file holding the same secret.
        const secretLine = (text: string) => text.split('\n').find((line) => line.startsWith('AGE-SECRET-KEY-1'));
        expect(secretLine(await readFile(keyB, 'utf8'))).toBe(secretLine(await readFile(key.keyPath, 'utf8')));
        expect(secretLine(await readFile(keyB, 'utf8'))).toBeDefined();
        // Never over an existing file: a second sign-in to the same path is refused before any scrypt run.
        const again = await rpcError(b.client.request('signIn', { userName: 'alice', passphrase: STRONG, keyPath: keyB }));
        expect(again.reason).toBe('ALREADY_EXISTS');
        for (const server of [a.server, b.server]) {
          expect(server.logs.text()).not.toContain(STRONG);
          expect(server.logs.text()).not.toContain('AGE-SECRET-KEY');
        }
        // Nothing in the store holds the passphrase or the secret in the clear.
        const stored = Buffer.from(await storage.readRange(identityCopyName('alice'), 0, 1 << 16)).toString('utf8');
        expect(stored).toMatch(/^-----BEGIN AGE ENCRYPTED FILE-----/);
        expect(stored).not.toContain(STRONG);
        expect(stored).not.toContain('AGE-SECRET-KEY');
      });

      it('signIn with protectKeyFile writes a passphrase-protected identity file', async () => {
        const a = await device();
        const key = await newIdentityFile('a.age');
        await a.client.request('publishIdentity', { userName: 'alice', passphrase: STRONG, keyPath: key.keyPath });
        const keyB = path.join(dir, 'b.age');
        await a.client.request('signIn', { userName: 'alice', passphrase: STRONG, keyPath: keyB, protectKeyFile: true });
        expect(await readFile(keyB, 'utf8')).toMatch(/^-----BEGIN AGE ENCRYPTED FILE-----/);
        await a.client.request('lock', {});
        expect(await a.client.request('unlock', { keyPath: keyB, keyPassphrase: STRONG })).toMatchObject({ cardId: key.cardId });
      });

      it('refuses weak passphrases with a reason and a time to guess', async () => {
        const { client } = await device();
        const key = await newIdentityFile('a.age');
        for (const weak of ['password1', 'alice2026', 'qwertyuiop', 'Tr0ub4dor&3', 'cloudlocker cloudlocker']) {
          const error = await rpcError(client.request('publishIdentity', { userName: 'alice', passphrase: weak, keyPath: key.keyPath }));
          expect(error).toMatchObject({ code: -32031, reason: 'PASSPHRASE_WEAK', data: { param: 'passphrase', minGuessesLog10: 12 } });
          expect(error.data['guessesLog10']).toBeLessThan(12);
          expect(error.message).toMatch(/an attacker would need/);
          expect(error.message).not.toContain(weak);
        }
        await expect(storage.stat(identityCopyName('alice'))).rejects.toMatchObject({ reason: 'NOT_FOUND' });
      });

      it('changePassphrase: the old passphrase stops working, the new one signs in to the same identity', async () => {
        const { client } = await device();
        const key = await newIdentityFile('a.age');
        await client.request('publishIdentity', { userName: 'alice', passphrase: STRONG, keyPath: key.keyPath });
        expect((await rpcError(client.request('changePassphrase', { userName: 'alice', passphrase: 'not it at all, no', newPassphrase: STRONG_2 }))).reason).toBe('KEY_INVALID');
        expect((await rpcError(client.request('changePassphrase', { userName: 'alice', passphrase: STRONG, newPassphrase: 'password123' }))).reason).toBe('PASSPHRASE_WEAK');
        expect(await client.request('changePassphrase', { userName: 'alice', passphrase: STRONG, newPassphrase: STRONG_2 })).toEqual({
          userName: 'alice',
          cardId: key.cardId,
          changed: true,
        });
        expect((await rpcError(client.request('signIn', { userName: 'alice', passphrase: STRONG, keyPath: path.join(dir, 'x.age') }))).reason).toBe('KEY_INVALID');
        expect(await readdir(dir)).not.toContain('x.age');
        expect(await client.request('signIn', { userName: 'alice', passphrase: STRONG_2, keyPath: path.join(dir, 'y.age') })).toMatchObject({ cardId: key.cardId });
      });

      it('NOT_FOUND for a user name with no copy; nothing written', async () => {
        const { client } = await device();
        const error = await rpcError(client.request('signIn', { userName: 'nobody', passphrase: STRONG, keyPath: path.join(dir, 'n.age') }));
        expect(error.reason).toBe('NOT_FOUND');
        expect(await readdir(dir)).not.toContain('n.age');
      });
    });

    describe('the store attacks the identity copy (sign-in fails, no identity written)', () => {
      async function signInFails(client: TestClient, userName: string, passphrase: string, extra: Record<string, unknown> = {}) {
        const keyPath = path.join(dir, `attacked-${Math.random().toString(36).slice(2)}.age`);
        const error = await rpcError(client.request('signIn', { userName, passphrase, keyPath, ...extra } as never));
        await expect(stat(keyPath)).rejects.toMatchObject({ code: 'ENOENT' });
        expect((await rpcError(client.request('getIdentity', {}))).reason).toBe('LOCKED');
        return error;
      }

      it('a copy of the provider\'s making (its own identity, its own passphrase) does not open: KEY_INVALID', async () => {
        const { client } = await device();
        const key = await newIdentityFile('a.age');
        await client.request('publishIdentity', { userName: 'alice', passphrase: STRONG, keyPath: key.keyPath });
        const attacker = AgeIdentity.generate();
        await storeIdentityCopy(storage, 'alice', await sealIdentityCopy(attacker, 'alice', 'the provider knows this one', { logN: LOG_N }), true);
        const error = await signInFails(client, 'alice', STRONG);
        expect(error).toMatchObject({ reason: 'KEY_INVALID', data: { passphraseWrong: true } });
        expect(error.message).toMatch(/replaced/);
      });

      it('a copy moved from another user name who chose the same passphrase: IDENTITY_COPY_INVALID', async () => {
        const { client } = await device();
        const alice = await newIdentityFile('a.age');
        const bob = await newIdentityFile('b.age');
        await client.request('publishIdentity', { userName: 'alice', passphrase: STRONG, keyPath: alice.keyPath });
        await client.request('publishIdentity', { userName: 'bob', passphrase: STRONG, keyPath: bob.keyPath });
        const bobsCopy = Buffer.from(await storage.readRange(identityCopyName('bob'), 0, 1 << 16)).toString('utf8');
        await storeIdentityCopy(storage, 'alice', bobsCopy, true);
        const error = await signInFails(client, 'alice', STRONG);
        expect(error).toMatchObject({ code: -32032, reason: 'IDENTITY_COPY_INVALID' });
        expect(error.message).toMatch(/another user name/);
      });

      it('a plain age identity file under the passphrase but without the user-name binding: IDENTITY_COPY_INVALID', async () => {
        const { client } = await device();
        // Someone who learnt the passphrase plants their own identity: still refused without the binding.
        const planted = await encryptIdentityText(identityFileText(AgeIdentity.generate(), new Date()), STRONG, { logN: LOG_N });
        await storeIdentityCopy(storage, 'alice', planted, true);
        expect((await signInFails(client, 'alice', STRONG)).reason).toBe('IDENTITY_COPY_INVALID');
      });

      it('a copy altered in the store (a flipped bit), cut short, or not an age file at all', async () => {
        const { client } = await device();
        const key = await newIdentityFile('a.age');
        await client.request('publishIdentity', { userName: 'alice', passphrase: STRONG, keyPath: key.keyPath });
        const good = Buffer.from(await storage.readRange(identityCopyName('alice'), 0, 1 << 16)).toString('utf8');
        const lines = good.split('\n');
        // Change one base64 character in the armored body (past the header line).
        const bodyLine = lines[2];
        const flipped = [...lines.slice(0, 2), (bodyLine[5] === 'A' ? 'B' : 'A') + bodyLine.slice(1, 5) + bodyLine.slice(5), ...lines.slice(3)].join('\n');
        const altered = [...lines.slice(0, 2), bodyLine.slice(0, 5) + (bodyLine[5] === 'A' ? 'B' : 'A') + bodyLine.slice(6), ...lines.slice(3)].join('\n');
        for (const tampered of [altered, flipped, good.slice(0, good.length - 40), 'hello, I am not an identity', '']) {
          await storeIdentityCopy(storage, 'alice', tampered, true);
          const error = await signInFails(client, 'alice', STRONG);
          expect(['IDENTITY_COPY_INVALID', 'KEY_INVALID']).toContain(error.reason);
        }
      });

      it('a copy holding another identity than the card the user expects: IDENTITY_COPY_INVALID', async () => {
        const { client } = await device();
        const key = await newIdentityFile('a.age');
        await client.request('publishIdentity', { userName: 'alice', passphrase: STRONG, keyPath: key.keyPath });
        const error = await signInFails(client, 'alice', STRONG, { cardId: 'f'.repeat(32) });
        expect(error.reason).toBe('IDENTITY_COPY_INVALID');
        expect(await client.request('signIn', { userName: 'alice', passphrase: STRONG, keyPath: path.join(dir, 'ok.age'), cardId: key.cardId })).toMatchObject({ cardId: key.cardId });
      });
    });

    it('the product work factor (2^18) costs what the docs say', async () => {
      const { client } = await device({ identityCopyLogN: 18 });
      const key = await newIdentityFile('a.age');
      const started = Date.now();
      expect(await client.request('publishIdentity', { userName: 'alice', passphrase: STRONG, keyPath: key.keyPath })).toMatchObject({ scryptLogN: 18 });
      const copy = Buffer.from(await storage.readRange(identityCopyName('alice'), 0, 1 << 16)).toString('utf8');
      expect(copy).toMatch(/^-----BEGIN AGE ENCRYPTED FILE-----/);
      await client.request('signIn', { userName: 'alice', passphrase: STRONG, keyPath: path.join(dir, 'b.age') });
      // Two scrypt runs at 2^18 (plus the strength estimate's first load): seconds, not minutes.
      expect(Date.now() - started).toBeLessThan(60_000);
    }, 90_000);
  });
}
