/**
 * `cloudlocker serve`, started as package.json's "bin" starts it
 * (dist/src/cli/launcher.cjs), runs libuv's thread pool with 16 threads
 * unless UV_THREADPOOL_SIZE says otherwise: set by the launcher before any
 * module is read, since set any later (in main.ts) it had no effect. Counted
 * from the outside (Linux: /proc/<pid>/task): the same server with
 * UV_THREADPOOL_SIZE=3 runs 13 threads fewer. Builds dist/ first if it is
 * missing or stale (ensureBuilt), as the fault suites do.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { ensureBuilt } from '../faults/built-server.js';

const launcher = path.join(process.cwd(), 'dist', 'src', 'cli', 'launcher.cjs');

/** Starts `serve` with `env` added (no CLOUDLOCKER_* or UV_THREADPOOL_SIZE of ours), waits until it listens, counts its threads, stops it. */
async function threadsOfServe(env: Record<string, string>): Promise<number> {
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'cloudlocker-pool-'));
  const base = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('CLOUDLOCKER_') && name !== 'UV_THREADPOOL_SIZE'));
  const child = spawn(process.execPath, [launcher, 'serve', '--port', '0', '--data-dir', dataDir], {
    env: { ...base, ...env, CLOUDLOCKER_TOKEN: randomBytes(24).toString('base64url') },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  try {
    await new Promise<void>((resolve, reject) => {
      let out = '';
      child.stdout!.on('data', (chunk: Buffer) => {
        out += chunk.toString('utf8');
        if (out.includes('listening on wss://')) resolve();
      });
      void exited.then(() => reject(new Error(`serve exited before it listened: ${out}`)));
    });
    // Starting up wrote server.json and read the certificate through the pool: all its threads are up.
    return (await readdir(`/proc/${child.pid}/task`)).length;
  } finally {
    child.kill('SIGINT');
    await exited;
    await rm(dataDir, { recursive: true, force: true });
  }
}

const onLinux = process.platform === 'linux' ? it : it.skip;

describe('cloudlocker serve', () => {
  // The launcher is dist/: build it when it is missing or older than the sources (a clean clone runs this suite before any build).
  beforeAll(ensureBuilt, 180_000);
  onLinux('runs 16 thread-pool threads by default, and as many as UV_THREADPOOL_SIZE says when it is set', async () => {
    const byDefault = await threadsOfServe({});
    const three = await threadsOfServe({ UV_THREADPOOL_SIZE: '3' });
    const sixteen = await threadsOfServe({ UV_THREADPOOL_SIZE: '16' });
    expect(byDefault - three).toBe(13);
    expect(sixteen).toBe(byDefault);
  }, 60_000);
});
