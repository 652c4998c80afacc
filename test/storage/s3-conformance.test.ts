/** The storage conformance suite on the S3 backend, against s3rver on loopback. */
import { afterAll, beforeAll } from '@jest/globals';
import { S3Client } from '@aws-sdk/client-s3';
import { createTestS3Storage, S3RVER_CREDENTIALS, startS3rver, type RunningS3rver } from '../helpers/s3rver.js';
import { runStorageConformance } from './conformance.js';
import { plantS3Metadata } from '../helpers/plant-s3-metadata.js';

let server: RunningS3rver;
let admin: S3Client;
let cases = 0;

beforeAll(async () => {
  server = await startS3rver();
  admin = new S3Client({ endpoint: server.endpoint, region: 'us-east-1', forcePathStyle: true, credentials: S3RVER_CREDENTIALS });
});
afterAll(async () => {
  admin?.destroy();
  await server.stop();
});

// A fresh key prefix per case is an empty store. s3rver cannot abort or list
// multipart uploads, so the backend declares abortCleansUp false and the suite
// does not count leftovers.
runStorageConformance('s3 (s3rver)', async () => {
  const prefix = `case-${++cases}`;
  return {
    headerRewrite: 'streamed',
    storage: createTestS3Storage(server.endpoint, { prefix }),
    teardown: async () => {},
    reopen: () => createTestS3Storage(server.endpoint, { prefix }),
    plantMetadata: (name, metadata) => plantS3Metadata(admin, `${prefix}/${name}`, metadata),
    serverGaps: { delimiterMissesFoldersWithoutDirectFiles: true },
  };
});
