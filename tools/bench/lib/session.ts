/**
 * A cloudlocker server process, a client connected to it and a key: what
 * every cloudlocker measurement starts from. `measure` times one call as the
 * client sees it (request sent to answer received) and records, around it,
 * the server's CPU seconds and its peak RSS.
 */
import { mkdir, mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { cpuBetween, cpuSeconds, mainThreadCpuSeconds } from './cpu-time.js';
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
  options: Omit<ServerProcessOptions, 'dataDir'> & { readonly dataDir?: string } = {},
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
  const keyPath = path.join(workDir, `bench-${process.pid}-${Date.now()}.key.json`);
  await client.call('createKey', { path: keyPath });
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
