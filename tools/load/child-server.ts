/**
 * The server as users run it, in a child process: the built CLI
 * (`node dist/src/cli/main.js serve --port 0 --data-dir D`), found through
 * the server.json it writes, with its resident memory readable from outside.
 * Used by the load tool and by the fault tests (which kill it).
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { LoadTarget } from './rpc-connection.js';

/** The repository root: the nearest folder above this file with cloudlocker's package.json (from tools/ or dist/tools/). */
export function repositoryRoot(): string {
  let directory = path.dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const manifest = path.join(directory, 'package.json');
    if (existsSync(manifest) && (JSON.parse(readFileSync(manifest, 'utf8')) as { name?: unknown }).name === 'cloudlocker') return directory;
    const parent = path.dirname(directory);
    if (parent === directory) throw new Error('cannot find the cloudlocker repository root');
    directory = parent;
  }
}

export function builtCliPath(): string {
  return path.join(repositoryRoot(), 'dist', 'src', 'cli', 'main.js');
}

/** What server.json holds (the fields used here). */
export interface DiscoveryFields {
  readonly url: string;
  readonly port: number;
  readonly pid: number;
  readonly certificate: { readonly path: string };
}

export interface ChildServer extends LoadTarget {
  readonly process: ChildProcess;
  readonly pid: number;
  readonly record: DiscoveryFields;
  /** Everything the server wrote on stderr (its JSON log lines). */
  stderr(): string;
  /** Resident set size of the server process, in bytes (Linux: /proc; elsewhere ps). */
  rssBytes(): Promise<number>;
  /** SIGKILL: no cleanup of any kind, like a crash. */
  kill9(): Promise<void>;
  /** SIGTERM and wait for the process to exit. */
  stop(): Promise<void>;
}

export interface ChildServerOptions {
  readonly dataDir: string;
  /** More CLI arguments after `serve --port 0 --data-dir D --log-level warn`. */
  readonly args?: readonly string[];
  /** More environment (CLOUDLOCKER_* settings); the caller's own CLOUDLOCKER_* variables are not passed on. */
  readonly env?: Readonly<Record<string, string>>;
  /** Default: a fresh random token, passed in CLOUDLOCKER_TOKEN. */
  readonly token?: string;
  /** Give up waiting for server.json after this long. Default 30 s. */
  readonly startTimeoutMs?: number;
}

export async function startChildServer(options: ChildServerOptions): Promise<ChildServer> {
  const token = options.token ?? randomBytes(32).toString('base64url');
  const env: Record<string, string> = {};
  for (const [name, value] of Object.entries(process.env)) if (!name.startsWith('CLOUDLOCKER_') && value !== undefined) env[name] = value;
  const child = spawn(
    process.execPath,
    [builtCliPath(), 'serve', '--port', '0', '--data-dir', options.dataDir, '--log-level', 'warn', ...(options.args ?? [])],
    { cwd: repositoryRoot(), env: { ...env, CLOUDLOCKER_TOKEN: token, ...options.env }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const pid = child.pid as number;
  const discovery = path.join(options.dataDir, 'server.json');
  const deadline = Date.now() + (options.startTimeoutMs ?? 30_000);
  let record: DiscoveryFields | undefined;
  // A server killed earlier leaves its server.json behind: wait for the one that names this process.
  while (record === undefined) {
    if (child.exitCode !== null) throw new Error(`the server exited (${child.exitCode}).\nstdout:\n${stdout}\nstderr:\n${stderr}`);
    if (Date.now() > deadline) throw new Error(`no server.json for pid ${pid}.\nstdout:\n${stdout}\nstderr:\n${stderr}`);
    try {
      const candidate = JSON.parse(await readFile(discovery, 'utf8')) as DiscoveryFields;
      if (candidate.pid === pid && /listening on/.test(stdout)) record = candidate;
    } catch {
      // not there yet
    }
    if (record === undefined) await new Promise((resolve) => setTimeout(resolve, 50));
  }
  const caPem = readFileSync(record.certificate.path, 'utf8');
  const running = () => child.exitCode === null && child.signalCode === null;
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
      if (running()) child.kill('SIGKILL');
      await exited;
    },
    stop: async () => {
      if (running()) child.kill('SIGTERM');
      await exited;
    },
  };
}

export async function rssOf(pid: number): Promise<number> {
  if (process.platform === 'linux') {
    const status = await readFile(`/proc/${pid}/status`, 'utf8');
    const kib = /^VmRSS:\s+(\d+) kB/m.exec(status)?.[1];
    if (kib === undefined) throw new Error('no VmRSS in /proc/<pid>/status');
    return Number(kib) * 1024;
  }
  const { stdout } = await promisify(execFile)('ps', ['-o', 'rss=', '-p', String(pid)]);
  return Number(stdout.trim()) * 1024;
}
