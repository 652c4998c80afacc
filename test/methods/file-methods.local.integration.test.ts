import { readdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { LocalStorage } from '../../src/storage/index.js';
import { TEMP_FOLDER } from '../../src/storage/local/local-storage.js';
import { makeTempDir } from '../helpers/server.js';
import { runFileMethodsSuite } from './file-methods-suite.js';

runFileMethodsSuite('local store', async () => {
  const dir = await makeTempDir('cloudlocker-local-store-');
  const store = path.join(dir, 'store');
  return {
    storage: new LocalStorage({ directory: store }),
    teardown: () => rm(dir, { recursive: true, force: true }),
    unfinishedWrites: () => readdir(path.join(store, TEMP_FOLDER)),
  };
}, { seedConcurrency: 250, listingObjects: 2500 });
