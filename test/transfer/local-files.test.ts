/**
 * Operating-system refusals on the user's side of a transfer map to the
 * protocol's reasons. EACCES cannot be produced on a real file system when
 * the tests run as root, so these cases use mock-fs with a non-root uid.
 * (mock-fs does not refuse creating a file in a read-only folder: that case
 * runs on a real read-only tmpfs in test/methods/disk-errors.integration.test.ts.)
 */
import { jest } from '@jest/globals';
import fsCallbacks from 'node:fs';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import mock from 'mock-fs';
import { createDestinationFile, inspectSource, openSource } from '../../src/transfer/local-files.js';
import { SMALL_FILE_BYTES } from '../../src/transfer/small-file.js';
import { holdNextCall } from '../helpers/fs-calls.js';

function asUser<T>(run: () => Promise<T>): Promise<T> {
  const uid = jest.spyOn(process, 'getuid').mockReturnValue(1000);
  const gid = jest.spyOn(process, 'getgid').mockReturnValue(1000);
  return run().finally(() => {
    uid.mockRestore();
    gid.mockRestore();
  });
}

describe('local files under operating-system refusals', () => {
  afterEach(() => mock.restore());

  it('maps an unreadable source to PERMISSION_DENIED', async () => {
    await asUser(async () => {
      mock({ '/data': mock.directory({ uid: 0, gid: 0, mode: 0o755, items: { 'secret.txt': mock.file({ content: 'x', uid: 0, gid: 0, mode: 0o600 }) } }) });
      const source = await inspectSource('/data/secret.txt');
      await expect(openSource(source)).rejects.toMatchObject({ reason: 'PERMISSION_DENIED' });
    });
  });

  it('maps a source folder that cannot be searched to PERMISSION_DENIED', async () => {
    await asUser(async () => {
      mock({ '/locked': mock.directory({ uid: 0, gid: 0, mode: 0o700, items: { 'a.txt': 'a' } }) });
      await expect(inspectSource('/locked/a.txt')).rejects.toMatchObject({ reason: 'PERMISSION_DENIED' });
    });
  });
});

// The upload's source and the download's temporary are descriptors, not FileHandles: once closed, a
// call must be refused without reaching the OS, whose next open may have reused the number.
describe('an open source or temporary once closed', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'cloudlocker-local-files-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('refuses reads and stats of the source, and a second close is the first one', async () => {
    const file = path.join(dir, 'source.bin');
    await writeFile(file, 'abcdef');
    const handle = await openSource(await inspectSource(file));
    const buffer = Buffer.alloc(6);
    expect((await handle.read(buffer, 0, 6, 0)).bytesRead).toBe(6);
    expect(buffer.toString()).toBe('abcdef');
    const read = jest.spyOn(fsCallbacks, 'read');
    const fstat = jest.spyOn(fsCallbacks, 'fstatSync');
    try {
      await handle.close();
      await expect(handle.read(buffer, 0, 6, 0)).rejects.toMatchObject({ code: 'EBADF' });
      await expect(handle.stat()).rejects.toMatchObject({ code: 'EBADF' });
      await expect(handle.close()).resolves.toBeUndefined();
      expect(read).not.toHaveBeenCalled();
      expect(fstat).not.toHaveBeenCalled();
    } finally {
      read.mockRestore();
      fstat.mockRestore();
    }
  });

  it('refuses writes and syncs of the temporary after its close; what was written before stays', async () => {
    const tempPath = path.join(dir, '.temp.cloudlocker-part');
    const temp = await createDestinationFile(tempPath);
    await temp.writev([Buffer.from('abc'), Buffer.from('def')], 0);
    await temp.sync();
    const writev = jest.spyOn(fsCallbacks, 'writev');
    const fsync = jest.spyOn(fsCallbacks, 'fsync');
    try {
      await temp.close();
      await expect(temp.writev([Buffer.from('x')], 0)).rejects.toMatchObject({ code: 'EBADF' });
      await expect(temp.sync()).rejects.toMatchObject({ code: 'EBADF' });
      await expect(temp.datasync()).rejects.toMatchObject({ code: 'EBADF' });
      expect(writev).not.toHaveBeenCalled();
      expect(fsync).not.toHaveBeenCalled();
    } finally {
      writev.mockRestore();
      fsync.mockRestore();
    }
    expect(await readFile(tempPath, 'utf8')).toBe('abcdef');
    // Owner-only: decrypted data is the user's secret.
    if (process.platform !== 'win32') expect((await stat(tempPath)).mode & 0o777).toBe(0o600);
  });
  it('closes the temporary only once a write in flight has ended', async () => {
    const temp = await createDestinationFile(path.join(dir, '.held.cloudlocker-part'));
    const { spy: writev, release } = holdNextCall('writev', 3);
    const close = jest.spyOn(fsCallbacks, 'close');
    try {
      const write = temp.writev([Buffer.from('abc')], 0);
      const closed = temp.close();
      await new Promise((resolve) => setImmediate(resolve));
      expect(close).not.toHaveBeenCalled();
      release();
      await expect(write).resolves.toEqual({ bytesWritten: 3 });
      await closed;
      expect(close).toHaveBeenCalledTimes(1);
    } finally {
      writev.mockRestore();
      close.mockRestore();
    }
  });

  it('closes the source only once a read in flight has ended', async () => {
    const file = path.join(dir, 'held.bin');
    await writeFile(file, 'abcdef');
    const handle = await openSource(await inspectSource(file));
    const { spy: read, release } = holdNextCall('read', 6);
    const close = jest.spyOn(fsCallbacks, 'close');
    try {
      const reading = handle.read(Buffer.alloc(6), 0, 6, 0);
      const closed = handle.close();
      await new Promise((resolve) => setImmediate(resolve));
      expect(close).not.toHaveBeenCalled();
      release();
      await expect(reading).resolves.toEqual({ bytesRead: 6 });
      await closed;
      expect(close).toHaveBeenCalledTimes(1);
    } finally {
      read.mockRestore();
      close.mockRestore();
    }
  });

  it.each([
    ['synchronously, a small source', SMALL_FILE_BYTES, true],
    ['through the thread pool, a larger source (a network share may make it wait)', SMALL_FILE_BYTES + 1, false],
  ])('fstats %s', async (_what, size, synchronous) => {
    const file = path.join(dir, `source-${size}.bin`);
    await writeFile(file, Buffer.alloc(size, 1));
    const fstatSync = jest.spyOn(fsCallbacks, 'fstatSync');
    const fstat = jest.spyOn(fsCallbacks, 'fstat');
    try {
      const handle = await openSource(await inspectSource(file));
      expect((await handle.stat()).size).toBe(size);
      await handle.close();
      expect(fstatSync).toHaveBeenCalledTimes(synchronous ? 2 : 0);
      expect(fstat).toHaveBeenCalledTimes(synchronous ? 0 : 2);
    } finally {
      fstatSync.mockRestore();
      fstat.mockRestore();
    }
  });
});
