import { rm } from 'node:fs/promises';
import path from 'node:path';
import { LocalStorage } from '../../src/storage/index.js';
import { makeTempDir } from '../helpers/server.js';
import { runFileMethodsSuite } from './file-methods-suite.js';

runFileMethodsSuite('local store', async () => {
  const dir = await makeTempDir('cloudlocker-local-store-');
  return {
    storage: new LocalStorage({ directory: path.join(dir, 'store') }),
    teardown: () => rm(dir, { recursive: true, force: true }),
  };
}, { seedConcurrency: 250, listingObjects: 2500 });
