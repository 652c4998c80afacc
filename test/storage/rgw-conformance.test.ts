/**
 * The storage conformance suite on the S3 backend, against a real S3
 * implementation: Ceph's RADOS Gateway (16.2 on Debian 12) on loopback,
 * started by tools/ceph-s3.sh. Nothing is declared: the backend finds RGW's
 * deviations by probing at init(). Fails (does not skip) when RGW cannot
 * start; see test/helpers/rgw.ts.
 */
import { afterAll, beforeAll } from '@jest/globals';
import { ListMultipartUploadsCommand, S3Client } from '@aws-sdk/client-s3';
import { plantS3Metadata } from '../helpers/plant-s3-metadata.js';
import { TEST_BUCKET } from '../helpers/s3rver.js';
import { createTestRgwStorage, startRgw, type RunningRgw } from '../helpers/rgw.js';
import { runStorageConformance } from './conformance.js';

let rgw: RunningRgw;
let admin: S3Client;
let cases = 0;

beforeAll(async () => {
  rgw = await startRgw();
  admin = new S3Client({ endpoint: rgw.endpoint, region: 'us-east-1', forcePathStyle: true, credentials: rgw.credentials });
}, 120_000);
afterAll(async () => {
  admin?.destroy();
  await rgw?.stop();
}, 60_000);

runStorageConformance('s3 (Ceph RGW)', async () => {
  const prefix = `case-${++cases}/`;
  return {
    headerRewrite: 'server-side-copy',
    storage: createTestRgwStorage(rgw, { prefix }),
    teardown: async () => {},
    countLeftovers: async () =>
      (await admin.send(new ListMultipartUploadsCommand({ Bucket: TEST_BUCKET, Prefix: prefix }))).Uploads?.length ?? 0,
    reopen: () => createTestRgwStorage(rgw, { prefix }),
    plantMetadata: (name, metadata) => plantS3Metadata(admin, prefix + name, metadata),
  };
});
