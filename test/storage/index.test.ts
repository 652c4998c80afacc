import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { createStorage, LocalStorage, type StorageConfig } from '../../src/storage/index.js';

describe('createStorage', () => {
  let workDir: string;
  beforeEach(async () => {
    workDir = await fs.mkdtemp(path.join(os.tmpdir(), 'cloudlocker-factory-'));
  });
  afterEach(async () => {
    await fs.rm(workDir, { recursive: true, force: true });
  });

  it('builds a LocalStorage over the given directory, ready after init()', async () => {
    const directory = path.join(workDir, 'store');
    const storage = await createStorage({ kind: 'local', directory });
    expect(storage).toBeInstanceOf(LocalStorage);
    expect(storage.location).toBe(path.resolve(directory));
    await storage.init();
    expect(await storage.list({ limit: 1 })).toEqual({ objects: [], nextCursor: null });
    await storage.close();
  });

  it('loads the S3 backend on demand', async () => {
    const storage = await createStorage({
      kind: 's3',
      bucket: 'factory-test',
      endpoint: 'http://127.0.0.1:9',
      forcePathStyle: true,
      credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
    });
    expect(storage.kind).toBe('s3');
    await storage.close();
  });

  it('refuses an unknown kind', async () => {
    await expect(createStorage({ kind: 'ftp' } as unknown as StorageConfig)).rejects.toThrow(/Unknown storage kind/);
  });
});
