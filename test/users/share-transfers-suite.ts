/**
 * shareFile, unshareFile and exportFile as transfers (issue 14), on one
 * backend: their progress and finish notifications (with `operation`),
 * listTransfers, the queue's cap, and cancelTransfer in the middle of each,
 * which leaves the stored object byte for byte as it was, no temporary in
 * the store or beside the export's destination, and no open write.
 */
import { readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { createIdentityFile, readIdentityFile } from '../../src/crypto/age/index.js';
import { unlockAgeHeader } from '../../src/crypto/age/file.js';
import { encodeHeader } from '../../src/crypto/age/header.js';
import { RECIPIENT_TAG_STANZA_TYPE } from '../../src/crypto/age/identity.js';
import type { RewriteHeaderOptions, Storage } from '../../src/storage/storage.js';
import { hookedStorage } from '../helpers/storage-wrappers.js';
import { makeTempDir, openClient, RpcCallError, type NotificationMessage, type TestClient, type TestServer } from '../helpers/server.js';
import { startTestService } from '../helpers/service.js';

export interface ShareTransfersBackend {
  readonly storage: () => Storage;
  /** Temporaries and open writes the store holds now (local: files in .tmp; S3: open multipart uploads), or undefined where it cannot tell. */
  readonly leftovers: () => Promise<number | undefined>;
  readonly teardown: () => Promise<void>;
  /** How the store moves a share's payload (its storage capability), checked where given: each S3 way is covered. */
  readonly headerRewrite?: 'server-side-copy' | 'streamed';
}

async function reasonOf(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (err) {
    if (err instanceof RpcCallError) return err.error.data?.reason;
    throw err;
  }
  throw new Error('expected the call to fail');
}

/** Holds the operation named `holding` at its first store call after it started copying, until its signal aborts. */
interface Hold {
  /** rewrite-part: a rewrite held once some of its payload parts are in the new object (held before it reports them). */
  holding: 'rewrite' | 'rewrite-part' | 'write' | 'read' | undefined;
  held: (() => void) | undefined;
}

function holdUntilAborted(hold: Hold, signal: AbortSignal | undefined): Promise<void> {
  if (signal === undefined || signal.aborted) return Promise.resolve();
  hold.held?.();
  hold.held = undefined;
  return new Promise((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
}

function holdingStorage(inner: Storage, hold: Hold): Storage {
  const hooked = hookedStorage(inner, {
    beforeWritePart: async (_index, signal) => {
      if (hold.holding === 'write') await holdUntilAborted(hold, signal);
    },
    beforeReadRange: async (offset, signal) => {
      if (hold.holding === 'read' && offset > 0) await holdUntilAborted(hold, signal);
    },
  });
  return {
    ...hooked,
    get capabilities() {
      return inner.capabilities;
    },
    get warnings() {
      return inner.warnings;
    },
    rewriteHeader: (name, version, oldHeaderLength, newHeader, options: RewriteHeaderOptions = {}) =>
      inner.rewriteHeader(name, version, oldHeaderLength, newHeader, {
        ...options,
        onProgress: async (done, total) => {
          // Held once a payload part is in (parts run concurrently: every later report is held too, before the
          // method sees it, so that no other part's report reaches `total`, the share's commit point, first).
          if (hold.holding === 'rewrite-part' && done > 0) {
            await holdUntilAborted(hold, options.signal);
            if (options.signal?.aborted) return;
          }
          await options.onProgress?.(done, total);
          // Held once the copy has begun (reported with 0 after the version check: the new object's temporary exists).
          if (hold.holding === 'rewrite' && done < total) await holdUntilAborted(hold, options.signal);
        },
      }),
  };
}

export function runShareTransfersSuite(backendName: string, makeBackend: () => Promise<ShareTransfersBackend>): void {
  describe(`share, unshare and export as transfers (${backendName})`, () => {
    let backend: ShareTransfersBackend;
    let storage: Storage;
    let dir: string;
    let server: TestServer;
    let client: TestClient;
    const hold: Hold = { holding: undefined, held: undefined };
    const content = Buffer.alloc(3 * 1024 * 1024 + 4321);
    for (let i = 0; i < content.length; i += 4096) content[i] = i % 251;

    beforeEach(async () => {
      backend = await makeBackend();
      storage = backend.storage();
      await storage.init();
      dir = await makeTempDir('cloudlocker-share-transfers-');
      hold.holding = undefined;
      server = await startTestService({ storageBackend: holdingStorage(backend.storage(), hold), maxConcurrentTransfers: 1, maxQueuedTransfers: 1 });
      client = await openClient(server);
      const keyA = await createIdentityFile(path.join(dir, 'a.age'));
      const keyB = await createIdentityFile(path.join(dir, 'b.age'));
      await client.request('unlock', { keyPath: path.join(dir, 'a.age') });
      await client.request('addContact', { name: 'Bob', card: keyB.card });
      expect(keyA.cardId).not.toBe(keyB.cardId);
      await writeFile(path.join(dir, 'plan.bin'), content);
      await client.request('upload', { path: path.join(dir, 'plan.bin') });
    });

    afterEach(async () => {
      hold.holding = undefined;
      await client.close();
      await server.stop();
      await storage.close();
      await backend.teardown();
      await rm(dir, { recursive: true, force: true });
    });

    async function storedBytes(): Promise<Buffer> {
      const size = (await storage.stat('plan.bin')).storedSize;
      return Buffer.from(await storage.readRange('plan.bin', 0, size));
    }

    function notificationsOf(transferId: string, method: string): NotificationMessage[] {
      return client.notifications.filter((n) => n.method === method && n.params['transferId'] === transferId);
    }

    it('each runs as a transfer: progress and one transferFinished with its operation and result, listed by listTransfers', async () => {
      const sizeBefore = (await storage.stat('plan.bin')).storedSize;
      const shared = await client.request('shareFile', { name: 'plan.bin', with: ['Bob'], transferId: 'share-1' });
      const sizeShared = (await storage.stat('plan.bin')).storedSize;
      expect(shared).toMatchObject({ transferId: 'share-1', recipientCount: 2 });
      const exported = await client.request('exportFile', { name: 'plan.bin', recipient: 'Bob', destination: path.join(dir, 'plan.age'), transferId: 'export-1' });
      expect(exported).toMatchObject({ transferId: 'export-1', path: path.join(dir, 'plan.age') });
      const unshared = await client.request('unshareFile', { name: 'plan.bin', transferId: 'unshare-1' });
      expect(unshared).toMatchObject({ transferId: 'unshare-1', recipientCount: 1 });

      for (const [transferId, operation, direction, result, storedSize] of [
        ['share-1', 'share', 'upload', shared, sizeBefore],
        ['export-1', 'export', 'download', exported, sizeShared],
        ['unshare-1', 'unshare', 'upload', unshared, sizeShared],
      ] as const) {
        const finished = await client.waitForNotification((n) => n.method === 'transferFinished' && n.params['transferId'] === transferId);
        expect(finished.params).toMatchObject({ operation, direction, name: 'plan.bin', outcome: 'completed', result });
        expect(notificationsOf(transferId, 'transferFinished')).toHaveLength(1);
        const progress = notificationsOf(transferId, 'transferProgress');
        expect(progress[0]!.params).toMatchObject({ operation, direction, state: 'queued', totalBytes: storedSize, cryptoBytes: 0 });
        const last = progress.at(-1)!.params;
        expect(last).toMatchObject({ state: 'completed', cryptoBytes: storedSize, transferredBytes: storedSize });
        // Counters never go down.
        const counts = progress.map((n) => n.params['transferredBytes'] as number);
        expect([...counts].sort((x, y) => x - y)).toEqual(counts);
      }
      const listed = await client.request('listTransfers', {});
      const byId = new Map(listed.transfers.map((t) => [t.transferId, t]));
      expect(byId.get('share-1')).toMatchObject({ operation: 'share', direction: 'upload', state: 'completed', result: shared });
      expect(byId.get('unshare-1')).toMatchObject({ operation: 'unshare', state: 'completed', result: unshared });
      expect(byId.get('export-1')).toMatchObject({ operation: 'export', direction: 'download', state: 'completed', result: exported });
      // An upload's status has no operation.
      expect([...byId.values()].find((t) => t.transferId !== 'share-1' && t.direction === 'upload' && t.operation === undefined)).toBeDefined();
    });

    it('they share the transfer queue: with one running and one queued, a third is refused with BUSY', async () => {
      hold.holding = 'rewrite';
      const held = new Promise<void>((resolve) => (hold.held = resolve));
      const running = reasonOf(client.request('shareFile', { name: 'plan.bin', with: ['Bob'], transferId: 'running' }));
      await held;
      const queued = reasonOf(client.request('exportFile', { name: 'plan.bin', recipient: 'Bob', destination: path.join(dir, 'plan.age'), transferId: 'queued' }));
      await client.waitForNotification((n) => n.method === 'transferProgress' && n.params['transferId'] === 'queued');
      expect((await client.request('listTransfers', {})).transfers.find((t) => t.transferId === 'queued')?.state).toBe('queued');
      expect(await reasonOf(client.request('unshareFile', { name: 'plan.bin' }))).toBe('BUSY');
      await client.request('cancelTransfer', { transferId: 'queued' });
      await client.request('cancelTransfer', { transferId: 'running' });
      expect(await running).toBe('CANCELLED');
      expect(await queued).toBe('CANCELLED');
    });

    it('sharing again with someone it already shared with adds no second stanza (recipient tags); age -d still opens the file', async () => {
      const carol = await createIdentityFile(path.join(dir, 'c.age'));
      const first = await client.request('shareFile', { name: 'plan.bin', with: ['Bob'] });
      expect(first).toMatchObject({ recipientCount: 2 });
      expect(first.alreadyRecipients).toBeUndefined();
      const once = await storedBytes();
      // Bob again (by name, then by card): nothing is rewritten.
      const bobCard = (await client.request('listContacts', {})).contacts.find((c) => c.name === 'Bob')!.card;
      expect(await client.request('shareFile', { name: 'plan.bin', with: ['Bob'] })).toMatchObject({ recipientCount: 2, alreadyRecipients: 1 });
      expect(await client.request('shareFile', { name: 'plan.bin', with: [bobCard] })).toMatchObject({ recipientCount: 2, alreadyRecipients: 1 });
      expect((await storedBytes()).equals(once)).toBe(true);
      // Bob, Carol and Carol again: only Carol is added, once (Bob counted as already there; a repeat within `with` is simply merged).
      expect(await client.request('shareFile', { name: 'plan.bin', with: ['Bob', carol.card, carol.card] })).toMatchObject({
        recipientCount: 3,
        alreadyRecipients: 1,
      });
      const header = (await storedBytes()).subarray(0, 4096).toString('latin1');
      expect(header.match(/^-> X25519 /gm)).toHaveLength(3);
      // getFileInfo counts recipients and author, not the tags.
      expect(await client.request('getFileInfo', { name: 'plan.bin' })).toMatchObject({ stanzaCount: 4 });
      // The tags name no one: no card id, recipient or public key of Bob's or Carol's appears in the header.
      expect(header.match(/^-> cloudlocker\.dev\/recipient-tag [A-Za-z0-9+/]{22}$/gm)).toHaveLength(2);
      for (const who of [carol, { card: bobCard }]) expect(header.includes(who.card.slice(20, 60))).toBe(false);
      // Interop: Debian's age skips the tag stanzas and opens the file with Carol's identity.
      const storedFile = path.join(dir, 'stored.age');
      await writeFile(storedFile, await storedBytes());
      expect(execFileSync('age', ['-d', '-i', path.join(dir, 'c.age'), storedFile], { maxBuffer: 2 * content.length }).equals(content)).toBe(true);
      // After unshareFile (a new file key, no tags), sharing with Bob adds him again, once.
      await client.request('unshareFile', { name: 'plan.bin' });
      const again = await client.request('shareFile', { name: 'plan.bin', with: ['Bob', 'Bob'] });
      expect(again).toMatchObject({ recipientCount: 2 });
      expect(again.alreadyRecipients).toBeUndefined();
    });

    it('a recipient with the file key drops Bob\'s stanza, keeps his tag and re-MACs: sharing with Bob again adds him back, and Bob can download', async () => {
      const alice = await readIdentityFile(path.join(dir, 'a.age'));
      const bob = await readIdentityFile(path.join(dir, 'b.age'));
      const carol = await createIdentityFile(path.join(dir, 'c.age'));
      await client.request('shareFile', { name: 'plan.bin', with: [carol.card, 'Bob'] });
      // Bob downloads with his own identity (Alice, the author, is his contact here).
      await client.request('addContact', { name: 'Alice', card: alice.card.card });
      let downloads = 0;
      const bobDownloads = async (): Promise<unknown> => {
        const destination = path.join(dir, `bob-${++downloads}.bin`);
        try {
          await client.request('download', { name: 'plan.bin', destination, keyPath: path.join(dir, 'b.age') });
        } catch (err) {
          if (err instanceof RpcCallError) return err.error.data?.reason;
          throw err;
        }
        return (await readFile(destination)).equals(content) ? 'ok' : 'wrong content';
      };
      expect(await bobDownloads()).toBe('ok');

      // Carol (a recipient: she holds the file key) removes the stanza Bob opens, keeps every tag, and writes a valid header.
      const shared = await storedBytes();
      const { fileKey, header } = await unlockAgeHeader(shared, (stanzas) => carol.identity.unwrap(stanzas));
      const bobsStanza = header.stanzas.findIndex((s) => bob.unwrap([s]) !== null);
      expect(bobsStanza).toBeGreaterThan(0);
      const stripped = header.stanzas.filter((_, i) => i !== bobsStanza);
      expect(stripped.filter((s) => s.args[0] === RECIPIENT_TAG_STANZA_TYPE)).toHaveLength(2);
      const strippedHeader = encodeHeader(stripped, fileKey);
      fileKey.fill(0);
      await storage.rewriteHeader('plan.bin', (await storage.stat('plan.bin')).version!, header.length, strippedHeader);
      expect(await bobDownloads()).toBe('NOT_A_RECIPIENT');

      // Alice shares with Bob again: his tag is still there, but not the stanza it names, so he is added back.
      const repaired = await client.request('shareFile', { name: 'plan.bin', with: ['Bob'] });
      expect(repaired).toMatchObject({ recipientCount: 3 });
      expect(repaired.alreadyRecipients).toBeUndefined();
      expect(await bobDownloads()).toBe('ok');
      // Deduplication still holds after the repair: Bob and Carol are both recognised, nothing is rewritten.
      const once = await storedBytes();
      expect(await client.request('shareFile', { name: 'plan.bin', with: ['Bob', carol.card] })).toMatchObject({ recipientCount: 3, alreadyRecipients: 2 });
      expect((await storedBytes()).equals(once)).toBe(true);
    });

    for (const [operation, holding] of [
      ['share', 'rewrite'],
      ['unshare', 'write'],
      ['export', 'read'],
    ] as const) {
      it(`cancelTransfer in the middle of ${operation}: CANCELLED, the stored object unchanged, no temporary, no open write`, async () => {
        if (operation === 'unshare') await client.request('shareFile', { name: 'plan.bin', with: ['Bob'] });
        const before = await storedBytes();
        const outbox = path.join(dir, 'outbox');
        await import('node:fs/promises').then((fs) => fs.mkdir(outbox));
        hold.holding = holding;
        const held = new Promise<void>((resolve) => (hold.held = resolve));
        const transferId = `cancel-${operation}`;
        const call =
          operation === 'share'
            ? client.request('shareFile', { name: 'plan.bin', with: ['Bob'], transferId })
            : operation === 'unshare'
              ? client.request('unshareFile', { name: 'plan.bin', transferId })
              : client.request('exportFile', { name: 'plan.bin', recipient: 'Bob', destination: outbox, transferId });
        await held;
        // Mid-way: the new object's (or the export's) temporary exists now.
        if (operation === 'export') expect((await readdir(outbox)).length).toBe(1);
        // On the local store the share goes in place (a 3 MiB file has a header slot): no temporary; it is held
        // at its first progress report, before its redo record, so nothing is in .tmp yet (test/users/share-crash
        // covers a kill after the record). unshare writes a new object: its temporary exists.
        else if (backendName.startsWith('local')) {
          if (operation === 'share') expect(await backend.leftovers()).toBe(0);
          else expect(await backend.leftovers()).toBeGreaterThan(0);
        }
        expect(await client.request('cancelTransfer', { transferId })).toEqual({ transferId, cancelled: true });
        expect(await reasonOf(call)).toBe('CANCELLED');
        const finished = await client.waitForNotification((n) => n.method === 'transferFinished' && n.params['transferId'] === transferId);
        expect(finished.params).toMatchObject({ operation, outcome: 'cancelled' });
        hold.holding = undefined;
        expect((await storedBytes()).equals(before)).toBe(true);
        expect(await readdir(outbox)).toEqual([]);
        const leftovers = await backend.leftovers();
        if (leftovers !== undefined) expect(leftovers).toBe(0);
        expect(await readdir(path.join(server.dataDir, 'pending-temporaries'))).toEqual([]);
        // Still usable: the same operation now completes, and the file still opens.
        const out = path.join(dir, 'after.bin');
        await client.request('download', { name: 'plan.bin', destination: out });
        expect((await readFile(out)).equals(content)).toBe(true);
      });
    }

    // S3 only: there a share is a new multipart upload of the object (server-side-copy: UploadPartCopy of the
    // payload; streamed: parts read and written again), and a cancel must abort it with parts already in it.
    // The local store rewrites a slotted file's header in place (no parts: see share-crash for its crash cases).
    if (!backendName.startsWith('local')) {
      it('cancelTransfer while a share of a 14 MiB file is copying its payload parts: CANCELLED, the old object intact and readable, the upload aborted', async () => {
        const big = Buffer.alloc(14 * 1024 * 1024 + 777);
        for (let i = 0; i < big.length; i += 4096) big[i] = (i / 4096) % 253;
        await writeFile(path.join(dir, 'big.bin'), big);
        await client.request('upload', { path: path.join(dir, 'big.bin') });
        const size = (await storage.stat('big.bin')).storedSize;
        const before = Buffer.from(await storage.readRange('big.bin', 0, size));
        hold.holding = 'rewrite-part';
        const held = new Promise<void>((resolve) => (hold.held = resolve));
        const call = client.request('shareFile', { name: 'big.bin', with: ['Bob'], transferId: 'cancel-share-parts' });
        await held;
        // Mid-way: the new object is an open multipart upload with parts in it (where the store can list them).
        const midway = await backend.leftovers();
        if (midway !== undefined) expect(midway).toBe(1);
        expect(await client.request('cancelTransfer', { transferId: 'cancel-share-parts' })).toEqual({ transferId: 'cancel-share-parts', cancelled: true });
        expect(await reasonOf(call)).toBe('CANCELLED');
        hold.holding = undefined;
        expect(Buffer.from(await storage.readRange('big.bin', 0, size)).equals(before)).toBe(true);
        const leftovers = await backend.leftovers();
        if (leftovers !== undefined) expect(leftovers).toBe(0);
        const out = path.join(dir, 'big-after.bin');
        await client.request('download', { name: 'big.bin', destination: out });
        expect((await readFile(out)).equals(big)).toBe(true);
        // And the share then completes.
        const shared = await client.request('shareFile', { name: 'big.bin', with: ['Bob'] });
        expect(shared).toMatchObject({ recipientCount: 2, headerRewrite: storage.capabilities.headerRewrite });
        if (backend.headerRewrite !== undefined) expect(storage.capabilities.headerRewrite).toBe(backend.headerRewrite);
      }, 120_000);
    }
  });
}
