/**
 * One server per data directory, in one process (two startCloudlocker() on
 * the same directory, as an Electron main process started twice would), and
 * the lock file's own rules and its take-over guard's. Across processes and
 * after kill -9: test/bundle/bundle.integration.test.ts. Forced interleavings:
 * instance-lock-takeover-race and instance-lock-guard-race; two copies of the
 * module in one process: instance-lock-copies.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readdir, readFile, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import v8 from 'node:v8';
import path from 'node:path';
import { DataDirInUseError, startCloudlocker, type RunningServer } from '../../src/index.js';
import { createLogger } from '../../src/logging.js';
import { acquireInstanceLock, LOCK_FILE_NAME } from '../../src/server/instance-lock.js';
import { readDiscoveryFile } from '../../src/server/index.js';
import { makeTempDir } from '../helpers/server.js';

const quiet = createLogger({ level: 'silent' });

function start(dataDir: string, extra: Parameters<typeof startCloudlocker>[0] = {}): Promise<RunningServer> {
  return startCloudlocker({ dataDir, port: 0, env: {}, logger: quiet, ...extra });
}

it('a second startCloudlocker() on the same data directory is refused; the first keeps its server.json', async () => {
  const dataDir = await makeTempDir();
  const first = await start(dataDir);
  try {
    const refused = start(dataDir);
    await expect(refused).rejects.toBeInstanceOf(DataDirInUseError);
    await expect(refused).rejects.toThrow(/already running on the data directory/);
    await expect(refused).rejects.toThrow(String(process.pid));
    // The refused start touched nothing of the first's.
    expect((await readDiscoveryFile(dataDir))?.port).toBe(first.port);
    expect(await stat(path.join(dataDir, LOCK_FILE_NAME))).toBeDefined();
  } finally {
    await first.close();
  }
  // Closing removes server.json and the lock: the next start succeeds.
  await expect(stat(path.join(dataDir, LOCK_FILE_NAME))).rejects.toMatchObject({ code: 'ENOENT' });
  const second = await start(dataDir);
  expect((await readDiscoveryFile(dataDir))?.port).toBe(second.port);
  await second.close();
  await rm(dataDir, { recursive: true, force: true });
});

it('two servers on different data directories run side by side', async () => {
  const [a, b] = [await makeTempDir(), await makeTempDir()];
  const first = await start(a);
  const second = await start(b);
  expect(second.port).not.toBe(first.port);
  await Promise.all([first.close(), second.close()]);
  await Promise.all([rm(a, { recursive: true, force: true }), rm(b, { recursive: true, force: true })]);
});

it('a start that fails after taking the lock releases it', async () => {
  const dataDir = await makeTempDir();
  const blocker = await start(await makeTempDir());
  // The port is taken: listen fails after the lock was acquired.
  await expect(start(dataDir, { port: blocker.port })).rejects.toThrow(/already in use/);
  await expect(stat(path.join(dataDir, LOCK_FILE_NAME))).rejects.toMatchObject({ code: 'ENOENT' });
  await blocker.close();
  await rm(blocker.dataDir, { recursive: true, force: true });
  await rm(dataDir, { recursive: true, force: true });
});

describe('the lock file', () => {
  let dataDir: string;
  beforeEach(async () => {
    dataDir = await makeTempDir();
  });
  afterEach(async () => {
    await rm(dataDir, { recursive: true, force: true });
  });

  it('is taken over at once when its owner no longer runs (kill -9 left it behind)', async () => {
    const file = path.join(dataDir, LOCK_FILE_NAME);
    // A pid far above any pid_max: no such process.
    await writeFile(file, JSON.stringify({ pid: 2 ** 30, hostname: (await import('node:os')).hostname(), nonce: 'gone', startedAt: '2020-01-01T00:00:00Z' }));
    const lock = await acquireInstanceLock(dataDir);
    expect(JSON.parse(await readFile(file, 'utf8'))).toMatchObject({ pid: process.pid });
    await lock.release();
    await expect(stat(file)).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('left by an earlier process that had our pid (a container restart) is stale', async () => {
    const file = path.join(dataDir, LOCK_FILE_NAME);
    await writeFile(file, JSON.stringify({ pid: process.pid, hostname: (await import('node:os')).hostname(), nonce: 'earlier', startedAt: '2020-01-01T00:00:00Z' }));
    const lock = await acquireInstanceLock(dataDir);
    await lock.release();
  });

  it('held by a live process (this test runner\'s parent) is respected', async () => {
    await writeFile(path.join(dataDir, LOCK_FILE_NAME), JSON.stringify({ pid: process.ppid, hostname: (await import('node:os')).hostname(), nonce: 'live', startedAt: '2020-01-01T00:00:00Z' }));
    await expect(acquireInstanceLock(dataDir)).rejects.toThrow(`(process ${process.ppid})`);
  });

  it('written on another host is never taken over', async () => {
    await writeFile(path.join(dataDir, LOCK_FILE_NAME), JSON.stringify({ pid: 2 ** 30, hostname: 'another-host.invalid', nonce: 'x', startedAt: '2020-01-01T00:00:00Z' }));
    await expect(acquireInstanceLock(dataDir)).rejects.toBeInstanceOf(DataDirInUseError);
  });

  it('unreadable and fresh (being written) is respected; unreadable and old is stale', async () => {
    const file = path.join(dataDir, LOCK_FILE_NAME);
    await writeFile(file, '');
    await expect(acquireInstanceLock(dataDir)).rejects.toBeInstanceOf(DataDirInUseError);
    const old = new Date(Date.now() - 60_000);
    await (await import('node:fs/promises')).utimes(file, old, old);
    const lock = await acquireInstanceLock(dataDir);
    await lock.release();
  });

  it('many processes\' worth of concurrent takeovers of one stale lock: exactly one wins', async () => {
    const file = path.join(dataDir, LOCK_FILE_NAME);
    await writeFile(file, JSON.stringify({ pid: 2 ** 30, hostname: (await import('node:os')).hostname(), nonce: 'gone', startedAt: '2020-01-01T00:00:00Z' }));
    const attempts = await Promise.allSettled(Array.from({ length: 8 }, () => acquireInstanceLock(dataDir)));
    expect(attempts.filter((attempt) => attempt.status === 'fulfilled')).toHaveLength(1);
    for (const attempt of attempts) if (attempt.status === 'fulfilled') await attempt.value.release();
  });

  describe('its take-over guard (server.lock.takeover), met by a start that finds a stale lock', () => {
    const owner = (fields: { pid: number; hostname?: string; nonce: string }): string =>
      `${JSON.stringify({ hostname: hostname(), startedAt: '2020-01-01T00:00:00Z', ...fields })}\n`;
    const ago = async (file: string, ms: number): Promise<void> => {
      const then = new Date(Date.now() - ms);
      await utimes(file, then, then);
    };
    let file: string;
    let guard: string;
    beforeEach(async () => {
      file = path.join(dataDir, LOCK_FILE_NAME);
      guard = `${file}.takeover`;
      await writeFile(file, owner({ pid: 2 ** 30, nonce: 'gone' }));
    });

    it('is broken at once when its owner no longer runs on this host (a taker that crashed), and nothing is left behind', async () => {
      await writeFile(guard, owner({ pid: 2 ** 30, nonce: 'crashed-taker' }));
      const lock = await acquireInstanceLock(dataDir);
      expect(JSON.parse(await readFile(file, 'utf8'))).toMatchObject({ pid: process.pid });
      expect(await readdir(dataDir)).toEqual([LOCK_FILE_NAME]);
      await lock.release();
    });

    it('abandoned, met by many concurrent takeovers of the stale lock behind it: exactly one wins, nothing is left behind', async () => {
      await writeFile(guard, owner({ pid: 2 ** 30, nonce: 'crashed-taker' }));
      const attempts = await Promise.allSettled(Array.from({ length: 8 }, () => acquireInstanceLock(dataDir)));
      expect(attempts.filter((attempt) => attempt.status === 'fulfilled')).toHaveLength(1);
      expect(await readdir(dataDir)).toEqual([LOCK_FILE_NAME]);
      for (const attempt of attempts) if (attempt.status === 'fulfilled') await attempt.value.release();
    });

    it('with our pid but none of our take-overs now (an earlier process that had our pid) is broken at once', async () => {
      await writeFile(guard, owner({ pid: process.pid, nonce: 'earlier-process' }));
      const lock = await acquireInstanceLock(dataDir);
      expect(await readdir(dataDir)).toEqual([LOCK_FILE_NAME]);
      await lock.release();
    });

    it('whose owner runs is left alone though 30 s old (the start is refused), and broken once older than 60 s', async () => {
      // A live owner of our own, kept alive for the test (process.ppid is not reliably a live process on Windows).
      const child = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1e6)'], { stdio: 'ignore' });
      try {
        await once(child, 'spawn');
        const live = owner({ pid: child.pid!, nonce: 'live-taker' });
        await writeFile(guard, live);
        await ago(guard, 30_000);
        await expect(acquireInstanceLock(dataDir)).rejects.toBeInstanceOf(DataDirInUseError);
        expect(await readFile(guard, 'utf8')).toBe(live);
        await ago(guard, 61_000);
        const lock = await acquireInstanceLock(dataDir);
        expect(await readdir(dataDir)).toEqual([LOCK_FILE_NAME]);
        await lock.release();
      } finally {
        child.kill();
      }
    });

    it('naming a pid process.kill does not accept (>= 2^31: a corrupt guard) is unreadable: broken by age alone (10 s), not kept 60 s as a live one', async () => {
      const corrupt = owner({ pid: 2 ** 31, nonce: 'corrupt' });
      await writeFile(guard, corrupt);
      await expect(acquireInstanceLock(dataDir)).rejects.toBeInstanceOf(DataDirInUseError);
      expect(await readFile(guard, 'utf8')).toBe(corrupt);
      await ago(guard, 11_000);
      const lock = await acquireInstanceLock(dataDir);
      expect(await readdir(dataDir)).toEqual([LOCK_FILE_NAME]);
      await lock.release();
    });

    it('written on another host, or with no readable owner, is broken by age alone: refused while fresh, broken once 10 s old', async () => {
      const elsewhere = owner({ pid: 2 ** 30, hostname: 'another-host.invalid', nonce: 'x' });
      await writeFile(guard, elsewhere);
      await expect(acquireInstanceLock(dataDir)).rejects.toBeInstanceOf(DataDirInUseError);
      expect(await readFile(guard, 'utf8')).toBe(elsewhere);
      await ago(guard, 11_000);
      const lock = await acquireInstanceLock(dataDir);
      await lock.release();

      await writeFile(file, owner({ pid: 2 ** 30, nonce: 'gone-again' }));
      await writeFile(guard, '');
      await ago(guard, 11_000);
      const again = await acquireInstanceLock(dataDir);
      expect(await readdir(dataDir)).toEqual([LOCK_FILE_NAME]);
      await again.release();
    });
  });

  it('release() removes only its own lock', async () => {
    const file = path.join(dataDir, LOCK_FILE_NAME);
    const lock = await acquireInstanceLock(dataDir);
    await writeFile(file, JSON.stringify({ pid: 2 ** 30, hostname: 'h', nonce: 'someone-else', startedAt: 'x' }));
    await lock.release();
    expect(JSON.parse(await readFile(file, 'utf8'))).toMatchObject({ nonce: 'someone-else' });
  });
});

it('startCloudlocker() sets no process-wide V8 flag unless asked (tuneGarbageCollection: true)', async () => {
  const calls: string[] = [];
  const original = v8.setFlagsFromString;
  v8.setFlagsFromString = (flags: string) => {
    calls.push(flags);
  };
  const dataDir = await makeTempDir();
  try {
    const server = await start(dataDir);
    await server.close();
    expect(calls).toEqual([]);
    const tuned = await start(dataDir, { tuneGarbageCollection: true });
    await tuned.close();
    expect(calls).toEqual(['--semi-space-growth-factor=1']);
  } finally {
    v8.setFlagsFromString = original;
    await rm(dataDir, { recursive: true, force: true });
  }
});
