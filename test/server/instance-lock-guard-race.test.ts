/**
 * Two starts breaking the same abandoned take-over guard at once, with the
 * interleaving that let both in forced through node:fs/promises, replaced in
 * this file only (jest's ESM module mock, as in instance-lock-takeover-race):
 *
 *   A stale lock L0 and a guard G0 left by a taker that no longer runs (a
 *   crash in the middle of a take-over). T1 and T2 both read G0 and judge it
 *   abandoned. T1 removes it, makes its own guard G1 and, under it, is about to
 *   remove L0 (held back here). Only then does T2 remove "the guard": what is
 *   there now is G1. If T2 went on, it would make its own guard, remove L0
 *   and make its lock L2, and T1's held-back removal would then remove L2:
 *   both think they hold the data directory. T2 must see that what it moved
 *   is not what it read, put G1 back, and wait for T1.
 *
 * Seen failing with the guard removed by path (rm) instead of moved aside and
 * checked: two winners.
 */
import * as realFs from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import path from 'node:path';
import { beforeAll, expect, jest, test } from '@jest/globals';
import type * as InstanceLockModule from '../../src/server/instance-lock.js';

let armed = false;
const isGuard = (file: unknown): boolean => String(file).endsWith('.takeover');
const isLock = (file: unknown): boolean => String(file).endsWith('server.lock');

const gate = (): { promise: Promise<void>; open: () => void } => {
  let open!: () => void;
  const promise = new Promise<void>((resolve) => (open = resolve));
  return { promise, open };
};

/** Both takers have read the abandoned guard. */
let guardReads = 0;
const bothRead = gate();
/** Guards made after the abandoned one was removed (G1 is the first). */
let guardsMade = 0;
/** Removals of the guard file (by rename or rm); the second (T2's) waits until T1 is inside, under G1. */
let guardRemovals = 0;
let secondRemovalDone = false;
let guardsMadeBeforeSecondRemoval = 0;
/** The first removal of the lock file (T1's, of L0) waits until T2 has gone on or given up. */
let lockRemovals = 0;
const lockRemovalHeld = gate();
const t2Moved = gate();

type OpenArgs = Parameters<typeof realFs.open>;

jest.unstable_mockModule('node:fs/promises', () => {
  const real = realFs;
  const readFile = (async (...args: Parameters<typeof real.readFile>) => {
    const content = await real.readFile(...args);
    if (armed && isGuard(args[0]) && guardReads < 2) {
      guardReads += 1;
      if (guardReads === 2) bothRead.open();
      await bothRead.promise;
    }
    return content;
  }) as typeof real.readFile;
  const removingGuard = async (): Promise<void> => {
    guardRemovals += 1;
    if (guardRemovals === 2) {
      await lockRemovalHeld.promise;
      guardsMadeBeforeSecondRemoval = guardsMade;
    }
  };
  const afterRemovingGuard = (): void => {
    if (guardRemovals >= 2) secondRemovalDone = true;
  };
  const rename = async (...args: Parameters<typeof real.rename>) => {
    if (!armed || !isGuard(args[0])) return real.rename(...args);
    await removingGuard();
    try {
      return await real.rename(...args);
    } finally {
      afterRemovingGuard();
    }
  };
  const rm = async (...args: Parameters<typeof real.rm>) => {
    if (armed && isGuard(args[0]) && guardRemovals < 2) {
      await removingGuard();
      try {
        return await real.rm(...args);
      } finally {
        afterRemovingGuard();
      }
    }
    if (armed && isLock(args[0]) && (lockRemovals += 1) === 1) {
      lockRemovalHeld.open();
      await t2Moved.promise;
    }
    return real.rm(...args);
  };
  const open = async (...args: OpenArgs) => {
    const [file, flags] = args;
    if (!armed || flags !== 'wx') return real.open(...args);
    try {
      const handle = await real.open(...args);
      // A taker's own guard, made after the abandoned one was removed.
      if (isGuard(file) && guardRemovals >= 1) guardsMade += 1;
      // T2 went on to make its own lock: let T1's held-back removal go (it removes T2's lock if nothing stops it).
      if (isLock(file)) t2Moved.open();
      return handle;
    } catch (err) {
      // T2 found a guard in its way after its removal: it did not go on.
      if (isGuard(file) && secondRemovalDone && (err as NodeJS.ErrnoException).code === 'EEXIST') t2Moved.open();
      throw err;
    }
  };
  const overrides = { readFile, rename, rm, open };
  return { ...real, ...overrides, default: { ...real, ...overrides } };
});

let lockModule: typeof InstanceLockModule;
beforeAll(async () => {
  lockModule = await import('../../src/server/instance-lock.js');
});

test('two starts breaking the same abandoned guard at once: the second puts back the guard the first made since, and exactly one wins', async () => {
  const { acquireInstanceLock, DataDirInUseError, LOCK_FILE_NAME } = lockModule;
  const dataDir = await realFs.mkdtemp(path.join(tmpdir(), 'cloudlocker-guard-race-'));
  const file = path.join(dataDir, LOCK_FILE_NAME);
  const owner = (nonce: string): string => `${JSON.stringify({ pid: 2 ** 30, hostname: hostname(), nonce, startedAt: '2020-01-01T00:00:00Z' })}\n`;
  await realFs.writeFile(file, owner('gone'));
  await realFs.writeFile(`${file}.takeover`, owner('crashed-taker'));

  armed = true;
  const results = await Promise.allSettled([acquireInstanceLock(dataDir), acquireInstanceLock(dataDir)]);
  armed = false;

  // The forced interleaving happened: both read the abandoned guard; the second removal came after the first
  // taker's new guard was made, while that taker's removal of the stale lock was held back.
  expect(guardReads).toBe(2);
  expect(guardRemovals).toBeGreaterThanOrEqual(2);
  expect(guardsMadeBeforeSecondRemoval).toBe(1);
  expect(lockRemovals).toBeGreaterThanOrEqual(1);

  const winners = results.filter((result) => result.status === 'fulfilled');
  expect(winners).toHaveLength(1);
  const losers = results.filter((result) => result.status === 'rejected');
  expect(losers.every((result) => result.reason instanceof DataDirInUseError)).toBe(true);
  // The winner's lock is the file on disk, and nothing of the take-over is left behind.
  const held = JSON.parse(await realFs.readFile(file, 'utf8')) as { pid: number };
  expect(held.pid).toBe(process.pid);
  expect((await realFs.readdir(dataDir)).sort()).toEqual([LOCK_FILE_NAME]);
  for (const result of results) if (result.status === 'fulfilled') await result.value.release();
  await expect(realFs.stat(file)).rejects.toMatchObject({ code: 'ENOENT' });
  await realFs.rm(dataDir, { recursive: true, force: true });
});
