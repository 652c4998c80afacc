/** The end-to-end file-method tests with the server on the S3 backend, against s3rver on loopback. */
import { afterAll, beforeAll } from '@jest/globals';
import { createTestS3Storage, startS3rver, type RunningS3rver } from '../helpers/s3rver.js';
import { runFileMethodsSuite } from './file-methods-suite.js';

let s3: RunningS3rver;
let cases = 0;

beforeAll(async () => {
  s3 = await startS3rver();
});
afterAll(async () => {
  await s3.stop();
});

// A fresh key prefix per case is an empty store.
runFileMethodsSuite('s3 (s3rver)', async () => ({
  storage: createTestS3Storage(s3.endpoint, { prefix: `e2e-${++cases}` }),
  teardown: async () => {},
}), { seedConcurrency: 32, listingObjects: 400 });
