/**
 * kill -9 of the service in the middle of shareFile, unshareFile and
 * exportFile (issue 14), on the local store: the built server runs as a
 * child (test/resume/fixtures/slow-server.mjs) whose store holds each
 * operation forever once its new object (or export) is being written; the
 * test checks the temporaries exist, kills the server with SIGKILL, starts
 * it again on the same data dir, and checks: every stored object is whole
 * (unshare's: byte for byte the old version, none was published; share's,
 * rewritten in place through a redo record and held right after that record
 * was written: completed at the restart, the new header over the same
 * payload bytes, Bob a recipient), no temporary is left
 * in the store or beside the export's destination, nothing is listed as
 * interrupted (the operations are not journaled: they are safe to redo), and
 * each operation then succeeds when asked again.
 *
 * The same on S3 (s3rver): there a share is a copy to a new multipart upload
 * (streamed: s3rver has no UploadPartCopy) published only over the version
 * it read, held once its copy has begun; unshare's new object is held at its
 * first part; export as above. After the kill and a restart every object is
 * byte for byte the old one and downloads, and each operation succeeds when
 * asked again. The multipart uploads the kill left open are not checked:
 * the stale-upload cleanup removes them (docs/storage.md).
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { createIdentityFile } from '../../src/crypto/age/index.js';
import { ensureBuilt } from '../faults/built-server.js';
import { makeTempDir, RpcCallError } from '../helpers/server.js';
import { freePort } from '../helpers/free-port.js';
import { createTestS3Storage, startS3rver, TEST_BUCKET, type RunningS3rver } from '../helpers/s3rver.js';
import { killChildServers, startChildServer, type ChildServer } from '../helpers/child-server.js';

const TOKEN = 'share-crash-test-token-0123456789abcdef';
const MiB = 1024 * 1024;

beforeAll(() => ensureBuilt(), 180_000);

afterAll(() => killChildServers());

type Child = ChildServer;

async function startChild(dataDir: string, port: number, env: Record<string, string> = {}): Promise<Child> {
  return startChildServer(TOKEN, { DATA_DIR: dataDir, PORT: String(port), PART_DELAY_MS: '0', ...env });
}

async function waitFor(condition: () => boolean | Promise<boolean>, what: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/**
 * Starts shareFile, unshareFile and exportFile on `child` (a server started with holds on share.bin,
 * unshare.bin and export.bin) and waits until all three are held mid-way. Returns the calls, whose
 * rejections (the kill) are already handled.
 */
async function startHeldOperations(child: Child, outbox: string): Promise<Array<Promise<unknown>>> {
  const calls = [
    child.client.request('shareFile', { name: 'share.bin', with: ['Bob'], transferId: 'crash-share' }),
    child.client.request('unshareFile', { name: 'unshare.bin', transferId: 'crash-unshare' }),
    child.client.request('exportFile', { name: 'export.bin', recipient: 'Bob', destination: path.join(outbox, 'export.age'), transferId: 'crash-export' }),
  ];
  for (const call of calls) call.catch(() => undefined);
  await waitFor(
    () =>
      child.events.some((e) => e.event === 'rewriteHeader' && e.name === 'share.bin') &&
      child.events.some((e) => e.event === 'writePart' && e.name === 'unshare.bin') &&
      child.events.some((e) => e.event === 'readRange' && e.name === 'export.bin'),
    'all three operations to be held mid-way',
  );
  return calls;
}

/** After the restart: nothing left beside the export or in pending-temporaries, nothing listed to resume. */
async function expectNothingLeftToResume(child: Child, dataDir: string, outbox: string): Promise<void> {
  expect(await readdir(outbox)).toEqual([]);
  expect(await readdir(path.join(dataDir, 'pending-temporaries'))).toEqual([]);
  const relisted = (await child.client.request('listTransfers', {})).transfers;
  expect(relisted.filter((t) => t.transferId.startsWith('crash-'))).toEqual([]);
}

/** Downloads share.bin, unshare.bin and export.bin to `dir/<prefix><name>` and expects each to be `content`. */
async function expectAllRead(child: Child, dir: string, prefix: string, content: Buffer): Promise<void> {
  for (const name of ['share.bin', 'unshare.bin', 'export.bin']) {
    const out = path.join(dir, `${prefix}${name}`);
    await child.client.request('download', { name, destination: out });
    expect((await readFile(out)).equals(content)).toBe(true);
  }
}

/** Files of the store directory (encoded object files), with their bytes. */
async function storeObjects(storeDir: string): Promise<Map<string, Buffer>> {
  const objects = new Map<string, Buffer>();
  for (const entry of await readdir(storeDir)) {
    if (entry.startsWith('.')) continue;
    objects.set(entry, await readFile(path.join(storeDir, entry)));
  }
  return objects;
}

describe('kill -9 in the middle of shareFile, unshareFile and exportFile (local store)', () => {
  it(
    'leaves every object whole (the old version), no temporary anywhere after the restart, nothing to resume; each succeeds when asked again',
    async () => {
      const dir = await makeTempDir('cloudlocker-share-crash-');
      const dataDir = path.join(dir, 'data');
      const storeDir = path.join(dataDir, 'store');
      const outbox = path.join(dir, 'outbox');
      await mkdir(outbox);
      const port = await freePort();
      const keyA = path.join(dir, 'a.age');
      await createIdentityFile(keyA);
      const bob = await createIdentityFile(path.join(dir, 'b.age'));
      const content = Buffer.alloc(6 * MiB + 777, 0x5a);
      await writeFile(path.join(dir, 'share.bin'), content);
      await writeFile(path.join(dir, 'unshare.bin'), content);
      await writeFile(path.join(dir, 'export.bin'), content);
      try {
        // First run: three files, one of them already shared (so that there is something to unshare).
        let child = await startChild(dataDir, port);
        await child.client.request('unlock', { keyPath: keyA });
        await child.client.request('addContact', { name: 'Bob', card: bob.card });
        for (const name of ['share.bin', 'unshare.bin', 'export.bin']) await child.client.request('upload', { path: path.join(dir, name) });
        await child.client.request('shareFile', { name: 'unshare.bin', with: ['Bob'] });
        await child.kill9();
        const before = await storeObjects(storeDir);
        expect(before.size).toBe(3);

        // Second run: each operation is held once its new object (or the export) is being written, then the server is killed.
        child = await startChild(dataDir, port, {
          HOLD_REWRITE: 'share.bin',
          // share.bin (6 MiB, header slot) is shared in place: held after its redo record is written.
          HOLD_REWRITE_AT: 'record-written',
          HOLD_NAMES: 'unshare.bin',
          HOLD_FROM_PART: '0',
          HOLD_READS: 'export.bin',
          HOLD_READS_FROM: '1',
        });
        await child.client.request('unlock', { keyPath: keyA });
        const calls = await startHeldOperations(child, outbox);
        expect(child.events.find((e) => e.event === 'rewriteHeader' && e.name === 'share.bin')?.step).toBe('record-written');
        // The control: mid-way there is something to leave behind: in the store's .tmp unshare's temporary and
        // share's redo record (an in-place share has no temporary), one beside the export.
        const midway = await readdir(path.join(storeDir, '.tmp'));
        expect(midway.filter((e) => e.endsWith('.redo'))).toHaveLength(1);
        expect(midway.filter((e) => e.endsWith('.part'))).toHaveLength(1);
        expect((await readdir(outbox)).length).toBe(1);
        const listed = (await child.client.request('listTransfers', {})).transfers;
        expect(listed.filter((t) => t.transferId.startsWith('crash-')).map((t) => t.state)).toEqual(['running', 'running', 'running']);
        await child.kill9();
        for (const call of calls) await expect(call).rejects.toBeDefined();

        // Third run: nothing lost, nothing left over, nothing to resume.
        child = await startChild(dataDir, port);
        const after = await storeObjects(storeDir);
        expect([...after.keys()].sort()).toEqual([...before.keys()].sort());
        const shareEntry = [...before.keys()].find((entry) => entry.startsWith('share.bin'))!;
        for (const [entry, bytes] of before) {
          if (entry === shareEntry) continue;
          expect(after.get(entry)!.equals(bytes)).toBe(true);
        }
        // share.bin: the interrupted in-place share was completed (redo record), same length, same payload bytes, a new header.
        const shared = after.get(shareEntry)!;
        const old = before.get(shareEntry)!;
        expect(shared.length).toBe(old.length);
        expect(shared.equals(old)).toBe(false);
        const headerLength = old.indexOf('\n', old.indexOf('\n---') + 1) + 1;
        expect(headerLength).toBeGreaterThan(0);
        expect(shared.subarray(headerLength).equals(old.subarray(headerLength))).toBe(true);
        expect(await readdir(path.join(storeDir, '.tmp'))).toEqual([]);
        await expectNothingLeftToResume(child, dataDir, outbox);

        // Safe to redo: each succeeds now, and the files still open.
        await child.client.request('unlock', { keyPath: keyA });
        // The share the crash interrupted has taken effect: Bob is already a recipient.
        expect((await child.client.request('shareFile', { name: 'share.bin', with: ['Bob'] })).alreadyRecipients).toBe(1);
        await child.client.request('unshareFile', { name: 'unshare.bin' });
        await child.client.request('exportFile', { name: 'export.bin', recipient: 'Bob', destination: path.join(outbox, 'export.age') });
        await expectAllRead(child, dir, 'back-', content);
        await child.kill9();
      } catch (err) {
        if (err instanceof RpcCallError) throw new Error(`${err.error.code} ${err.error.message}`);
        throw err;
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    },
    180_000,
  );
});

describe('kill -9 in the middle of shareFile, unshareFile and exportFile (S3: s3rver)', () => {
  let s3rver: RunningS3rver;
  beforeAll(async () => {
    s3rver = await startS3rver();
  });
  afterAll(async () => {
    await s3rver.stop();
  });

  /** Every object of the bucket, with its bytes, read through a store of the test's own. */
  async function bucketObjects(): Promise<Map<string, Buffer>> {
    const store = createTestS3Storage(s3rver.endpoint);
    await store.init();
    try {
      const objects = new Map<string, Buffer>();
      for (const name of ['share.bin', 'unshare.bin', 'export.bin']) {
        const { storedSize } = await store.stat(name);
        objects.set(name, Buffer.from(await store.readRange(name, 0, storedSize)));
      }
      return objects;
    } finally {
      await store.close();
    }
  }

  it(
    'leaves every object as it was and readable after the restart, nothing to resume; each succeeds when asked again',
    async () => {
      const dir = await makeTempDir('cloudlocker-share-crash-s3-');
      const dataDir = path.join(dir, 'data');
      const outbox = path.join(dir, 'outbox');
      await mkdir(outbox);
      const port = await freePort();
      const s3 = { STORAGE: 's3', S3_ENDPOINT: s3rver.endpoint, S3_BUCKET: TEST_BUCKET };
      const keyA = path.join(dir, 'a.age');
      await createIdentityFile(keyA);
      const bob = await createIdentityFile(path.join(dir, 'b.age'));
      const content = Buffer.alloc(6 * MiB + 777, 0x5a);
      for (const name of ['share.bin', 'unshare.bin', 'export.bin']) await writeFile(path.join(dir, name), content);
      try {
        let child = await startChild(dataDir, port, s3);
        await child.client.request('unlock', { keyPath: keyA });
        await child.client.request('addContact', { name: 'Bob', card: bob.card });
        for (const name of ['share.bin', 'unshare.bin', 'export.bin']) await child.client.request('upload', { path: path.join(dir, name) });
        await child.client.request('shareFile', { name: 'unshare.bin', with: ['Bob'] });
        expect((await child.client.request('getServerInfo', {})).storage).toMatchObject({ kind: 's3' });
        await child.kill9();
        const before = await bucketObjects();

        child = await startChild(dataDir, port, {
          ...s3,
          HOLD_REWRITE: 'share.bin',
          HOLD_NAMES: 'unshare.bin',
          HOLD_FROM_PART: '0',
          HOLD_READS: 'export.bin',
          HOLD_READS_FROM: '1',
        });
        await child.client.request('unlock', { keyPath: keyA });
        const calls = await startHeldOperations(child, outbox);
        // The control: the share's copy has begun (not an in-place rewrite: S3 has none), and all three are running.
        expect(child.events.find((e) => e.event === 'rewriteHeader' && e.name === 'share.bin')?.step).toBeUndefined();
        expect((await readdir(outbox)).length).toBe(1);
        const listed = (await child.client.request('listTransfers', {})).transfers;
        expect(listed.filter((t) => t.transferId.startsWith('crash-')).map((t) => t.state)).toEqual(['running', 'running', 'running']);
        await child.kill9();
        for (const call of calls) await expect(call).rejects.toBeDefined();

        child = await startChild(dataDir, port, s3);
        const after = await bucketObjects();
        for (const [name, bytes] of before) expect({ name, same: after.get(name)!.equals(bytes) }).toEqual({ name, same: true });
        await expectNothingLeftToResume(child, dataDir, outbox);

        await child.client.request('unlock', { keyPath: keyA });
        // The old objects are readable as they were.
        await expectAllRead(child, dir, 'old-', content);
        // Safe to redo: the interrupted share had not taken effect, so Bob is added now.
        expect((await child.client.request('getFileInfo', { name: 'share.bin' })).stanzaCount).toBe(2);
        const shared = await child.client.request('shareFile', { name: 'share.bin', with: ['Bob'] });
        expect({ ...shared, alreadyRecipients: shared.alreadyRecipients ?? 0 }).toMatchObject({ recipientCount: 2, headerRewrite: 'streamed', alreadyRecipients: 0 });
        expect((await child.client.request('getFileInfo', { name: 'share.bin' })).stanzaCount).toBe(3);
        await child.client.request('unshareFile', { name: 'unshare.bin' });
        await child.client.request('exportFile', { name: 'export.bin', recipient: 'Bob', destination: path.join(outbox, 'export.age') });
        await expectAllRead(child, dir, 'back-', content);
        await child.kill9();
      } catch (err) {
        if (err instanceof RpcCallError) throw new Error(`${err.error.code} ${err.error.message}`);
        throw err;
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    },
    240_000,
  );
});
