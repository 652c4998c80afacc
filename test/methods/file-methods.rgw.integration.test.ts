/**
 * The end-to-end file-method tests with the server on the S3 backend, against
 * Ceph's RADOS Gateway on loopback (test/helpers/rgw.ts; fails, never skips,
 * when RGW cannot start).
 */
import { afterAll, beforeAll } from '@jest/globals';
import { createTestRgwStorage, startRgw, type RunningRgw } from '../helpers/rgw.js';
import { listOpenUploads } from '../helpers/multipart-ledger.js';
import { runFileMethodsSuite } from './file-methods-suite.js';

let rgw: RunningRgw;
let cases = 0;

beforeAll(async () => {
  rgw = await startRgw();
}, 120_000);
afterAll(async () => {
  await rgw?.stop();
}, 60_000);

// A fresh key prefix per case is an empty store.
// RGW lists multipart uploads: a cancel is checked to leave none open.
runFileMethodsSuite('s3 (Ceph RGW)', async () => {
  const prefix = `e2e-${++cases}`;
  return {
    storage: createTestRgwStorage(rgw, { prefix }),
    teardown: async () => {},
    unfinishedWrites: async () => (await listOpenUploads(rgw.endpoint, prefix, rgw.credentials)).map((upload) => upload.key),
  };
}, { seedConcurrency: 32, listingObjects: 400 });
