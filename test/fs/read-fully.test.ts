import { describe, expect, it } from '@jest/globals';
import { readFully, type ReadTarget } from '../../src/fs/read-fully.js';

/** A file of `content` whose reads return at most `step` bytes at a time. */
function shortReads(content: Buffer, step: number, failAt?: number, code = 'EACCES'): ReadTarget & { calls: number } {
  const target = {
    calls: 0,
    async read(buffer: Uint8Array, offset: number, length: number, position: number) {
      target.calls += 1;
      if (failAt !== undefined && position >= failAt) {
        throw Object.assign(new Error(`${code}: read failed, '/secret/path'`), { code, path: '/secret/path' });
      }
      const bytes = content.subarray(position, position + Math.min(length, step));
      buffer.set(bytes, offset);
      return { bytesRead: bytes.length };
    },
  };
  return target;
}

describe('readFully', () => {
  const content = Buffer.from(Array.from({ length: 1000 }, (_, i) => i % 251));

  it('goes on after short reads until the buffer is full', async () => {
    const handle = shortReads(content, 7);
    const into = Buffer.alloc(300);
    expect(await readFully(handle, into, 100, 'the file')).toBe(300);
    expect(into).toEqual(content.subarray(100, 400));
    expect(handle.calls).toBe(Math.ceil(300 / 7));
  });

  it('returns fewer bytes only where the file ends', async () => {
    const into = Buffer.alloc(300);
    expect(await readFully(shortReads(content, 64), into, 900, 'the file')).toBe(100);
    expect(into.subarray(0, 100)).toEqual(content.subarray(900));
  });

  it('maps a failing read to a CloudlockerError about what was read', async () => {
    const failing = readFully(shortReads(content, 64, 128), Buffer.alloc(300), 0, 'the file to upload');
    await expect(failing).rejects.toMatchObject({ name: 'CloudlockerError', reason: 'PERMISSION_DENIED' });
    await expect(failing).rejects.toThrow(/the file to upload/);
    await expect(failing).rejects.not.toThrow(/secret/);
  });

  it('lets an error with no protocol meaning through unchanged (an internal error)', async () => {
    const failing = readFully(shortReads(content, 64, 0, 'EIO'), Buffer.alloc(10), 0, 'the file');
    await expect(failing).rejects.toMatchObject({ code: 'EIO' });
  });
});
