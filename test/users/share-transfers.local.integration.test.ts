import { readdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { LocalStorage } from '../../src/storage/index.js';
import { TEMP_FOLDER } from '../../src/storage/local/local-storage.js';
import { makeTempDir } from '../helpers/server.js';
import { runShareTransfersSuite } from './share-transfers-suite.js';

runShareTransfersSuite('local store', async () => {
  const dir = await makeTempDir('cloudlocker-share-transfers-store-');
  const directory = path.join(dir, 'store');
  return {
    storage: () => new LocalStorage({ directory }),
    leftovers: async () => (await readdir(path.join(directory, TEMP_FOLDER))).length,
    teardown: () => rm(dir, { recursive: true, force: true }),
  };
});
