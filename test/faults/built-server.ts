/**
 * The built CLI in a child process, for fault tests that must kill the
 * server or measure its memory alone (see tools/load/child-server.ts), and
 * a TestClient on it.
 *
 *   await ensureBuilt();
 *   const server = await startBuiltServer({ dataDir });
 *   const client = await connect(server);
 *   await server.kill9();
 */
import { execFile } from 'node:child_process';
import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { WebSocket } from 'ws';
import { builtCliPath, repositoryRoot, startChildServer, type ChildServer, type ChildServerOptions } from '../../tools/load/child-server.js';
import { TestClient } from '../helpers/server.js';

export type BuiltServer = ChildServer;

export function startBuiltServer(options: ChildServerOptions): Promise<BuiltServer> {
  return startChildServer(options);
}

/**
 * Build dist/ unless it is newer than every source file: several suites
 * need the build, and tsc takes seconds.
 */
export async function ensureBuilt(): Promise<void> {
  const root = repositoryRoot();
  const built = await stat(builtCliPath()).then((stats) => stats.mtimeMs, () => 0);
  if (built > 0 && (await newestSourceMtime(root)) < built) return;
  await promisify(execFile)('npm', ['run', 'build', '--silent'], { cwd: root, maxBuffer: 16 * 1024 * 1024 });
}

async function newestSourceMtime(root: string): Promise<number> {
  let newest = (await stat(path.join(root, 'package.json'))).mtimeMs;
  const visit = async (directory: string): Promise<void> => {
    for (const entry of await readdir(directory, { withFileTypes: true })) {
      const child = path.join(directory, entry.name);
      if (entry.isDirectory()) await visit(child);
      else if (entry.name.endsWith('.ts') || entry.name.endsWith('.json')) newest = Math.max(newest, (await stat(child)).mtimeMs);
    }
  };
  for (const folder of ['src', 'protocol', 'tools']) await visit(path.join(root, folder));
  return newest;
}

/** An authenticated TestClient on a built server (or anything with url, token and caPem). */
export function connect(target: { url: string; token: string; caPem: string }): Promise<TestClient> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(target.url, { ca: target.caPem, headers: { Authorization: `Bearer ${target.token}` } });
    const client = new TestClient(ws);
    ws.once('open', () => resolve(client));
    ws.once('error', reject);
  });
}
