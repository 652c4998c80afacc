/**
 * FlushBehind: background datasyncs start once enough bytes are written,
 * never two at once, and finish() is never weaker than one fsync at the end:
 * it waits for the flush in flight and rethrows its failure.
 */
import { mkdtemp, open, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { FlushBehind, type SyncableFile } from '../../src/fs/flush-behind.js';

/** A file whose datasync calls wait until released, and which records every call. */
class RecordingFile implements SyncableFile {
  readonly calls: string[] = [];
  private pending: Array<{ resolve: () => void; reject: (err: unknown) => void }> = [];

  datasync(): Promise<void> {
    this.calls.push('datasync');
    return new Promise((resolve, reject) => this.pending.push({ resolve, reject }));
  }

  async sync(): Promise<void> {
    this.calls.push('sync');
  }

  get inFlight(): number {
    return this.pending.length;
  }

  release(error?: Error): void {
    const next = this.pending.shift();
    if (next === undefined) throw new Error('no datasync in flight');
    if (error === undefined) next.resolve();
    else next.reject(error);
  }
}

const tick = () => new Promise((resolve) => setImmediate(resolve));

describe('FlushBehind', () => {
  it('starts a datasync only once the threshold is reached, and never a second while one runs', async () => {
    const file = new RecordingFile();
    const flush = new FlushBehind(file, 100);
    flush.wrote(60);
    expect(file.calls).toEqual([]);
    flush.wrote(40);
    expect(file.calls).toEqual(['datasync']);
    flush.wrote(500);
    expect(file.calls).toEqual(['datasync']);
    file.release();
    await tick();
    flush.wrote(100);
    expect(file.calls).toEqual(['datasync', 'datasync']);
    file.release();
    await flush.finish();
    expect(file.calls).toEqual(['datasync', 'datasync', 'sync']);
  });

  it('finish() waits for the flush in flight before its fsync', async () => {
    const file = new RecordingFile();
    const flush = new FlushBehind(file, 10);
    flush.wrote(10);
    let finished = false;
    const finishing = flush.finish().then(() => (finished = true));
    await tick();
    expect(finished).toBe(false);
    expect(file.calls).toEqual(['datasync']);
    file.release();
    await finishing;
    expect(file.calls).toEqual(['datasync', 'sync']);
  });

  it('a failed background flush fails finish() (even though a later fsync might succeed), and no more flushes start', async () => {
    const file = new RecordingFile();
    const flush = new FlushBehind(file, 10);
    flush.wrote(10);
    file.release(Object.assign(new Error('EIO: i/o error, fdatasync'), { code: 'EIO' }));
    await tick();
    flush.wrote(100);
    expect(file.calls).toEqual(['datasync']);
    await expect(flush.finish()).rejects.toMatchObject({ code: 'EIO' });
    expect(file.calls).toEqual(['datasync']);
  });

  it('settle() waits for the flush in flight without throwing its failure (before closing the file)', async () => {
    const file = new RecordingFile();
    const flush = new FlushBehind(file, 10);
    flush.wrote(10);
    let settled = false;
    const settling = flush.settle().then(() => (settled = true));
    await tick();
    expect(settled).toBe(false);
    file.release(new Error('EIO'));
    await settling;
    expect(file.inFlight).toBe(0);
  });

  describe('on a real file', () => {
    let dir: string;
    beforeEach(async () => {
      dir = await mkdtemp(path.join(os.tmpdir(), 'flush-behind-'));
    });
    afterEach(async () => {
      await rm(dir, { recursive: true, force: true });
    });

    it('flushes while parts are written at any position, and the file holds them all', async () => {
      const file = path.join(dir, 'object');
      const handle = await open(file, 'w');
      const flush = new FlushBehind(handle, 64 * 1024);
      const part = (i: number) => Buffer.alloc(48 * 1024, i);
      let datasyncs = 0;
      const datasync = handle.datasync.bind(handle);
      handle.datasync = () => {
        datasyncs += 1;
        return datasync();
      };
      // Out of order and concurrent, as the part queue writes them.
      await Promise.all(
        [3, 1, 0, 2, 5, 4].map(async (i) => {
          const { bytesWritten } = await handle.write(part(i), 0, part(i).length, i * part(i).length);
          flush.wrote(bytesWritten);
        }),
      );
      await flush.finish();
      await handle.close();
      expect(datasyncs).toBeGreaterThan(0);
      expect(await readFile(file)).toEqual(Buffer.concat([0, 1, 2, 3, 4, 5].map(part)));
    });
  });
});
