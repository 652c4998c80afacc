/** The storage conformance suite on the S3 backend, against s3rver on loopback. */
import { afterAll, beforeAll } from '@jest/globals';
import { createTestS3Storage, startS3rver, type RunningS3rver } from '../helpers/s3rver.js';
import { runStorageConformance } from './conformance.js';

let server: RunningS3rver;
let cases = 0;

beforeAll(async () => {
  server = await startS3rver();
});
afterAll(async () => {
  await server.stop();
});

// A fresh key prefix per case is an empty store. s3rver cannot abort or list
// multipart uploads, so the backend declares abortCleansUp false and the suite
// does not count leftovers.
runStorageConformance('s3 (s3rver)', async () => {
  const prefix = `case-${++cases}`;
  return {
    storage: createTestS3Storage(server.endpoint, { prefix }),
    teardown: async () => {},
    reopen: () => createTestS3Storage(server.endpoint, { prefix }),
    serverGaps: { delimiterMissesFoldersWithoutDirectFiles: true },
  };
});
