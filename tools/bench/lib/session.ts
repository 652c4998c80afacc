/**
 * A cloudlocker server process, a client connected to it and a key: what
 * every cloudlocker measurement starts from. `measure` times one call as the
 * client sees it (request sent to answer received) and records, around it,
 * the server's CPU seconds and its peak RSS.
 */
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { cpuBetween, cpuSeconds, mainThreadCpuSeconds } from './cpu-time.js';
import { createRandomFile } from './files.js';
import { BenchRpcClient } from './rpc-client.js';
import { startServerProcess, type ServerProcess, type ServerProcessOptions } from './server-process.js';

export interface Session {
  readonly server: ServerProcess;
  readonly client: BenchRpcClient;
  readonly keyPath: string;
  upload(file: string, name: string, overwrite?: boolean): Promise<unknown>;
  download(name: string, destination: string): Promise<unknown>;
  close(): Promise<void>;
}

export interface Measured<T> {
  readonly seconds: number;
  /** Server CPU seconds during the call (all its threads). */
  readonly serverCpu: number;
  /** CPU seconds of the server's main (JavaScript) thread during the call. */
  readonly serverMainCpu: number;
  /** Peak VmRSS of the server during the call, bytes. */
  readonly serverRss: number;
  readonly result: T;
}

export async function makeWorkDir(parent: string | undefined, prefix: string): Promise<string> {
  const base = parent ?? os.tmpdir();
  await mkdir(base, { recursive: true });
  return mkdtemp(path.join(base, prefix));
}

export async function openSession(
  workDir: string,
  options: Omit<ServerProcessOptions, 'dataDir'> & {
    readonly dataDir?: string;
    /** A key file made by an earlier session to use again (a server restarted between upload and download). */
    readonly keyPath?: string;
    /** createKey's `type` (the kind of key, hence the stored format); absent: the build's default (a build before format v2 knows no `type`). */
    readonly keyType?: string;
  } = {},
): Promise<Session> {
  const dataDir = options.dataDir ?? path.join(workDir, 'server');
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  const server = await startServerProcess({ ...options, dataDir });
  let client: BenchRpcClient;
  try {
    client = await BenchRpcClient.connect(server);
  } catch (err) {
    await server.stop();
    throw err;
  }
  const keyPath = options.keyPath ?? path.join(workDir, `bench-${process.pid}-${Date.now()}.key.json`);
  if (options.keyPath === undefined) await client.call('createKey', { path: keyPath, ...(options.keyType === undefined ? {} : { type: options.keyType }) });
  return {
    server,
    client,
    keyPath,
    upload: (file, name, overwrite = false) => client.call('upload', { path: file, keyPath, name, overwrite }),
    download: (name, destination) => client.call('download', { name, keyPath, destination }),
    async close() {
      await client.close();
      await server.stop();
    },
  };
}

export async function measure<T>(server: ServerProcess, action: () => Promise<T>): Promise<Measured<T>> {
  const cpuBefore = cpuSeconds(server.pid);
  const mainBefore = mainThreadCpuSeconds(server.pid);
  server.rss.start();
  const start = performance.now();
  let result: T;
  try {
    result = await action();
  } catch (err) {
    server.rss.stop();
    throw err;
  }
  const seconds = (performance.now() - start) / 1000;
  const memory = server.rss.stop();
  const mainAfter = mainThreadCpuSeconds(server.pid);
  return {
    seconds,
    serverCpu: cpuBetween(cpuBefore, cpuSeconds(server.pid)),
    serverMainCpu: mainBefore === undefined || mainAfter === undefined ? Number.NaN : mainAfter - mainBefore,
    serverRss: memory.rssBytes,
    result,
  };
}

/** Time a command run in this process (a peer program plus the fsync of its output): wall and CPU seconds of its children. */
export async function measureLocal(action: () => Promise<unknown>): Promise<{ seconds: number; cpu: number }> {
  const before = cpuSeconds('self');
  const start = performance.now();
  await action();
  const seconds = (performance.now() - start) / 1000;
  const after = cpuSeconds('self');
  // Children only: this process's own share is the fsync and the wait.
  const cpu = before === undefined || after === undefined ? Number.NaN : after.children - before.children;
  return { seconds, cpu };
}

const WARM_UP_BYTES = 8 * 1024 * 1024;
const WARM_UP_NAME = 'bench-warm-up.bin';

export type SessionOptions = Omit<ServerProcessOptions, 'dataDir'> & { readonly dataDir?: string; readonly keyType?: string };

/** The stored formats a bench can ask for: v1, age with an X25519 identity, age with a post-quantum hybrid one. */
export type BenchFormat = 'v1' | 'age' | 'age-pq';
const KEY_TYPES: Record<BenchFormat, string> = { v1: 'v1', age: 'X25519', 'age-pq': 'mlkem768x25519' };

/** createKey's `type` for a bench format. */
export function keyTypeFor(format: BenchFormat): string {
  return KEY_TYPES[format];
}

/** `--format v1,age,age-pq` (one or more, in order, no repeats). */
export function parseFormats(text: string): BenchFormat[] {
  const formats = text.split(',').map((format) => format.trim());
  for (const format of formats) {
    if (!(format in KEY_TYPES)) throw new Error(`--format takes v1, age and/or age-pq, got "${format}"`);
  }
  return [...new Set(formats)] as BenchFormat[];
}

/**
 * Where cloudlocker measurements run: by default a new server process for
 * every run (same data directory and key, so a download finds what an
 * earlier run uploaded), as each peer program is a new process per run.
 * On these shared VMs, identical server processes kept differing by up to
 * 2x in speed and CPU time for their whole life (an A/A/A run of three
 * servers: 1.7 s, 2.8 s and 3.8 s for the same 1 GiB upload), so one
 * long-lived server would make every cloudlocker figure hostage to the
 * process it happened to get. With restartEachRun false (--keep-server),
 * one server serves every run (for profiling it as one process).
 */
export class ServerRunner {
  private persistent: Session | undefined;
  private keyPath: string | undefined;

  constructor(
    private readonly workDir: string,
    private readonly options: SessionOptions,
    readonly restartEachRun: boolean,
  ) {}

  /** Run `action` on a server (a new one when restartEachRun; its start is not part of what `action` measures). */
  async use<T>(action: (session: Session) => Promise<T>): Promise<T> {
    if (!this.restartEachRun) {
      this.persistent ??= await this.open();
      return action(this.persistent);
    }
    const session = await this.open();
    try {
      return await action(session);
    } finally {
      await session.close();
    }
  }

  async close(): Promise<void> {
    await this.persistent?.close();
    this.persistent = undefined;
  }

  private async open(): Promise<Session> {
    const session = await openSession(this.workDir, { ...this.options, ...(this.keyPath === undefined ? {} : { keyPath: this.keyPath }) });
    this.keyPath = session.keyPath;
    try {
      await this.warmUp(session);
    } catch (err) {
      await session.close();
      throw err;
    }
    return session;
  }

  /**
   * An untimed 8 MiB upload and download first, as a running service has
   * done before: the measured run then does not pay for compiling the hot
   * paths and growing the heap.
   */
  private async warmUp(session: Session): Promise<void> {
    const source = path.join(this.workDir, 'warm-up.bin');
    if (!existsSync(source)) await createRandomFile(source, WARM_UP_BYTES);
    const copy = path.join(this.workDir, `warm-up-${process.pid}.out`);
    await session.upload(source, WARM_UP_NAME, true);
    await session.download(WARM_UP_NAME, copy);
    await rm(copy, { force: true });
    await session.client.call('deleteFile', { name: WARM_UP_NAME });
  }
}
