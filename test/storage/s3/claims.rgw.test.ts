/**
 * Name claims (src/storage/s3/claims.ts) on Ceph RGW, whose
 * CompleteMultipartUpload ignores If-None-Match: a writer that crashed in the
 * middle of its commit, holding the claim, blocks the name for one lease at
 * most, loses nothing already published, and of the writers that find its
 * claim stale exactly one wins.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { claimKeyOf } from '../../../src/storage/s3/claims.js';
import type { ObjectWriter, Storage } from '../../../src/storage/storage.js';
import { TEST_BUCKET } from '../../helpers/s3rver.js';
import { createTestRgwStorage, startRgw, type RunningRgw } from '../../helpers/rgw.js';
import { testBytes } from '../conformance.js';

const LEASE_MS = 3_000; // long enough that "at once" (well under a lease) holds on a loaded machine
const SIZE = 12 * 1024 * 1024; // multipart: the path RGW does not make conditional
const PART = 6 * 1024 * 1024;

let rgw: RunningRgw;
let admin: S3Client;
let cases = 0;
const open: Storage[] = [];

beforeAll(async () => {
  rgw = await startRgw();
  admin = new S3Client({ endpoint: rgw.endpoint, region: 'us-east-1', forcePathStyle: true, credentials: rgw.credentials });
}, 120_000);
afterAll(async () => {
  await Promise.all(open.map((storage) => storage.close()));
  admin?.destroy();
  await rgw?.stop();
}, 60_000);

async function service(prefix: string): Promise<Storage> {
  const storage = createTestRgwStorage(rgw, { prefix, claimLeaseMs: LEASE_MS });
  open.push(storage);
  await storage.init();
  return storage;
}

async function written(storage: Storage, name: string, data: Uint8Array): Promise<ObjectWriter> {
  const writer = await storage.beginWrite(name, { expectedSize: data.byteLength });
  for (let offset = 0, index = 0; offset < data.byteLength; offset += PART, index++) {
    await writer.writePart(index, offset, data.subarray(offset, offset + PART));
  }
  return writer;
}

async function readAll(storage: Storage, name: string): Promise<Buffer> {
  return Buffer.from(await storage.readRange(name, 0, (await storage.stat(name)).storedSize));
}

/** What a writer that died holding the claim of `name` leaves behind. */
async function leaveClaim(prefix: string, name: string): Promise<void> {
  await admin.send(
    new PutObjectCommand({ Bucket: TEST_BUCKET, Key: claimKeyOf(`${prefix}/`, name), Body: '{"owner":"crashed"}', IfNoneMatch: '*' }),
  );
}

describe('name claims on Ceph RGW', () => {
  it('probes RGW as needing claims: atomic no-overwrite, no warning about it', async () => {
    const storage = await service(`claims-${++cases}`);
    expect(storage.capabilities.atomicNoOverwrite).toBe(true);
    // UploadPartCopy with ranges and CopySourceIfMatch works there: headers are rewritten without the payload leaving the store.
    expect(storage.capabilities.headerRewrite).toBe('server-side-copy');
    expect(storage.warnings ?? []).not.toContainEqual(expect.stringMatching(/not enforced atomically/));
  });

  it('a writer crashed mid-commit (claim held, upload unfinished): the other writer waits one lease and wins; the crashed one, resumed, gets ALREADY_EXISTS', async () => {
    const prefix = `claims-${++cases}`;
    const crashed = await service(prefix);
    const mine = testBytes(SIZE, 1);
    const theirs = testBytes(SIZE, 2);
    const crashedWriter = await written(crashed, 'doc', theirs);
    const token = crashedWriter.resumeToken!;
    const parts = [0, 1].map((index) => ({
      partIndex: index,
      offset: index * PART,
      length: PART,
      receipt: crashedWriter.partReceipt!(index)!,
    }));
    await leaveClaim(prefix, 'doc');
    await crashed.close(); // the process is gone; its upload and its claim stay

    const other = await service(prefix);
    const started = performance.now();
    const info = await (await written(other, 'doc', mine)).complete({ overwrite: false });
    const waited = performance.now() - started;
    expect(waited).toBeGreaterThanOrEqual(LEASE_MS);
    expect(waited).toBeLessThan(LEASE_MS + 10_000);
    expect(info.version).toBe((await other.stat('doc')).version);
    expect((await readAll(other, 'doc')).equals(mine)).toBe(true);

    // The crashed writer's next run resumes its upload and commits: no lost update.
    const restarted = await service(prefix);
    const resumed = await restarted.resumeWrite('doc', token, { parts, expectedSize: SIZE });
    await expect(resumed.complete({ overwrite: false })).rejects.toMatchObject({ reason: 'ALREADY_EXISTS' });
    expect((await readAll(restarted, 'doc')).equals(mine)).toBe(true);
    await other.delete('doc');
  }, 60_000);

  it('a writer crashed after publishing, before releasing its claim: others get ALREADY_EXISTS at once; once the object is deleted the name is free again after one lease', async () => {
    const prefix = `claims-${++cases}`;
    const storage = await service(prefix);
    await (await written(storage, 'doc', testBytes(SIZE, 3))).complete({ overwrite: false });
    await leaveClaim(prefix, 'doc');

    const started = performance.now();
    await expect((await written(storage, 'doc', testBytes(SIZE, 4))).complete({ overwrite: false })).rejects.toMatchObject({
      reason: 'ALREADY_EXISTS',
    });
    expect(performance.now() - started).toBeLessThan(LEASE_MS);

    await storage.delete('doc');
    const fresh = testBytes(SIZE, 5);
    await (await written(storage, 'doc', fresh)).complete({ overwrite: false });
    expect((await readAll(storage, 'doc')).equals(fresh)).toBe(true);
    await storage.delete('doc');
  }, 60_000);

  it('two writers (a second and a third) find the crashed claim stale together: exactly one wins', async () => {
    const prefix = `claims-${++cases}`;
    await leaveClaim(prefix, 'doc');
    const [second, third] = [await service(prefix), await service(prefix)];
    const contents = [testBytes(SIZE, 6), testBytes(SIZE, 7)];
    const writers = await Promise.all([second, third].map((storage, i) => written(storage, 'doc', contents[i]!)));
    const outcomes = await Promise.allSettled(writers.map((writer) => writer.complete({ overwrite: false })));
    const winners = outcomes.flatMap((outcome, i) => (outcome.status === 'fulfilled' ? [i] : []));
    expect(winners).toHaveLength(1);
    const loser = outcomes[1 - winners[0]!] as PromiseRejectedResult;
    expect(loser.reason).toMatchObject({ reason: 'ALREADY_EXISTS' });
    expect((await readAll(second, 'doc')).equals(Buffer.from(contents[winners[0]!]!))).toBe(true);
    await Promise.all(writers.map((writer) => writer.abort()));
    await second.delete('doc');
  }, 60_000);
});
