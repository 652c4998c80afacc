/**
 * cloudlocker as users run it: `node dist/src/cli/launcher.cjs serve --port 0
 * --data-dir D` (main.js for a build without the launcher) in a process of its own, with the token in CLOUDLOCKER_TOKEN.
 * Where it listens and which certificate it presents come from server.json.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createWriteStream, existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { killOnExit } from './children.js';
import { RssSampler } from './rss-sampler.js';

/** The repository root: the nearest folder above this file that holds package.json. */
export function repoRoot(): string {
  let directory = path.dirname(fileURLToPath(import.meta.url));
  while (!existsSync(path.join(directory, 'package.json'))) {
    const parent = path.dirname(directory);
    if (parent === directory) throw new Error('cannot find the repository root (package.json)');
    directory = parent;
  }
  return directory;
}

export interface ServerProcessOptions {
  readonly dataDir: string;
  /**
   * A directory holding another build of cloudlocker (its dist/ and a
   * package.json; node_modules may be a link to this checkout's), to measure
   * before/after a change in the same run. Default: this checkout.
   */
  readonly build?: string;
  /** More `serve` flags (e.g. --storage s3 ...). */
  readonly serveArgs?: readonly string[];
  /** Node flags before the script (e.g. --cpu-prof --cpu-prof-dir DIR). */
  readonly nodeArgs?: readonly string[];
  /** More environment variables (e.g. AWS_ACCESS_KEY_ID). */
  readonly env?: Readonly<Record<string, string>>;
  /** Where the server's stderr (JSON log lines) goes. Default <dataDir>/server.log. */
  readonly logFile?: string;
  /** Where the server's stdout goes after its start-up lines (e.g. --trace-gc output). Default <dataDir>/server.out. */
  readonly stdoutFile?: string;
}

export interface ServerProcess {
  readonly url: string;
  readonly token: string;
  readonly pid: number;
  /** PEM of the certificate the server presents (what clients trust). */
  readonly caPem: string;
  readonly certPath: string;
  readonly keyPath: string;
  readonly rss: RssSampler;
  /** SIGINT, as Ctrl+C would, and wait for the exit (a --cpu-prof profile is written then). */
  stop(): Promise<void>;
}

interface DiscoveryRecord {
  url: string;
  pid: number;
  certificate: { path: string };
}

export async function startServerProcess(options: ServerProcessOptions): Promise<ServerProcess> {
  const root = options.build === undefined ? repoRoot() : path.resolve(options.build);
  // The command as package.json's "bin" runs it: the launcher where the build has one (it sets libuv's
  // thread pool size before any module is read, src/cli/launcher.cts); an older build's main.js otherwise.
  const launcher = path.join(root, 'dist', 'src', 'cli', 'launcher.cjs');
  const main = existsSync(launcher) ? launcher : path.join(root, 'dist', 'src', 'cli', 'main.js');
  if (!existsSync(main)) throw new Error(`${main} is missing: run "npm run build" first`);
  const token = randomBytes(24).toString('base64url');
  const child = killOnExit(spawn(
    process.execPath,
    [...(options.nodeArgs ?? []), main, 'serve', '--port', '0', '--data-dir', options.dataDir, ...(options.serveArgs ?? [])],
    {
      cwd: root,
      env: { ...withoutCloudlockerVariables(process.env), ...options.env, CLOUDLOCKER_TOKEN: token },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  ));
  child.stderr.pipe(createWriteStream(options.logFile ?? path.join(options.dataDir, 'server.log')));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  await waitForListening(child);
  child.stdout.pipe(createWriteStream(options.stdoutFile ?? path.join(options.dataDir, 'server.out')));
  const record = JSON.parse(await readFile(path.join(options.dataDir, 'server.json'), 'utf8')) as DiscoveryRecord;
  const caPem = await readFile(record.certificate.path, 'utf8');
  const pid = child.pid as number;
  return {
    url: record.url,
    token,
    pid,
    caPem,
    certPath: record.certificate.path,
    // The generated key sits beside the certificate (see src/server/tls-certificate.ts).
    keyPath: path.join(path.dirname(record.certificate.path), 'key.pem'),
    rss: new RssSampler(pid),
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGINT');
      await exited;
    },
  };
}

/** A server.json or config from the caller's environment must not leak into the measured server. */
function withoutCloudlockerVariables(env: NodeJS.ProcessEnv): Record<string, string> {
  const clean: Record<string, string> = {};
  for (const [name, value] of Object.entries(env)) {
    if (value !== undefined && !name.startsWith('CLOUDLOCKER_')) clean[name] = value;
  }
  return clean;
}

function waitForListening(child: ChildProcess): Promise<void> {
  return new Promise((resolve, reject) => {
    let stdout = '';
    const timer = setTimeout(() => fail(new Error(`the server did not start within 30 s; it printed:\n${stdout}`)), 30_000);
    const onExit = (code: number | null) => fail(new Error(`the server exited with ${code}; it printed:\n${stdout}`));
    const fail = (err: Error) => {
      clearTimeout(timer);
      child.kill('SIGKILL');
      reject(err);
    };
    const onData = (chunk: Buffer) => {
      stdout += chunk.toString('utf8');
      // server.json is written before this line is printed.
      if (/listening on wss:\/\//.test(stdout)) {
        clearTimeout(timer);
        child.stdout?.off('data', onData);
        child.off('exit', onExit);
        resolve();
      }
    };
    child.stdout?.on('data', onData);
    child.once('exit', onExit);
  });
}
