/**
 * The cloudlocker service in an Electron utility process: the bundle
 * (`npm run bundle` in cloudlocker: one ESM file, no node_modules) run as
 * `serve`, with a token this app chose and a data directory of its own.
 */
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { app, utilityProcess, type UtilityProcess } from 'electron';

export interface Service {
  readonly url: string;
  readonly token: string;
  readonly spkiSha256: string;
  readonly process: UtilityProcess;
}

/** Exit code of `cloudlocker serve` when another server already runs on the data directory. */
const EXIT_DATA_DIR_IN_USE = 7;

// [bundle-path]
/**
 * Where the bundle is: copied next to the app's code by the build (dist/cloudlocker/), and
 * unpacked from the asar archive when packaged (asarUnpack in package.json), so the utility
 * process is started from a plain file on disk.
 */
function bundleEntry(): string {
  const inAppCode = path.join(app.getAppPath(), 'dist', 'cloudlocker', 'cloudlocker.mjs');
  return inAppCode.replace(`${path.sep}app.asar${path.sep}`, `${path.sep}app.asar.unpacked${path.sep}`);
}
// [/bundle-path]

// [start-service]
export async function startService(): Promise<Service> {
  const token = randomBytes(32).toString('base64url'); // ≥ 128 bits, as the service requires
  const dataDir = path.join(app.getPath('userData'), 'cloudlocker');
  const child = utilityProcess.fork(
    bundleEntry(),
    ['serve', '--port', '0', '--data-dir', dataDir, '--allow-origin', 'app://cloudlocker', '--log-format', 'json'],
    // The token goes in the environment: command lines are visible to every user in `ps`.
    // UV_THREADPOOL_SIZE: more threads for file-system calls than libuv's 4 (folders of small files); the user's own value, if set, wins.
    { env: { ...process.env, UV_THREADPOOL_SIZE: process.env['UV_THREADPOOL_SIZE'] || '16', CLOUDLOCKER_TOKEN: token }, stdio: 'pipe', serviceName: 'cloudlocker' },
  );
  await listening(child);
  // server.json is in place once the service says it listens. Check it is this child's:
  // a file left by a crashed run is never mistaken for the live service.
  const record = JSON.parse(await readFile(path.join(dataDir, 'server.json'), 'utf8')) as {
    url: string;
    pid: number;
    token: string;
    certificate: { spkiSha256: string };
  };
  if (record.token !== token || record.pid !== child.pid) throw new Error('server.json does not describe the service this app started');
  return { url: record.url, token, spkiSha256: record.certificate.spkiSha256, process: child };
}
// [/start-service]

/** Resolves when the child prints that it listens; rejects when it exits first (exit 7: the data directory is in use). */
function listening(child: UtilityProcess): Promise<void> {
  return new Promise((resolve, reject) => {
    let output = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      output += chunk.toString('utf8');
      if (output.includes('cloudlocker listening on wss://')) resolve();
    });
    // The service's log lines (JSON, never a secret): into the app's own log.
    child.stderr?.on('data', (chunk: Buffer) => process.stderr.write(chunk));
    child.once('exit', (code) => {
      reject(new Error(code === EXIT_DATA_DIR_IN_USE ? 'Another copy of the service is using this data directory.' : `The service exited (code ${code}).`));
    });
  });
}

// [stop-service]
/** SIGTERM on macOS and Linux: a clean shutdown, server.json and the lock removed. */
export function stopService(service: Service): Promise<void> {
  return new Promise((resolve) => {
    service.process.once('exit', () => resolve());
    if (!service.process.kill()) resolve();
  });
}
// [/stop-service]
