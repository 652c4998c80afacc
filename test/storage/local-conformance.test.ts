import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { LocalStorage, TEMP_FOLDER } from '../../src/storage/local/local-storage.js';
import { runStorageConformance } from './conformance.js';

runStorageConformance('local', async () => {
  const directory = await fs.mkdtemp(path.join(os.tmpdir(), 'cloudlocker-local-'));
  const store = path.join(directory, 'store');
  return {
    storage: new LocalStorage({ directory: store }),
    teardown: () => fs.rm(directory, { recursive: true, force: true }),
    countLeftovers: async () => (await fs.readdir(path.join(store, TEMP_FOLDER))).length,
    reopen: () => new LocalStorage({ directory: store }),
  };
});
