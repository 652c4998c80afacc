import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createHash } from 'node:crypto';
import { LocalStorage, META_FOLDER, TEMP_FOLDER } from '../../src/storage/local/local-storage.js';
import { runStorageConformance } from './conformance.js';

runStorageConformance('local', async () => {
  const directory = await fs.mkdtemp(path.join(os.tmpdir(), 'cloudlocker-local-'));
  const store = path.join(directory, 'store');
  const storage = new LocalStorage({ directory: store });
  return {
    headerRewrite: 'in-place',
    storage,
    teardown: () => fs.rm(directory, { recursive: true, force: true }),
    countLeftovers: async () => (await fs.readdir(path.join(store, TEMP_FOLDER))).length,
    reopen: () => new LocalStorage({ directory: store }),
    // The sidecar of the object's current version, written by hand.
    plantMetadata: async (name, metadata) => {
      const { version } = await storage.stat(name);
      const file = `${createHash('sha256').update(name, 'utf8').digest('hex')}.${version}.json`;
      await fs.writeFile(path.join(store, META_FOLDER, file), JSON.stringify({ metadata }));
    },
  };
});
