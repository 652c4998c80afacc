/**
 * The built server as a child process, for the kill -9 suites: the launcher
 * (test/resume/fixtures/slow-server.mjs, its environment documented there)
 * runs dist/ on a local or s3rver store and reports each part write and read
 * as a JSON line on stdout; this collects those events, connects a client once
 * the child says it is ready, and kills it with SIGKILL when asked. Every child
 * started is remembered so that `killChildServers()` (in an afterAll) leaves
 * none behind a failed test.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { openClient, type TestClient, type TestServer } from './server.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const SLOW_SERVER_LAUNCHER = path.join(ROOT, 'test/resume/fixtures/slow-server.mjs');

/** One line the launcher printed. */
export interface ChildEvent {
  readonly event: string;
  readonly name?: string;
  readonly partIndex?: number;
  readonly offset?: number;
  readonly step?: string;
  readonly done?: number;
  readonly url?: string;
  readonly certificatePath?: string;
}

export interface ChildServer {
  readonly process: ChildProcess;
  /** Every event so far, in order ("ready" first). */
  readonly events: ChildEvent[];
  readonly client: TestClient;
  /** SIGKILL, then wait for the exit and for the client's connection to close. */
  kill9(): Promise<void>;
}

const children = new Set<ChildProcess>();

/** Kills every child still running (for afterAll). */
export function killChildServers(): void {
  for (const child of children) child.kill('SIGKILL');
}

/** Starts the launcher with `env` added to this process's environment and the token set; resolves once it listens. */
export async function startChildServer(token: string, env: Record<string, string>): Promise<ChildServer> {
  const child = spawn(process.execPath, [SLOW_SERVER_LAUNCHER], {
    cwd: ROOT,
    env: { ...process.env, CLOUDLOCKER_TOKEN: token, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  child.once('exit', () => children.delete(child));
  const events: ChildEvent[] = [];
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const ready = new Promise<ChildEvent>((resolve, reject) => {
    createInterface({ input: child.stdout! }).on('line', (line) => {
      const event = JSON.parse(line) as ChildEvent;
      events.push(event);
      if (event.event === 'ready') resolve(event);
    });
    void exited.then(() => reject(new Error(`server exited before it was ready: ${stderr}`)));
  });
  const { url, certificatePath } = await ready;
  const client = await openClient({ url, token, caPem: await readFile(certificatePath!, 'utf8') } as unknown as TestServer);
  return {
    process: child,
    events,
    client,
    kill9: async () => {
      child.kill('SIGKILL');
      await exited;
      await client.closed;
    },
  };
}
