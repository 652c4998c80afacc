/**
 * The S3 store goes away in the middle of an upload and comes back, against
 * s3rver (see s3-outage-suite.ts).
 */
import { createTestS3Storage, startS3rver } from '../helpers/s3rver.js';
import { runS3OutageSuite } from './s3-outage-suite.js';

runS3OutageSuite('s3rver', {
  async start() {
    const s3 = await startS3rver();
    return {
      storage: (prefix) => createTestS3Storage(s3.endpoint, { prefix }),
      goAway: () => s3.stop({ removeDirectory: false }),
      comeBack: () => s3.restart(),
      stop: () => s3.stop(),
    };
  },
});
