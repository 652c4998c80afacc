/** The users suite on the S3 backend, against s3rver on loopback (a fresh key prefix per case). */
import { afterAll, beforeAll } from '@jest/globals';
import { createTestS3Storage, startS3rver, type RunningS3rver } from '../helpers/s3rver.js';
import { runUsersSuite } from './users-suite.js';

let server: RunningS3rver;
let cases = 0;

beforeAll(async () => {
  server = await startS3rver();
});
afterAll(async () => {
  await server.stop();
});

runUsersSuite('s3 (s3rver)', async () => {
  const prefix = `users-${++cases}`;
  return { storage: () => createTestS3Storage(server.endpoint, { prefix }), teardown: async () => {} };
});
