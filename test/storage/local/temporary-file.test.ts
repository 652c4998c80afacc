/**
 * The local store's temporary (TemporaryFile) is closed synchronously, so
 * it cannot wait: a close with a write still in libuv's thread pool is a
 * programming error, refused, the descriptor left open (a number reused by
 * the OS must never take the late write).
 */
import fsCallbacks from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, expect, it, jest } from '@jest/globals';
import { TemporaryFile } from '../../../src/storage/local/local-object-writer.js';
import { holdNextCall } from '../../helpers/fs-calls.js';

let dir: string;
beforeEach(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'cloudlocker-temporary-'));
});
afterEach(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

it('refuses a close while a write is in flight, and closes once it has ended', async () => {
  const temp = new TemporaryFile(fsCallbacks.openSync(path.join(dir, 'object.tmp'), 'wx'));
  const { spy: write, release } = holdNextCall('write', 3);
  const closeSync = jest.spyOn(fsCallbacks, 'closeSync');
  try {
    const writing = temp.write(Buffer.from('abc'), 0, 3, 0);
    expect(() => temp.close()).toThrow(/in flight/);
    expect(closeSync).not.toHaveBeenCalled();
    release();
    await expect(writing).resolves.toBe(3);
    temp.close();
    expect(closeSync).toHaveBeenCalledTimes(1);
    temp.close();
    expect(closeSync).toHaveBeenCalledTimes(1);
  } finally {
    write.mockRestore();
    closeSync.mockRestore();
  }
});
