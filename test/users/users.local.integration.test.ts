import { rm } from 'node:fs/promises';
import path from 'node:path';
import { LocalStorage } from '../../src/storage/index.js';
import { makeTempDir } from '../helpers/server.js';
import { runUsersSuite } from './users-suite.js';


runUsersSuite('local store', async () => {
  const dir = await makeTempDir('cloudlocker-users-store-');
  const directory = path.join(dir, 'store');
  return { storage: () => new LocalStorage({ directory }), teardown: () => rm(dir, { recursive: true, force: true }) };
});
