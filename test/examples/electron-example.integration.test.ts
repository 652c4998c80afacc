/**
 * The Electron example's main process (examples/electron/src/main.ts), run
 * under plain node with `electron` replaced by a recording stub
 * (electron-stub.ts), because no Electron binary can be had on this machine
 * (docs/electron.md, "What has been run"). The service it starts is the real
 * bundle, as the app ships it (app/dist/cloudlocker/), and the checks on it
 * are real: it serves the token the app chose, the pin accepts its
 * certificate and refuses others, quitting stops it and removes server.json.
 * What this cannot show is Electron's side: utilityProcess, the session's
 * verify proc being called by Chromium, the sandboxed preload, the window.
 */
import { spawn } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { bundle } from '../../tools/bundle.js';

import { jest } from '@jest/globals';

jest.setTimeout(120_000);

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..', '..');
const example = path.join(root, 'examples', 'electron');
const stubPath = path.join(here, 'electron-stub.ts');

let work: string;
let appPath: string;
let bundleEntry: string;
let mainBuilt: string;
let mainInProcessBuilt: string;
let driverBuilt: string;

interface Report {
  outcome: string;
  calls: Array<{ name: string; args: unknown[] }>;
  [key: string]: unknown;
}

/** esbuild, as tools/bundle.ts does it for node: ESM with a require() for CommonJS dependencies. */
async function buildForNode(entry: string, outfile: string): Promise<void> {
  await build({
    entryPoints: [entry],
    outfile,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    // 'cloudlocker' (main-in-process.ts) is this repository's own entry, src/index.ts.
    alias: { electron: stubPath, cloudlocker: path.join(root, 'src', 'index.ts'), '@peculiar/x509': '@peculiar/x509/build/x509.es.js' },
    external: ['bufferutil', 'utf-8-validate'],
    banner: { js: "import { createRequire as __stubRequire } from 'node:module'; const require = __stubRequire(import.meta.url);" },
    logLevel: 'warning',
  });
}

function cleanEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('CLOUDLOCKER_') && name !== 'NODE_OPTIONS'));
  return { ...env, ...extra };
}

function runApp(userData: string, extra: Record<string, string> = {}, main = mainBuilt): Promise<{ code: number | null; report: Report; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [driverBuilt], {
      env: cleanEnv({ STUB_MAIN: main, STUB_APP_PATH: appPath, STUB_USER_DATA: userData, ...extra }),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    const timer = setTimeout(() => child.kill('SIGKILL'), 90_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      const line = stdout.split('\n').find((text) => text.startsWith('REPORT '));
      if (line === undefined) {
        reject(new Error(`no report (exit ${code}).\nstdout:\n${stdout}\nstderr:\n${stderr}`));
        return;
      }
      resolve({ code, report: JSON.parse(line.slice('REPORT '.length)) as Report, stderr });
    });
  });
}

function callNames(report: Report): string[] {
  return report.calls.map((call) => call.name);
}

beforeAll(async () => {
  work = await mkdtemp(path.join(tmpdir(), 'cloudlocker-electron-example-'));
  // The app's layout after its build: dist/main.js, dist/renderer/, dist/cloudlocker/ (the bundle).
  appPath = path.join(work, 'app');
  bundleEntry = (await bundle(path.join(appPath, 'dist', 'cloudlocker'))).entry;
  await mkdir(path.join(appPath, 'dist', 'renderer'), { recursive: true });
  await copyFile(path.join(example, 'src', 'renderer', 'index.html'), path.join(appPath, 'dist', 'renderer', 'index.html'));
  mainBuilt = path.join(work, 'main.mjs');
  driverBuilt = path.join(work, 'driver.mjs');
  await buildForNode(path.join(example, 'src', 'main.ts'), mainBuilt);
  mainInProcessBuilt = path.join(work, 'main-in-process.mjs');
  await buildForNode(path.join(example, 'src', 'main-in-process.ts'), mainInProcessBuilt);
  await buildForNode(path.join(here, 'electron-main-driver.ts'), driverBuilt);
});

afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

it('starts the bundle in a utility process, pins its key, gives url and token to the app page only, and stops it at quit', async () => {
  const { code, report, stderr } = await runApp(path.join(work, 'user-data-1'));
  if (code !== 0) throw new Error(`the app exited with ${code}:\n${stderr}`);
  expect(report.outcome).toBe('window');

  const names = callNames(report);
  expect(names.slice(0, 1)).toEqual(['app.requestSingleInstanceLock']);
  // The pin is set before the window (and its page) exists.
  expect(names.indexOf('utilityProcess.fork')).toBeLessThan(names.indexOf('session.setCertificateVerifyProc'));
  expect(names.indexOf('session.setCertificateVerifyProc')).toBeLessThan(names.indexOf('new BrowserWindow'));

  const fork = report.calls.find((call) => call.name === 'utilityProcess.fork')!;
  const [modulePath, args, options] = fork.args as [string, string[], { envNames: string[]; stdio: string; serviceName: string }];
  expect(modulePath).toBe(bundleEntry);
  expect(args).toEqual(['serve', '--port', '0', '--data-dir', path.join(work, 'user-data-1', 'cloudlocker'), '--allow-origin', 'app://cloudlocker', '--log-format', 'json']);
  // The token travels in the environment, never on the command line.
  expect(options.envNames).toContain('CLOUDLOCKER_TOKEN');
  expect(options).toMatchObject({ stdio: 'pipe', serviceName: 'cloudlocker' });

  const window = report.calls.find((call) => call.name === 'new BrowserWindow')!.args[0] as { webPreferences: Record<string, unknown> };
  expect(window.webPreferences).toMatchObject({ contextIsolation: true, sandbox: true, nodeIntegration: false });
  expect(report.calls.find((call) => call.name === 'BrowserWindow.loadURL')!.args).toEqual(['app://cloudlocker/index.html']);

  expect(report['serverJsonWhileRunning']).toBe(true);
  expect(report['ipcFromAppPage']).toEqual({ url: expect.stringMatching(/^wss:\/\/127\.0\.0\.1:\d+\/rpc$/), tokenLength: 43 });
  expect(report['ipcFromOtherOrigin']).toEqual({ error: 'refused' });
  expect(report['ipcWithoutFrame']).toEqual({ error: 'refused' });

  expect(report['appIndex']).toEqual({ status: 200, text: expect.stringContaining('<') });
  expect(report['appOtherHost']).toMatchObject({ status: 404 });
  expect(report['appEscape']).not.toMatchObject({ status: 200 });

  // 0: trusted; -3: Chromium's own verification, which refuses a self-signed certificate.
  expect(report['pin']).toEqual({ serviceCertificate: 0, serviceCertificateOtherHost: -3, otherCertificateSameHost: -3 });
  expect(report['serverInfo']).toEqual({ version: expect.any(String), storage: 'local' });

  // Quit: held, the service stopped by SIGTERM (a clean exit), server.json gone, then app.exit(0).
  expect(report['quit']).toEqual({ appExitCode: 0, serviceExitCodes: [0], serverJsonAfter: false });
});

it('a second instance of the app quits before it starts anything', async () => {
  const { code, report } = await runApp(path.join(work, 'user-data-2'), { STUB_SINGLE_INSTANCE_LOCK: 'taken' });
  expect(code).toBe(0);
  expect(callNames(report)).toEqual(['app.requestSingleInstanceLock', 'app.quit']);
});

it('a service already serving the data directory: an error box saying so, and the app exits with 1', async () => {
  const userData = path.join(work, 'user-data-3');
  const dataDir = path.join(userData, 'cloudlocker');
  const other = spawn(process.execPath, [bundleEntry, 'serve', '--port', '0', '--data-dir', dataDir], { env: cleanEnv({}), stdio: ['ignore', 'pipe', 'pipe'] });
  try {
    let stdout = '';
    other.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
    const deadline = Date.now() + 60_000;
    while (!stdout.includes('listening on')) {
      if (Date.now() > deadline || other.exitCode !== null) throw new Error('the first service did not start');
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
    const { report } = await runApp(userData);
    expect(report.outcome).toBe('app.exit(1)');
    expect(report.calls.find((call) => call.name === 'dialog.showErrorBox')?.args).toEqual([
      'cloudlocker could not start',
      'Another copy of the service is using this data directory.',
    ]);
    expect(callNames(report)).not.toContain('new BrowserWindow');
  } finally {
    const exited = new Promise((resolve) => other.once('exit', resolve));
    other.kill('SIGTERM');
    await exited;
  }
});

it('the in-process variant (main-in-process.ts): startCloudlocker in the main process, pinned, closed at quit', async () => {
  const { code, report, stderr } = await runApp(path.join(work, 'user-data-4'), { STUB_VARIANT: 'in-process' }, mainInProcessBuilt);
  if (code !== 0) throw new Error(`the app exited with ${code}:\n${stderr}`);
  expect(report.outcome).toBe('pinned');
  expect(callNames(report)).not.toContain('utilityProcess.fork');
  expect(report['serverJsonWhileRunning']).toBe(true);
  expect(report['pin']).toEqual({ serviceCertificate: 0, serviceCertificateOtherHost: -3, otherCertificateSameHost: -3 });
  expect(report['serverInfo']).toEqual({ version: expect.any(String), storage: 'local' });
  expect(report['quit']).toEqual({ appExitCode: 0, serviceExitCodes: [], serverJsonAfter: false });
});

