/**
 * The take-over guard's error paths, forced through node:fs/promises replaced
 * in this file only (jest's ESM module mock, as in instance-lock-takeover-race
 * and instance-lock-guard-race):
 *
 * - a breaker that moved aside a guard which is not the one it read (or one it
 *   cannot read) puts it back, and never deletes it, even when putting it back
 *   fails for a while (retried) or for good (a DataDirInUseError naming the
 *   files, not a raw errno);
 * - an empty guard read as old, replaced meanwhile by a fresh empty one (a
 *   taker between creating and writing it): put back, the start does not go on;
 * - Windows' answers for a name that cannot be used now (EPERM/EACCES for a
 *   file deleted while open elsewhere, "delete pending"; EBUSY from an
 *   antivirus) when creating or reading the guard or reading the lock: waited
 *   out, not thrown.
 */
import * as realFs from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeAll, beforeEach, describe, expect, jest, test } from '@jest/globals';
import type * as InstanceLockModule from '../../src/server/instance-lock.js';

type Hook = (file: string, ...rest: unknown[]) => Promise<void> | void;
/** Per-test interceptions: run before the real call (may throw to fail it). */
const hooks: { open?: Hook; readFile?: Hook; rename?: Hook } = {};

const errno = (code: string): NodeJS.ErrnoException => Object.assign(new Error(`${code}: injected by the test`), { code });

jest.unstable_mockModule('node:fs/promises', () => {
  const real = realFs;
  const open = async (...args: Parameters<typeof real.open>) => {
    await hooks.open?.(String(args[0]), args[1]);
    return real.open(...args);
  };
  const readFile = (async (...args: Parameters<typeof real.readFile>) => {
    await hooks.readFile?.(String(args[0]));
    return real.readFile(...args);
  }) as typeof real.readFile;
  const rename = async (...args: Parameters<typeof real.rename>) => {
    await hooks.rename?.(String(args[0]), String(args[1]));
    return real.rename(...args);
  };
  const overrides = { open, readFile, rename };
  return { ...real, ...overrides, default: { ...real, ...overrides } };
});

let lockModule: typeof InstanceLockModule;
beforeAll(async () => {
  lockModule = await import('../../src/server/instance-lock.js');
});

const owner = (pid: number, nonce: string): string => `${JSON.stringify({ pid, hostname: hostname(), nonce, startedAt: '2020-01-01T00:00:00Z' })}\n`;
/** A pid that does not run (above Linux's pid_max; kill(2) answers ESRCH). */
const DEAD_PID = 2 ** 30;
/** The held-locks registry the module shares on globalThis: a guard named there with our pid is a live take-over of this process. */
const held = (): Set<string> => (globalThis as unknown as Record<symbol, Set<string>>)[Symbol.for('cloudlocker.instance-lock.held.v1')]!;

let dataDir: string;
let file: string;
let guard: string;
beforeEach(async () => {
  dataDir = await realFs.mkdtemp(path.join(tmpdir(), 'cloudlocker-guard-errors-'));
  file = path.join(dataDir, lockModule.LOCK_FILE_NAME);
  guard = `${file}.takeover`;
  await realFs.writeFile(file, owner(DEAD_PID, 'stale-lock'));
});
afterEach(async () => {
  delete hooks.open;
  delete hooks.readFile;
  delete hooks.rename;
  await realFs.rm(dataDir, { recursive: true, force: true });
});

const ago = async (target: string, ms: number): Promise<void> => {
  const then = new Date(Date.now() - ms);
  await realFs.utimes(target, then, then);
};
const asideName = (name: string): boolean => name.endsWith('.removed');

describe('a breaker that moved aside a guard that is not the one it read', () => {
  /** The abandoned guard G0 is replaced by a live taker's G1 just before the breaker moves "it" aside. */
  const liveGuard = owner(process.pid, 'live-taker');
  let putBackTries = 0;
  beforeEach(async () => {
    await realFs.writeFile(guard, owner(DEAD_PID, 'crashed-taker'));
    held().add(`${guard}\nlive-taker`);
    putBackTries = 0;
  });
  afterEach(() => {
    held().delete(`${guard}\nlive-taker`);
  });
  const replaceBeforeMovingAside: Hook = async (from, to) => {
    if (from === guard && asideName(String(to)) && (await realFs.readFile(guard, 'utf8')) !== liveGuard) await realFs.writeFile(guard, liveGuard);
  };

  test('puts it back, retrying a put-back that fails for a while (EPERM, EBUSY), and does not go on', async () => {
    hooks.rename = async (from, to) => {
      await replaceBeforeMovingAside(from, to);
      if (asideName(from) && to === guard && (putBackTries += 1) <= 2) throw errno(putBackTries === 1 ? 'EPERM' : 'EBUSY');
    };
    await expect(lockModule.acquireInstanceLock(dataDir)).rejects.toBeInstanceOf(lockModule.DataDirInUseError);
    expect(putBackTries).toBe(3);
    // The live taker's guard is where it was, the stale lock untouched (the breaker did not go on), nothing aside.
    expect(await realFs.readFile(guard, 'utf8')).toBe(liveGuard);
    expect(await realFs.readFile(file, 'utf8')).toBe(owner(DEAD_PID, 'stale-lock'));
    expect((await realFs.readdir(dataDir)).sort()).toEqual([path.basename(file), path.basename(guard)]);
  }, 20_000);

  test('a put-back that keeps failing: a DataDirInUseError naming the files (not a raw errno), and the live guard is kept, not deleted', async () => {
    hooks.rename = async (from, to) => {
      await replaceBeforeMovingAside(from, to);
      if (asideName(from) && to === guard) {
        putBackTries += 1;
        throw errno('EPERM');
      }
    };
    const refused = lockModule.acquireInstanceLock(dataDir);
    await expect(refused).rejects.toBeInstanceOf(lockModule.DataDirInUseError);
    await expect(refused).rejects.toThrow(/could not be put back/);
    expect(putBackTries).toBeGreaterThan(1);
    const names = await realFs.readdir(dataDir);
    const aside = names.filter(asideName);
    expect(aside).toHaveLength(1);
    expect(await realFs.readFile(path.join(dataDir, aside[0]!), 'utf8')).toBe(liveGuard);
    await expect(refused).rejects.toThrow(aside[0]!);
    expect(await realFs.readFile(file, 'utf8')).toBe(owner(DEAD_PID, 'stale-lock'));
  }, 20_000);

  test('cannot read what it moved (EMFILE): puts it back, never deletes it', async () => {
    let asideReads = 0;
    hooks.rename = replaceBeforeMovingAside;
    hooks.readFile = (name) => {
      if (asideName(name) && (asideReads += 1) === 1) throw errno('EMFILE');
    };
    await expect(lockModule.acquireInstanceLock(dataDir)).rejects.toBeInstanceOf(lockModule.DataDirInUseError);
    expect(asideReads).toBe(1);
    expect(await realFs.readFile(guard, 'utf8')).toBe(liveGuard);
    expect(await realFs.readFile(file, 'utf8')).toBe(owner(DEAD_PID, 'stale-lock'));
    expect((await realFs.readdir(dataDir)).filter(asideName)).toEqual([]);
  }, 20_000);
});

test('an empty guard read as old, replaced meanwhile by a fresh empty one (a taker between creating and writing it): put back, the start does not go on', async () => {
  await realFs.writeFile(guard, '');
  await ago(guard, 11_000);
  let replaced = 0;
  hooks.rename = async (from, to) => {
    if (from === guard && asideName(to as string) && replaced === 0) {
      replaced += 1;
      await realFs.rm(guard);
      await realFs.writeFile(guard, ''); // fresh: now
    }
  };
  const refused = lockModule.acquireInstanceLock(dataDir);
  await expect(refused).rejects.toBeInstanceOf(lockModule.DataDirInUseError);
  expect(replaced).toBe(1);
  expect(await realFs.readFile(guard, 'utf8')).toBe('');
  expect(await realFs.readFile(file, 'utf8')).toBe(owner(DEAD_PID, 'stale-lock'));
  expect((await realFs.readdir(dataDir)).filter(asideName)).toEqual([]);
}, 20_000);

/** Play Windows (instance-lock reads process.platform at each call): EPERM/EACCES are "busy" there only. */
const realPlatform = Object.getOwnPropertyDescriptor(process, 'platform')!;
const playWindows = (): void => {
  Object.defineProperty(process, 'platform', { ...realPlatform, value: 'win32' });
};
const stopPlaying = (): void => {
  Object.defineProperty(process, 'platform', realPlatform);
};

describe('Windows: a guard or lock name that cannot be used now is waited for, not thrown', () => {
  beforeEach(playWindows);
  afterEach(stopPlaying);
  for (const code of ['EPERM', 'EACCES', 'EBUSY']) {
    test(`creating the guard fails with ${code} a few times (delete pending / antivirus): the take-over goes on once it can`, async () => {
      let tries = 0;
      hooks.open = (name, flags) => {
        if (name === guard && flags === 'wx' && (tries += 1) <= 3) throw errno(code);
      };
      const lock = await lockModule.acquireInstanceLock(dataDir);
      expect(tries).toBe(4);
      expect(JSON.parse(await realFs.readFile(file, 'utf8'))).toMatchObject({ pid: process.pid });
      expect(await realFs.readdir(dataDir)).toEqual([path.basename(file)]);
      await lock.release();
    });
  }

  test('reading an abandoned guard fails with EPERM a few times (delete pending): it is broken once it can be read', async () => {
    await realFs.writeFile(guard, owner(DEAD_PID, 'crashed-taker'));
    let tries = 0;
    hooks.readFile = (name) => {
      if (name === guard && (tries += 1) <= 3) throw errno('EPERM');
    };
    const lock = await lockModule.acquireInstanceLock(dataDir);
    expect(tries).toBeGreaterThan(3);
    expect(await realFs.readdir(dataDir)).toEqual([path.basename(file)]);
    await lock.release();
  });

  test('reading the lock fails with EACCES a few times (delete pending): the stale lock is taken over once it can be read', async () => {
    let tries = 0;
    hooks.readFile = (name) => {
      if (name === file && (tries += 1) <= 3) throw errno('EACCES');
    };
    const lock = await lockModule.acquireInstanceLock(dataDir);
    expect(tries).toBeGreaterThan(3);
    expect(JSON.parse(await realFs.readFile(file, 'utf8'))).toMatchObject({ pid: process.pid });
    await lock.release();
  });

  test('a guard that stays busy: refused after the bounded attempts with a DataDirInUseError saying so, not a raw errno', async () => {
    hooks.open = (name, flags) => {
      if (name === guard && flags === 'wx') throw errno('EPERM');
    };
    const refused = lockModule.acquireInstanceLock(dataDir);
    await expect(refused).rejects.toBeInstanceOf(lockModule.DataDirInUseError);
    await expect(refused).rejects.toThrow(/stayed busy/);
    expect(await realFs.readFile(file, 'utf8')).toBe(owner(DEAD_PID, 'stale-lock'));
  }, 20_000);

  test('reading the lock fails with EBUSY a few times (antivirus): the stale lock is taken over once it can be read', async () => {
    let tries = 0;
    hooks.readFile = (name) => {
      if (name === file && (tries += 1) <= 3) throw errno('EBUSY');
    };
    const lock = await lockModule.acquireInstanceLock(dataDir);
    expect(tries).toBeGreaterThan(3);
    expect(JSON.parse(await realFs.readFile(file, 'utf8'))).toMatchObject({ pid: process.pid });
    await lock.release();
  });
});

test('elsewhere than Windows, EACCES creating the guard is a permission problem: thrown as it is, at once', async () => {
  stopPlaying();
  hooks.open = (name, flags) => {
    if (name === guard && flags === 'wx') throw errno('EACCES');
  };
  const started = Date.now();
  await expect(lockModule.acquireInstanceLock(dataDir)).rejects.toMatchObject({ code: 'EACCES' });
  expect(Date.now() - started).toBeLessThan(2_000);
});

describe('a taker whose guard was replaced while it was held up', () => {
  const liveGuard = owner(process.pid, 'other-taker');
  afterEach(() => {
    held().delete(`${guard}\nother-taker`);
  });

  test('checks the guard is still its own just before removing the stale lock, and leaves the lock (and the other guard) alone if not', async () => {
    held().add(`${guard}\nother-taker`);
    let lockReads = 0;
    hooks.readFile = async (name) => {
      // The second read of the lock is the taker's, under its guard: just then its guard is replaced.
      if (name === file && (lockReads += 1) === 2) await realFs.writeFile(guard, liveGuard);
    };
    await expect(lockModule.acquireInstanceLock(dataDir)).rejects.toBeInstanceOf(lockModule.DataDirInUseError);
    expect(lockReads).toBeGreaterThanOrEqual(2);
    expect(await realFs.readFile(file, 'utf8')).toBe(owner(DEAD_PID, 'stale-lock'));
    expect(await realFs.readFile(guard, 'utf8')).toBe(liveGuard);
  }, 20_000);
});

test('a take-over deletes guards moved aside and left (a breaker that crashed) once older than 60 s, and keeps younger ones', async () => {
  const oldAside = `${guard}.0123456789abcdef.removed`;
  const youngAside = `${guard}.fedcba9876543210.removed`;
  await realFs.writeFile(oldAside, owner(DEAD_PID, 'old'));
  await ago(oldAside, 61_000);
  await realFs.writeFile(youngAside, owner(DEAD_PID, 'young'));
  const lock = await lockModule.acquireInstanceLock(dataDir);
  expect((await realFs.readdir(dataDir)).sort()).toEqual([path.basename(file), path.basename(youngAside)]);
  await lock.release();
});
