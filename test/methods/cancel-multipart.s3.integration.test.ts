/**
 * On S3, a cancelled upload aborts its multipart upload: nothing is left
 * that the bucket would keep (and bill) until a later start or a lifecycle
 * rule removes it. Checked end to end (a real upload over wss, cancelled by
 * cancelTransfer) with ListMultipartUploads, on s3rver behind the multipart
 * ledger (test/helpers/multipart-ledger.ts), since s3rver itself can neither
 * abort nor list multipart uploads. The file-method suite's own cancel test
 * runs on plain s3rver, which declares that gap (abortCleansUp false), and
 * there its upload is small enough to be sent in one PUT.
 */
import { randomBytes } from 'node:crypto';
import { rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { CHUNK_SIZE } from '../../src/crypto/index.js';
import { MIN_PART_SIZE } from '../../src/storage/s3/object-writer.js';
import type { Storage } from '../../src/storage/storage.js';
import { listOpenUploads, startMultipartLedger, type MultipartLedger } from '../helpers/multipart-ledger.js';
import { midTransferHold } from '../helpers/mid-transfer-hold.js';
import { createTestS3Storage, startS3rver, type RunningS3rver } from '../helpers/s3rver.js';
import { makeTempDir, openClient, RpcCallError, type TestClient, type TestServer } from '../helpers/server.js';
import { startTestService } from '../helpers/service.js';

let s3: RunningS3rver;
let ledger: MultipartLedger;
let cases = 0;
let prefix: string;
let dir: string;
let server: TestServer | undefined;
let client: TestClient | undefined;

beforeAll(async () => {
  s3 = await startS3rver();
  ledger = await startMultipartLedger(s3.endpoint);
});
afterAll(async () => {
  await ledger.stop();
  await s3.stop();
});
beforeEach(async () => {
  prefix = `cancel-${++cases}/`;
  dir = await makeTempDir('cloudlocker-cancel-s3-');
});
afterEach(async () => {
  await client?.close();
  await server?.stop();
  client = undefined;
  server = undefined;
  await rm(dir, { recursive: true, force: true });
});

/** An S3 store over the ledger: it aborts and lists multipart uploads, so only s3rver's conditional-write gap is declared. */
function ledgerStorage(): Storage {
  return createTestS3Storage(ledger.endpoint, { prefix, serverGaps: { noConditionalWrites: true } });
}

async function rpcReason(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (err) {
    if (err instanceof RpcCallError) return err.error.data?.reason;
    throw err;
  }
  throw new Error('expected the call to fail');
}

describe('the multipart ledger (the control: it sees what it must report)', () => {
  it('lists an upload from its first stored part until abort(), and declares abortCleansUp', async () => {
    const storage = ledgerStorage();
    await storage.init();
    try {
      expect(storage.capabilities.abortCleansUp).toBe(true);
      const writer = await storage.beginWrite('left-open');
      await writer.writePart(0, 0, new Uint8Array(MIN_PART_SIZE));
      expect(await listOpenUploads(ledger.endpoint, prefix)).toEqual([{ key: `${prefix}left-open`, uploadId: expect.any(String) }]);
      await writer.abort();
      expect(await listOpenUploads(ledger.endpoint, prefix)).toEqual([]);
    } finally {
      await storage.close();
    }
  });
});

describe('cancelTransfer on S3 (end to end)', () => {
  it('aborts the multipart upload of a cancelled upload: ListMultipartUploads shows none, and no object is listed', async () => {
    const hold = midTransferHold({ firstHeldPart: 1 });
    server = await startTestService({ storageBackend: hold.wrap(ledgerStorage()) });
    client = await openClient(server);
    // Three parts of at least MIN_PART_SIZE: the first one opens a multipart upload, the later ones are held.
    const source = path.join(dir, 'big.bin');
    await writeFile(source, randomBytes(Math.ceil((2 * MIN_PART_SIZE) / CHUNK_SIZE + 3) * CHUNK_SIZE));
    const keyPath = path.join(dir, 'main.key.json');

    const opened = ledger.nextCreated();
    const held = hold.arm();
    const upload = client.request('upload', { path: source, keyPath, name: 'big.bin', transferId: 'up-s3-cancel' });
    const [created] = await Promise.all([opened, held]);
    // The control: the upload is open now, so "none" below is the cancel's doing.
    expect(await listOpenUploads(ledger.endpoint, prefix)).toEqual([created]);

    expect(await client.request('cancelTransfer', { transferId: 'up-s3-cancel' })).toEqual({ transferId: 'up-s3-cancel', cancelled: true });
    expect(await rpcReason(upload)).toBe('CANCELLED');
    hold.disarm();

    expect(await listOpenUploads(ledger.endpoint, prefix)).toEqual([]);
    expect((await client.request('listFiles', {})).files).toEqual([]);
    expect(await rpcReason(client.request('getFileInfo', { name: 'big.bin' }))).toBe('NOT_FOUND');
  });
});
