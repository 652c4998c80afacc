/**
 * The share-transfers suite on S3: s3rver behind the multipart ledger
 * (test/helpers/multipart-ledger.ts), which aborts and lists multipart
 * uploads as S3 does, so a cancelled unshare's open upload would be seen.
 */
import { afterAll, beforeAll } from '@jest/globals';
import { listOpenUploads, startMultipartLedger, type MultipartLedger } from '../helpers/multipart-ledger.js';
import { createTestS3Storage, startS3rver, type RunningS3rver } from '../helpers/s3rver.js';
import { runShareTransfersSuite } from './share-transfers-suite.js';

let s3: RunningS3rver;
let ledger: MultipartLedger;
let cases = 0;

beforeAll(async () => {
  s3 = await startS3rver();
  ledger = await startMultipartLedger(s3.endpoint);
});
afterAll(async () => {
  await ledger.stop();
  await s3.stop();
});

runShareTransfersSuite('s3 (s3rver + multipart ledger)', async () => {
  const prefix = `share-transfers-${++cases}/`;
  return {
    storage: () => createTestS3Storage(ledger.endpoint, { prefix, serverGaps: { noConditionalWrites: true } }),
    leftovers: async () => (await listOpenUploads(ledger.endpoint, prefix)).length,
    teardown: async () => {},
    headerRewrite: 'streamed',
  };
});
