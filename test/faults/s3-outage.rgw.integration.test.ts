/**
 * The S3 store goes away in the middle of an upload and comes back, against
 * Ceph's RADOS Gateway: radosgw stops (the cluster and its data stay) and
 * starts again on the same port (see s3-outage-suite.ts).
 */
import { createTestRgwStorage, startRgw } from '../helpers/rgw.js';
import { runS3OutageSuite } from './s3-outage-suite.js';

runS3OutageSuite('Ceph RGW', {
  async start() {
    const rgw = await startRgw();
    return {
      storage: (prefix) => createTestRgwStorage(rgw, { prefix }),
      goAway: () => rgw.stopGateway(),
      comeBack: () => rgw.startGateway(),
      stop: () => rgw.stop(),
    };
  },
});
