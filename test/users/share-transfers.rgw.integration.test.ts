/**
 * The share-transfers suite on S3 with server-side copy: Ceph's RADOS Gateway
 * on loopback (test/helpers/rgw.ts; fails, never skips, when RGW cannot
 * start). A share there copies the payload with UploadPartCopy; s3rver
 * (share-transfers.s3) streams it. RGW lists multipart uploads, so a
 * cancelled share's or unshare's open upload would be seen.
 */
import { afterAll, beforeAll } from '@jest/globals';
import { listOpenUploads } from '../helpers/multipart-ledger.js';
import { createTestRgwStorage, startRgw, type RunningRgw } from '../helpers/rgw.js';
import { runShareTransfersSuite } from './share-transfers-suite.js';

let rgw: RunningRgw;
let cases = 0;

beforeAll(async () => {
  rgw = await startRgw();
}, 120_000);
afterAll(async () => {
  await rgw?.stop();
}, 60_000);

runShareTransfersSuite('s3 (Ceph RGW, server-side copy)', async () => {
  const prefix = `share-transfers-${++cases}/`;
  return {
    storage: () => createTestRgwStorage(rgw, { prefix }),
    leftovers: async () => (await listOpenUploads(rgw.endpoint, prefix, rgw.credentials)).length,
    teardown: async () => {},
    headerRewrite: 'server-side-copy',
  };
});
