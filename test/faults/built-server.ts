/**
 * The server as users run it, for fault tests that must kill it or measure
 * its memory: the built CLI (`node dist/src/cli/main.js serve`) in a child
 * process, found through the server.json it writes.
 *
 *   await ensureBuilt();
 *   const server = await startBuiltServer({ dataDir });
 *   const client = await connect(server);
 *   await server.kill9();
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { WebSocket } from 'ws';
import type { DiscoveryRecord } from '../../src/server/index.js';
import { TestClient } from '../helpers/server.js';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const CLI = path.join(ROOT, 'dist', 'src', 'cli', 'main.js');

/**
 * Build dist/ unless it is newer than every source file: several suites
 * need the build, and tsc takes seconds.
 */
export async function ensureBuilt(): Promise<void> {
  const built = await stat(CLI).then((stats) => stats.mtimeMs, () => 0);
  if (built > 0 && (await newestSourceMtime()) < built) return;
  await promisify(execFile)('npm', ['run', 'build', '--silent'], { cwd: ROOT, maxBuffer: 16 * 1024 * 1024 });
}

async function newestSourceMtime(): Promise<number> {
  let newest = (await stat(path.join(ROOT, 'package.json'))).mtimeMs;
  const visit = async (directory: string): Promise<void> => {
    for (const entry of await readdir(directory, { withFileTypes: true })) {
      const child = path.join(directory, entry.name);
      if (entry.isDirectory()) await visit(child);
      else if (entry.name.endsWith('.ts') || entry.name.endsWith('.json')) newest = Math.max(newest, (await stat(child)).mtimeMs);
    }
  };
  for (const folder of ['src', 'protocol']) await visit(path.join(ROOT, folder));
  return newest;
}

export interface BuiltServer {
  readonly process: ChildProcess;
  readonly pid: number;
  readonly record: DiscoveryRecord;
  /** What a client needs: URL, token and the certificate to trust. */
  readonly url: string;
  readonly token: string;
  readonly caPem: string;
  /** Everything the server wrote on stderr (its JSON log lines). */
  stderr(): string;
  /** Resident set size of the server process, in bytes (Linux: /proc; elsewhere ps). */
  rssBytes(): Promise<number>;
  /** SIGKILL: no cleanup of any kind, like a crash or a power cut for the process. */
  kill9(): Promise<void>;
  /** SIGTERM and wait for a clean exit. */
  stop(): Promise<void>;
}

export interface BuiltServerOptions {
  readonly dataDir: string;
  /** Extra CLI arguments after `serve --port 0 --data-dir D`. */
  readonly args?: readonly string[];
  /** Extra environment (CLOUDLOCKER_* settings). */
  readonly env?: Readonly<Record<string, string>>;
  /** Default: a fresh random token passed in CLOUDLOCKER_TOKEN. */
  readonly token?: string;
}

export async function startBuiltServer(options: BuiltServerOptions): Promise<BuiltServer> {
  const token = options.token ?? randomBytes(32).toString('base64url');
  const env: Record<string, string> = {};
  for (const [name, value] of Object.entries(process.env)) if (!name.startsWith('CLOUDLOCKER_') && value !== undefined) env[name] = value;
  const child = spawn(
    process.execPath,
    [CLI, 'serve', '--port', '0', '--data-dir', options.dataDir, '--log-level', 'warn', ...(options.args ?? [])],
    { cwd: ROOT, env: { ...env, CLOUDLOCKER_TOKEN: token, ...options.env }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const pid = child.pid as number;
  const discovery = path.join(options.dataDir, 'server.json');
  const deadline = Date.now() + 30_000;
  let record: DiscoveryRecord | undefined;
  // A server killed earlier leaves its server.json: wait for the one that names this process.
  while (record === undefined) {
    if (child.exitCode !== null) throw new Error(`the server exited (${child.exitCode}).\nstdout:\n${stdout}\nstderr:\n${stderr}`);
    if (Date.now() > deadline) throw new Error(`no server.json for pid ${pid}.\nstdout:\n${stdout}\nstderr:\n${stderr}`);
    try {
      const candidate = JSON.parse(await readFile(discovery, 'utf8')) as DiscoveryRecord;
      if (candidate.pid === pid && /listening on/.test(stdout)) record = candidate;
    } catch {
      // not there yet, or half-written by the atomic rename
    }
    if (record === undefined) await new Promise((resolve) => setTimeout(resolve, 50));
  }
  const caPem = readFileSync(record.certificate.path, 'utf8');
  return {
    process: child,
    pid,
    record,
    url: record.url,
    token,
    caPem,
    stderr: () => stderr,
    rssBytes: () => rssOf(pid),
    kill9: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    },
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}

async function rssOf(pid: number): Promise<number> {
  if (process.platform === 'linux') {
    const status = await readFile(`/proc/${pid}/status`, 'utf8');
    const kib = /^VmRSS:\s+(\d+) kB/m.exec(status)?.[1];
    if (kib === undefined) throw new Error('no VmRSS');
    return Number(kib) * 1024;
  }
  const { stdout } = await promisify(execFile)('ps', ['-o', 'rss=', '-p', String(pid)]);
  return Number(stdout.trim()) * 1024;
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
