/**
 * syncDirectory's group commit (src/fs/durable-fs.ts): callers that come
 * while a directory's fsync runs share the next one, and nobody is answered
 * by an fsync that began before they called.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { groupCommit, syncDirectory } from '../../src/fs/durable-fs.js';

/** A fake fsync that is finished by hand, recording when each one began and ended. */
function controlledFsync() {
  const started: Array<{ directory: string; finish: () => void }> = [];
  const fsyncOne = (directory: string) => new Promise<void>((resolve) => started.push({ directory, finish: resolve }));
  return { started, fsyncOne };
}

const settle = () => new Promise((resolve) => setImmediate(resolve));

describe('syncDirectory group commit', () => {
  test('callers that come during an fsync share the next one, which starts only after the first ends', async () => {
    const { started, fsyncOne } = controlledFsync();
    const sync = groupCommit(fsyncOne);
    const answered: string[] = [];
    void sync('/d').then(() => answered.push('first'));
    await settle();
    expect(started).toHaveLength(1);
    // Three more callers while the first fsync runs: none of them may be answered by it.
    for (const name of ['a', 'b', 'c']) void sync('/d').then(() => answered.push(name));
    await settle();
    expect(started).toHaveLength(1);
    started[0]!.finish();
    await settle();
    expect(answered).toEqual(['first']);
    // Exactly one more fsync covers all three.
    expect(started).toHaveLength(2);
    started[1]!.finish();
    await settle();
    expect(answered.sort()).toEqual(['a', 'b', 'c', 'first']);
    // Idle again: the next caller starts a fresh fsync at once.
    void sync('/d').then(() => answered.push('later'));
    await settle();
    expect(started).toHaveLength(3);
    started[2]!.finish();
    await settle();
    expect(answered).toContain('later');
  });

  test('a caller that comes while the shared fsync runs waits for one more', async () => {
    const { started, fsyncOne } = controlledFsync();
    const sync = groupCommit(fsyncOne);
    const answered: string[] = [];
    void sync('/d').then(() => answered.push('1'));
    await settle();
    void sync('/d').then(() => answered.push('2'));
    await settle();
    started[0]!.finish();
    await settle();
    expect(started).toHaveLength(2);
    // '3' comes while fsync #2 (which covers '2') runs: #2 began before '3' called, so '3' must wait for #3.
    void sync('/d').then(() => answered.push('3'));
    await settle();
    started[1]!.finish();
    await settle();
    expect(answered).toEqual(['1', '2']);
    expect(started).toHaveLength(3);
    started[2]!.finish();
    await settle();
    expect(answered).toEqual(['1', '2', '3']);
  });

  test('directories do not wait for each other', async () => {
    const { started, fsyncOne } = controlledFsync();
    const sync = groupCommit(fsyncOne);
    void sync('/a');
    void sync('/b');
    await settle();
    expect(started.map((s) => s.directory)).toEqual(['/a', '/b']);
  });

  test('the real syncDirectory answers every caller (a missing directory too: best effort)', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'cloudlocker-dirsync-'));
    try {
      await Promise.all([...Array.from({ length: 20 }, () => syncDirectory(dir)), syncDirectory(path.join(dir, 'missing'))]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
