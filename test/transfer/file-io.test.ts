import { mkdtemp, open, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { writevFully, type WritevTarget } from '../../src/transfer/file-io.js';

/** A file in memory whose writev writes at most `limit` bytes per call, as an OS may. */
function shortWriter(limit: number): WritevTarget & { bytes: number[]; calls: number } {
  const target = {
    bytes: [] as number[],
    calls: 0,
    async writev(buffers: readonly Uint8Array[], position: number) {
      target.calls += 1;
      let written = 0;
      for (const buffer of buffers) {
        for (const byte of buffer) {
          if (written === limit) return { bytesWritten: written };
          target.bytes[position + written] = byte;
          written += 1;
        }
      }
      return { bytesWritten: written };
    },
  };
  return target;
}

describe('writevFully', () => {
  const pieces = [Buffer.from('abc'), Buffer.alloc(0), Buffer.from('defgh'), Buffer.from('i')];

  it.each([1, 2, 3, 4, 7, 100])('goes on after short writes of at most %i bytes, in order, at the position', async (limit) => {
    const target = shortWriter(limit);
    await writevFully(target, pieces, 5);
    expect(Buffer.from(target.bytes.slice(5)).toString()).toBe('abcdefghi');
    expect(target.bytes.slice(0, 5).every((b) => b === undefined)).toBe(true);
    expect(target.calls).toBe(Math.ceil(9 / limit));
  });

  it('writes nothing for no buffers or only empty ones, and fails rather than loop when nothing is written', async () => {
    const target = shortWriter(0);
    await writevFully(target, [Buffer.alloc(0)], 0);
    expect(target.calls).toBe(0);
    await expect(writevFully(target, [Buffer.from('x')], 0)).rejects.toThrow('writev wrote nothing');
  });

  it('writes a real file', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'cloudlocker-file-io-'));
    try {
      const file = path.join(dir, 'f');
      const handle = await open(file, 'w');
      await writevFully(handle, [Buffer.from('ab'), Buffer.from('cd')], 0);
      await writevFully(handle, [Buffer.from('XY')], 1);
      await handle.close();
      expect(await readFile(file, 'utf8')).toBe('aXYd');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
