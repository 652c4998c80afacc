/**
 * The S3 store goes away in the middle of an upload and comes back: the
 * service runs on the S3 backend against s3rver (slowed per part, so the
 * outage lands mid-transfer). The transfer retries, then fails with
 * STORAGE_UNAVAILABLE; nothing appears in the listing; the server keeps
 * answering other calls meanwhile; once s3rver is back on the same port and
 * directory, a new upload succeeds and reads back intact.
 */
import { randomBytes } from 'node:crypto';
import { readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Storage } from '../../src/storage/storage.js';
import { makeTempDir, openClient, RpcCallError, type TestClient, type TestServer } from '../helpers/server.js';
import { slowStorage, startTestService } from '../helpers/service.js';

/** An S3 store the test can take away and bring back (s3rver, or Ceph RGW's gateway). */
export interface OutageTarget {
  /** The running store, and a storage on it under `prefix`. */
  start(): Promise<{ storage(prefix: string): Storage; goAway(): Promise<void>; comeBack(): Promise<void>; stop(): Promise<void> }>;
}

export function runS3OutageSuite(targetName: string, target: OutageTarget): void {
describe(`S3 outage (${targetName})`, () => {
let s3: Awaited<ReturnType<OutageTarget['start']>>;
let server: TestServer;
let client: TestClient;
let dir: string;
let keyPath: string;

beforeAll(async () => {
  dir = await makeTempDir('cloudlocker-s3-outage-');
  s3 = await target.start();
  server = await startTestService({
    storageBackend: slowStorage(s3.storage('outage'), 150),
    progressIntervalMs: 10,
  });
  client = await openClient(server);
  keyPath = path.join(dir, 'main.key.json');
  await client.request('createKey', { path: keyPath });
}, 120_000);

afterAll(async () => {
  await client?.close();
  await server?.stop();
  await s3?.stop();
  await rm(dir, { recursive: true, force: true });
}, 60_000);

async function timed<T>(promise: Promise<T>): Promise<{ value: T | RpcCallError; ms: number }> {
  const started = Date.now();
  try {
    return { value: await promise, ms: Date.now() - started };
  } catch (err) {
    if (err instanceof RpcCallError) return { value: err, ms: Date.now() - started };
    throw err;
  }
}

it('fails an upload with STORAGE_UNAVAILABLE after retries when the store goes away, then works once it is back', async () => {
  const source = path.join(dir, 'big.bin');
  await writeFile(source, randomBytes(24 * 1024 * 1024)); // several 5 MiB multipart parts
  const upload = timed(client.request('upload', { path: source, keyPath, name: 'big.bin', transferId: 'outage' }));
  await client.waitForNotification(
    (n) => n.method === 'transferProgress' && n.params['transferId'] === 'outage' && (n.params['transferredBytes'] as number) > 0,
    20_000,
  );
  await s3.goAway();

  // Meanwhile the server answers everything that does not need the store, promptly.
  const info = await timed(client.request('getServerInfo', {}));
  expect(info.ms).toBeLessThan(500);
  expect((await timed(client.request('listTransfers', {}))).ms).toBeLessThan(500);

  const failed = await upload;
  expect(failed.value).toBeInstanceOf(RpcCallError);
  const error = (failed.value as RpcCallError).error;
  expect(error).toMatchObject({ code: -32006, data: { reason: 'STORAGE_UNAVAILABLE' } });
  // The message says it was retried, and names no local path.
  expect(error.message).toMatch(/after \d+ attempts/);
  expect(error.message).not.toContain(dir);

  // While the store is down, calls that need it fail cleanly too.
  const listing = await timed(client.request('listFiles', {}));
  expect((listing.value as RpcCallError).error).toMatchObject({ code: -32006 });

  await s3.comeBack();
  expect((await client.request('listFiles', {})).files).toEqual([]);
  const small = path.join(dir, 'small.bin');
  const smallBytes = randomBytes(2 * 1024 * 1024 + 3);
  await writeFile(small, smallBytes);
  await client.request('upload', { path: small, keyPath, name: 'after.bin' });
  expect((await client.request('listFiles', {})).files.map((file) => file.name)).toEqual(['after.bin']);
  await client.request('download', { name: 'after.bin', keyPath, destination: path.join(dir, 'after.out') });
  expect((await readFile(path.join(dir, 'after.out'))).equals(smallBytes)).toBe(true);
  // The failed transfer is reported as such.
  const { transfers } = await client.request('listTransfers', {});
  expect(transfers.find((transfer) => transfer.transferId === 'outage')).toMatchObject({ state: 'failed', error: { code: -32006 } });
}, 60_000);
});
}
