import { rm } from 'node:fs/promises';
import path from 'node:path';
import { LocalStorage } from '../../src/storage/index.js';
import { makeTempDir } from '../helpers/server.js';
import { runHostileStoreSuite } from './hostile-store-suite.js';

runHostileStoreSuite('local store', async () => {
  const dir = await makeTempDir('cloudlocker-hostile-store-');
  const directory = path.join(dir, 'store');
  return { storage: () => new LocalStorage({ directory }), teardown: () => rm(dir, { recursive: true, force: true }) };
});
