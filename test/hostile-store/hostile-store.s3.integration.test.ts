/** The malicious-store suite on the S3 backend, against s3rver on loopback (a fresh key prefix per case). */
import { afterAll, beforeAll } from '@jest/globals';
import { createTestS3Storage, startS3rver, type RunningS3rver } from '../helpers/s3rver.js';
import { runHostileStoreSuite } from './hostile-store-suite.js';

let server: RunningS3rver;
let cases = 0;

beforeAll(async () => {
  server = await startS3rver();
});
afterAll(async () => {
  await server.stop();
});

runHostileStoreSuite('s3 (s3rver)', async () => {
  const prefix = `hostile-${++cases}`;
  return { storage: () => createTestS3Storage(server.endpoint, { prefix }), teardown: async () => {} };
});
