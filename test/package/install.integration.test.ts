/**
 * The package as an app installs it: `npm pack`, then `npm install` of the
 * tarball into an empty project (from npm's cache: CI's `npm ci` has filled
 * it). Checks what the tarball holds, that the AWS SDK is not installed with
 * it, and that `exports` resolve as documented for Node, for browsers and for
 * TypeScript with moduleResolution nodenext and bundler (the latter picked
 * the browser client's types for `cloudlocker/client`; a Node process now
 * imports `cloudlocker/client/node`).
 */
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { build } from 'esbuild';
import { jest } from '@jest/globals';

jest.setTimeout(300_000);
const exec = promisify(execFile);
const root = process.cwd();
const tsc = path.join(root, 'node_modules', 'typescript', 'bin', 'tsc');

let work: string;
let project: string;
let packedFiles: string[];

beforeAll(async () => {
  work = await mkdtemp(path.join(tmpdir(), 'cloudlocker-pack-'));
  // What `npm pack` runs first (prepack): the build and the bundle.
  await exec('npm', ['run', 'bundle', '--silent'], { cwd: root });
  const { stdout } = await exec('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', work], { cwd: root });
  const [packed] = JSON.parse(stdout) as Array<{ filename: string; files: Array<{ path: string }> }>;
  packedFiles = packed!.files.map((file) => file.path);
  project = path.join(work, 'app');
  await mkdir(project);
  await writeFile(path.join(project, 'package.json'), JSON.stringify({ name: 'consumer', version: '1.0.0', type: 'module', private: true }));
  await exec('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', path.join(work, packed!.filename)], { cwd: project });
});

afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

it('the tarball holds the build, the bundle and the docs; no sources, tests, maps or build tools', () => {
  expect(packedFiles).toEqual(expect.arrayContaining(['package.json', 'README.md', 'dist/src/index.js', 'dist/src/index.d.ts', 'dist/src/cli/main.js', 'dist/src/cli/launcher.cjs', 'dist/bundle/cloudlocker.mjs', 'dist/bundle/cloudlocker-main.js', 'docs/electron.md']));
  for (const file of packedFiles) expect(file).not.toMatch(/^(src|test|tools|dist\/tools|dist\/test)\/|\.map$|\.pem$|\.key\.json$/);
});

it('installs without the AWS SDK (an optional peer dependency)', async () => {
  await expect(stat(path.join(project, 'node_modules', '@aws-sdk'))).rejects.toMatchObject({ code: 'ENOENT' });
  expect(await readdir(path.join(project, 'node_modules', 'cloudlocker', 'dist', 'bundle'))).toContain('cloudlocker.mjs');
});

async function nodeEval(code: string, conditions: string[] = []): Promise<string> {
  const { stdout } = await exec(process.execPath, [...conditions.map((condition) => `--conditions=${condition}`), '--input-type=module', '-e', code], { cwd: project });
  return stdout.trim();
}

it('Node resolves ".", "./client" (the Node client), "./client/node", "./protocol" and "./bundle"; internal files are not exported', async () => {
  expect(await nodeEval("const m = await import('cloudlocker'); console.log(typeof m.startCloudlocker, typeof m.DataDirInUseError)")).toBe('function function');
  expect(await nodeEval("const c = await import('cloudlocker/client'); console.log(typeof c.connect, typeof c.discover)")).toBe('function function');
  expect(await nodeEval("const c = await import('cloudlocker/client/node'); console.log(typeof c.discover)")).toBe('function');
  expect(await nodeEval("const p = await import('cloudlocker/protocol'); console.log(Array.isArray(p.METHODS))")).toBe('true');
  expect(await nodeEval("console.log(import.meta.resolve('cloudlocker/bundle'))")).toMatch(/node_modules\/cloudlocker\/dist\/bundle\/cloudlocker\.mjs$/);
  await expect(nodeEval("await import('cloudlocker/dist/src/errors.js')")).rejects.toThrow(/ERR_PACKAGE_PATH_NOT_EXPORTED/);
  // The bundle runs from node_modules with plain node.
  const { stdout } = await exec(process.execPath, [path.join(project, 'node_modules', 'cloudlocker', 'dist', 'bundle', 'cloudlocker.mjs'), '--version']);
  expect(stdout.trim()).toMatch(/^\d+\.\d+\.\d+/);
});

it('the browser condition picks the browser client', async () => {
  expect(await nodeEval("const c = await import('cloudlocker/client'); console.log(typeof c.connect, 'discover' in c)", ['browser'])).toBe('function false');
});

it('a bundler building for the browser gets the browser client, with no Node built-ins', async () => {
  await writeFile(path.join(project, 'renderer.js'), "import { connect } from 'cloudlocker/client';\nexport const start = (endpoint) => connect({ endpoint });\n");
  const result = await build({ entryPoints: [path.join(project, 'renderer.js')], bundle: true, platform: 'browser', format: 'esm', write: false, absWorkingDir: project, logLevel: 'silent' });
  expect(result.errors).toEqual([]);
  expect(result.outputFiles[0]!.text).not.toMatch(/from ?"node:|require\("node:/);
});

describe('TypeScript', () => {
  const consumer = [
    "import { startCloudlocker, DataDirInUseError } from 'cloudlocker';",
    "import { connect as connectNode } from 'cloudlocker/client/node';",
    "import { connect as connectBrowser } from 'cloudlocker/client/browser';",
    "import type { CloudlockerClient } from 'cloudlocker/client';",
    'export async function main(): Promise<CloudlockerClient> {',
    "  const server = await startCloudlocker({ dataDir: '/tmp/x', port: 0 });",
    "  if (server.port < 0) throw new DataDirInUseError('a', 'b', 1);",
    "  void connectBrowser({ endpoint: () => ({ url: server.url, token: server.token }) });",
    "  return connectNode({ dataDir: '/tmp/x' });",
    '}',
    '',
  ].join('\n');

  it.each([
    ['nodenext', { module: 'NodeNext', moduleResolution: 'NodeNext' }],
    ['bundler', { module: 'ESNext', moduleResolution: 'Bundler' }],
  ])('type-checks against the installed package with moduleResolution %s', async (name, options) => {
    const dir = path.join(project, `ts-${name}`);
    await mkdir(dir, { recursive: true });
    await writeFile(path.join(dir, 'main.ts'), consumer);
    await writeFile(
      path.join(dir, 'tsconfig.json'),
      JSON.stringify({ compilerOptions: { ...options, target: 'ES2022', strict: true, noEmit: true, skipLibCheck: true, lib: ['ES2022', 'DOM'], types: [] }, files: ['main.ts'] }),
    );
    await expect(exec(process.execPath, [tsc, '-p', dir], { cwd: dir })).resolves.toBeDefined();
  });
});
