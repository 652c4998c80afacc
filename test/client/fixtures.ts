/** A whole service in a temp directory with a store the test can slow down, and files to move. */
import { randomBytes } from 'node:crypto';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { LocalStorage, type Storage } from '../../src/storage/index.js';
import { makeTempDir, type TestServer } from '../helpers/server.js';
import { slowStorage, startTestService, type TestServiceOptions } from '../helpers/service.js';
import { hookedStorage } from '../helpers/storage-wrappers.js';

export interface FixtureStartOptions extends TestServiceOptions {
  /** Every part write and ranged read waits this long. */
  slowMs?: number;
  /** Runs before every part write (after slowMs): hold a transfer at a chosen part. `signal` aborts when it is cancelled. */
  beforeWritePart?: (partIndex: number, signal: AbortSignal | undefined) => Promise<void>;
}

export interface ServiceFixture {
  /** Holds data/ (the service's data directory), store/ and files/. */
  readonly dir: string;
  readonly dataDir: string;
  readonly filesDir: string;
  server: TestServer;
  /** Start (again) on the same data directory, store and, when given, port and token. */
  start(options?: FixtureStartOptions): Promise<TestServer>;
  /** A new file of `size` random bytes under files/. */
  file(name: string, size: number): Promise<{ path: string; bytes: Buffer }>;
  cleanup(): Promise<void>;
}

export async function serviceFixture(options: FixtureStartOptions = {}): Promise<ServiceFixture> {
  const dir = await makeTempDir('cloudlocker-client-');
  const dataDir = path.join(dir, 'data');
  const filesDir = path.join(dir, 'files');
  await mkdir(filesDir);
  const fixture: ServiceFixture = {
    dir,
    dataDir,
    filesDir,
    server: undefined as unknown as TestServer,
    async start(startOptions = {}) {
      const { slowMs, beforeWritePart, ...serviceOptions } = startOptions;
      // A fresh backend object each time: closing the service closes its storage.
      let storage: Storage = new LocalStorage({ directory: path.join(dir, 'store') });
      if (slowMs !== undefined) storage = slowStorage(storage, slowMs);
      if (beforeWritePart !== undefined) storage = hookedStorage(storage, { beforeWritePart });
      fixture.server = await startTestService({ dataDir, storageBackend: storage, ...serviceOptions });
      return fixture.server;
    },
    async file(name, size) {
      const bytes = randomBytes(size);
      const file = path.join(filesDir, name);
      await writeFile(file, bytes);
      return { path: file, bytes };
    },
    async cleanup() {
      await fixture.server?.close().catch(() => undefined);
      await rm(dir, { recursive: true, force: true });
    },
  };
  await fixture.start(options);
  return fixture;
}

/** Resolve when `condition()` holds, polling; fail after `timeoutMs`. */
export async function waitFor(condition: () => boolean | Promise<boolean>, timeoutMs = 10_000, what = 'a condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Holding transfers mid-way, so a test can act while one surely runs. */
export interface TransferHold {
  /** Pass as FixtureStartOptions.beforeWritePart. */
  readonly beforeWritePart: (partIndex: number, signal: AbortSignal | undefined) => Promise<void>;
  /** From now on, part writes from `fromPart` on wait until the returned release() (or their transfer's cancellation). */
  hold(): () => void;
  /** Release whatever is held (for afterEach). */
  releaseAll(): void;
}

export function transferHold(fromPart = 2): TransferHold {
  let gate: Promise<void> | undefined;
  let open: () => void = () => undefined;
  const releaseAll = () => {
    gate = undefined;
    open();
  };
  return {
    beforeWritePart: (index, signal) => {
      const current = gate;
      if (current === undefined || index < fromPart) return Promise.resolve();
      return new Promise((resolve) => {
        void current.then(resolve);
        signal?.addEventListener('abort', () => resolve(), { once: true });
      });
    },
    hold: () => {
      gate = new Promise((resolve) => (open = resolve));
      return releaseAll;
    },
    releaseAll,
  };
}
