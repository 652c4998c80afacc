/**
 * The instance lock's take-over of an empty (unreadable) stale lock, with the
 * one interleaving that let two takers both win forced through node:fs/promises,
 * replaced in this file only (jest's ESM module mock):
 *
 *   T1 and T2 both read the old, empty lock and find it old. T1 takes the guard
 *   (and, held back here, waits until T2 asks for it too), removes the lock, gives the guard back and creates its own lock L1, which
 *   stays empty (its write is held back here). Only then does T2 take the guard:
 *   L1 reads as "" like the stale lock T2 read. T2 must not remove it (it is
 *   fresh: being written); before the fix it did, created its own lock, and T1's
 *   write to the removed L1 succeeded too: two holders.
 *
 * And release(): while it removes its lock, another attempt of this process
 * must still see the lock as held (its nonce is forgotten only afterwards).
 */
import * as realFs from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { beforeAll, expect, jest, test } from '@jest/globals';
import type * as InstanceLockModule from '../../src/server/instance-lock.js';

let armed = false;
let guardOpens = 0;
let lockCreations = 0;
let firstLockOpened!: () => void;
const firstLockOpen = new Promise<void>((resolve) => (firstLockOpened = resolve));
let secondGuardAsked!: () => void;
const secondGuardAsk = new Promise<void>((resolve) => (secondGuardAsked = resolve));
let staleRemovals = 0;
let releaseFirstWrite!: () => void;
const firstWriteMayGo = new Promise<void>((resolve) => (releaseFirstWrite = resolve));

/** When set, the next rm of a lock file waits for it (release()'s, in the second test). */
let holdNextLockRm: Promise<void> | undefined;

type OpenArgs = Parameters<typeof realFs.open>;

// The real module comes from the static import above (a dynamic import here would get this mock).
jest.unstable_mockModule('node:fs/promises', () => {
  const real = realFs;
  const open = async (...args: OpenArgs) => {
    const [file, flags] = args;
    if (!armed || flags !== 'wx') return real.open(...args);
    const name = String(file);
    if (name.endsWith('.takeover')) {
      guardOpens += 1;
      // The second taker (which has read the stale lock and found it old) gets the guard only once the first
      // has made its new lock.
      if (guardOpens === 2) {
        secondGuardAsked();
        await firstLockOpen;
      }
      return real.open(...args);
    }
    const handle = await real.open(...args);
    lockCreations += 1;
    if (lockCreations !== 1) return handle;
    firstLockOpened();
    // The first new lock stays empty until the test lets it be written.
    return {
      writeFile: async (...rest: Parameters<typeof handle.writeFile>) => {
        await firstWriteMayGo;
        return handle.writeFile(...rest);
      },
      sync: () => handle.sync(),
      close: () => handle.close(),
    } as unknown as typeof handle;
  };
  const rm = async (...args: Parameters<typeof real.rm>) => {
    if (holdNextLockRm !== undefined && String(args[0]).endsWith('server.lock')) {
      const gate = holdNextLockRm;
      holdNextLockRm = undefined;
      await gate;
    }
    // The first taker removes the stale lock only once the second has read it too (and asks for the guard).
    if (armed && String(args[0]).endsWith('server.lock') && (staleRemovals += 1) === 1) await secondGuardAsk;
    return real.rm(...args);
  };
  return { ...real, default: { ...real, open, rm }, open, rm };
});

let lockModule: typeof InstanceLockModule;
beforeAll(async () => {
  lockModule = await import('../../src/server/instance-lock.js');
});

test('an empty stale lock taken over by two at once: the second does not remove the first\'s new, still empty lock', async () => {
  const { acquireInstanceLock, DataDirInUseError, LOCK_FILE_NAME } = lockModule;
  // Not test/helpers/server's makeTempDir: importing it would load the lock module before this mock.
  const dataDir = await realFs.mkdtemp(path.join(tmpdir(), 'cloudlocker-lock-race-'));
  const file = path.join(dataDir, LOCK_FILE_NAME);
  await realFs.writeFile(file, '');
  const old = new Date(Date.now() - 60_000);
  await realFs.utimes(file, old, old);

  armed = true;
  const attempts = [acquireInstanceLock(dataDir), acquireInstanceLock(dataDir)];
  // Either call may be the one that gets the guard first (T1), whose new lock is held back empty: wait for the
  // other (T2) to settle, then let T1 write.
  await Promise.race(attempts.map((attempt) => attempt.then(() => undefined, () => undefined)));
  releaseFirstWrite();
  const results = await Promise.allSettled(attempts);
  armed = false;

  // The forced interleaving happened: two guard takes, the second after the first's new lock was made.
  expect(guardOpens).toBeGreaterThanOrEqual(2);
  const winners = results.filter((result) => result.status === 'fulfilled');
  expect(winners).toHaveLength(1);
  const losers = results.filter((result) => result.status === 'rejected');
  expect(losers.every((result) => result.reason instanceof DataDirInUseError)).toBe(true);
  // The winner's lock is the file on disk.
  for (const result of results) if (result.status === 'fulfilled') await result.value.release();
  await expect(realFs.stat(file)).rejects.toMatchObject({ code: 'ENOENT' });
  await realFs.rm(dataDir, { recursive: true, force: true });
});

test('while release() is removing its lock, another attempt of this process does not take it for stale', async () => {
  const { acquireInstanceLock, DataDirInUseError, LOCK_FILE_NAME } = lockModule;
  const dataDir = await realFs.mkdtemp(path.join(tmpdir(), 'cloudlocker-lock-release-'));
  const file = path.join(dataDir, LOCK_FILE_NAME);
  const first = await acquireInstanceLock(dataDir);
  let letRmGo!: () => void;
  holdNextLockRm = new Promise<void>((resolve) => (letRmGo = resolve));
  const releasing = first.release();
  // release() has read its lock and waits in rm: the file is still there, still ours.
  while (holdNextLockRm !== undefined) await new Promise((resolve) => setTimeout(resolve, 1));
  const second = await Promise.allSettled([acquireInstanceLock(dataDir)]);
  letRmGo();
  await releasing;
  // Before the fix the nonce was forgotten first: the second attempt removed the lock as a previous process's
  // with our pid, made its own, and release()'s rm then removed that one (a holder without a lock file).
  expect(second[0]!.status === 'rejected' && second[0]!.reason instanceof DataDirInUseError).toBe(true);
  await expect(realFs.stat(file)).rejects.toMatchObject({ code: 'ENOENT' });
  for (const result of second) if (result.status === 'fulfilled') await result.value.release();
  await realFs.rm(dataDir, { recursive: true, force: true });
});
