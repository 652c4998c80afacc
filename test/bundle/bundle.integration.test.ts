/**
 * The self-contained bundle (npm run bundle) as an Electron app ships it:
 * built into an empty temporary directory (no node_modules anywhere above
 * it), run with plain `node` as `serve` and as the CLI, and driven over wss
 * by the Node client: the acceptance path end to end (discovery, getServerInfo,
 * upload with a new key, listFiles, download, byte-exact content, transfers).
 * Also the one-server-per-data-directory rule across processes: a second
 * `serve` is refused (exit 7) and leaves the first's server.json alone; after
 * kill -9 the next `serve` takes the stale lock over at once. A local-only
 * start runs with the S3 chunks deleted (it neither loads nor needs the AWS
 * SDK); an S3 start loads them (against s3rver). The entry runs the main
 * file through a V8 code cache kept in the data directory: a start without
 * one writes it, and no state of that file (corrupt, truncated, another
 * script's) keeps a start from succeeding.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import vm from 'node:vm';
import { connect } from '../../src/client/node.js';
import { readDiscoveryFile } from '../../src/server/index.js';
import { CODE_CACHE_DIRECTORY, CODE_CACHE_MAGIC, encodeCodeCache } from '../../src/cli/code-cache.js';
import { bundle, type BundleResult } from '../../tools/bundle.js';
import { startS3rver, TEST_BUCKET, S3RVER_CREDENTIALS, type RunningS3rver } from '../helpers/s3rver.js';

import { jest } from '@jest/globals';

jest.setTimeout(120_000);

let work: string;
let built: BundleResult;
/** A copy of the bundle without the chunks that hold the AWS SDK. */
let localOnly: string;

interface Run {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('CLOUDLOCKER_') && !name.startsWith('AWS_') && name !== 'NODE_OPTIONS' && name !== 'NODE_PATH'));
  return { ...env, ...extra };
}

function run(entry: string, args: string[], options: { cwd?: string; env?: Record<string, string>; input?: string } = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [entry, ...args], { cwd: options.cwd ?? path.dirname(entry), env: cleanEnv(options.env), stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(options.input ?? '');
  });
}

interface Served {
  readonly child: ChildProcess;
  readonly output: () => { stdout: string; stderr: string };
  readonly exited: Promise<number | null>;
}

/** `serve` from the bundle, resolved once it prints that it listens. */
async function serve(entry: string, dataDir: string, extra: string[] = [], env: Record<string, string> = {}): Promise<Served> {
  const child = spawn(process.execPath, [entry, 'serve', '--port', '0', '--data-dir', dataDir, ...extra], { cwd: path.dirname(entry), env: cleanEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const deadline = Date.now() + 60_000;
  while (!stdout.includes('listening on wss://')) {
    if (child.exitCode !== null || Date.now() > deadline) throw new Error(`serve did not start.\nstdout:\n${stdout}\nstderr:\n${stderr}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  return { child, output: () => ({ stdout, stderr }), exited };
}

beforeAll(async () => {
  work = await mkdtemp(path.join(tmpdir(), 'cloudlocker-bundle-'));
  built = await bundle(path.join(work, 'app'));
  // The same bundle without the AWS SDK's chunks: what a local-only start must do without.
  localOnly = path.join(work, 'local-only');
  const local = await bundle(localOnly);
  for (const file of local.files) {
    if ((await readFile(file, 'utf8')).includes('S3Client')) await rm(file);
  }
});

afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

it('is one entry file, its main file and a few chunks; the AWS SDK lives only in chunks loaded lazily', async () => {
  const files = built.files;
  expect(files).toContain(built.entry);
  expect(files).toContain(built.main);
  expect(files.length).toBeLessThanOrEqual(10);
  const entryText = await readFile(built.entry, 'utf8');
  expect(entryText.startsWith('#!/usr/bin/env node')).toBe(true);
  const mainText = await readFile(built.main, 'utf8');
  expect(mainText.startsWith('(function (exports, require, module, __cloudlockerEntryUrl, __cloudlockerImport) {')).toBe(true);
  for (const text of [entryText, mainText]) expect(text).not.toContain('S3Client');
  // What the entry loads for the main file at every start (the shared chunks) holds no AWS SDK code either.
  const staticImports = [...entryText.matchAll(/"(\.\/chunks\/[^"]+)"/g)].map((match) => path.join(built.outdir, match[1]!));
  expect(staticImports.length).toBeGreaterThan(0);
  for (const chunk of staticImports) expect(await readFile(chunk, 'utf8')).not.toContain('S3Client');
  expect((await readdir(localOnly, { recursive: true })).some((file) => String(file).includes('s3-'))).toBe(false);
});

it("holds no Ajv compiler anywhere: schemas were compiled at build time (tools/gen-validators.ts), only Ajv's small runtime helpers are in", () => {
  const inputs = Object.values(built.metafile.outputs).flatMap((output) => Object.keys(output.inputs));
  const ajvFiles = inputs.filter((file) => file.includes('node_modules/ajv'));
  expect(ajvFiles.length).toBeGreaterThan(0);
  for (const file of ajvFiles) expect(file).toMatch(/node_modules\/ajv(-formats)?\/dist\/(runtime\/|formats\.js$)/);
});

it('a local serve reaches "listening" without loading zlib, worker_threads, assert, Web Crypto or readline (tools/bundle.ts: lazy built-ins for ws, pino and sonic-boom, built-ins by require), and loads every built-in it needs with Node\'s own code cache', async () => {
  // A preload that, once the server says it listens, reports which of Node's built-in modules were loaded.
  const preload = path.join(work, 'report-builtins.mjs');
  await writeFile(
    preload,
    "const write = process.stdout.write.bind(process.stdout);\n" +
      "process.stdout.write = (chunk, ...rest) => { const result = write(chunk, ...rest); if (String(chunk).includes('listening on')) process.stderr.write('BUILTINS ' + JSON.stringify(process.moduleLoadList) + '\\n'); return result; };\n",
  );
  const dataDir = path.join(work, 'data-builtins');
  // The certificate made by an earlier start, as at every start but the first (making one loads @peculiar/x509, which uses Web Crypto).
  const first = await serve(built.entry, dataDir);
  first.child.kill('SIGTERM');
  await first.exited;
  // NODE_DEBUG_NATIVE=CODE_CACHE: Node says, on stderr, whether V8 took its own code cache for each built-in it loads.
  const child = spawn(process.execPath, ['--import', pathToFileURL(preload).href, built.entry, 'serve', '--port', '0', '--data-dir', dataDir], { cwd: work, env: cleanEnv({ NODE_DEBUG_NATIVE: 'CODE_CACHE' }), stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
  const exited = new Promise((resolve) => child.on('exit', resolve));
  try {
    const deadline = Date.now() + 60_000;
    while (!stderr.includes('BUILTINS ')) {
      if (child.exitCode !== null || Date.now() > deadline) throw new Error(`serve did not start.\nstderr:\n${stderr}`);
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
  } finally {
    child.kill('SIGTERM');
    await exited;
  }
  const loaded = JSON.parse(/BUILTINS (.*)/.exec(stderr)![1]!) as string[];
  expect(loaded).toContain('NativeModule https');
  expect(loaded.filter((name) => name === 'NativeModule zlib' || name === 'NativeModule worker_threads' || name === 'NativeModule assert')).toEqual([]);
  // Nor what an ES import of a built-in drags in through its namespace's getters (tools/bundle.ts: built-ins by
  // require): Web Crypto (crypto.webcrypto), util.parseArgs; nor readline (the CLI loads it when it reads a line).
  const notNeeded = ['NativeModule internal/crypto/webcrypto', 'NativeModule internal/util/parse_args/parse_args', 'NativeModule readline'];
  expect(loaded.filter((name) => notNeeded.includes(name))).toEqual([]);
  expect(loaded).toContain('NativeModule crypto');
  // Because of the stand-ins, not because the dependencies stopped asking for them.
  const mainText = await readFile(built.main, 'utf8');
  expect(mainText).toContain('cloudlocker-lazy-builtin:zlib');
  expect(mainText).toContain('cloudlocker-lazy-builtin:worker_threads');
  expect(mainText).toContain('cloudlocker-lazy-builtin:assert');

  // Every built-in loaded before "listening" was loaded with Node's own code cache, not compiled from its
  // source: the entry loads them before the command sets its V8 flag (tools/bundle-startup-builtins.ts), which
  // makes V8 refuse Node's cache for any built-in loaded after it. (internal/fs/rimraf is loaded by Node itself,
  // inside fs.rm, and cannot be required by name: the one left.)
  const beforeListening = stderr.slice(0, stderr.indexOf('BUILTINS '));
  expect(beforeListening).toMatch(/Code cache of https .*is accepted/);
  expect(beforeListening).toMatch(/Code cache of cluster .*is accepted/);
  const rejected = [...beforeListening.matchAll(/Code cache of (\S+) .*is rejected/g)].map((match) => match[1]);
  expect(rejected.filter((name) => name !== 'internal/fs/rimraf')).toEqual([]);
});

it('a local serve reaches "listening" without evaluating the age libraries (tools/bundle.ts: lazy age libraries); a post-quantum round trip then loads and uses them', async () => {
  // A preload that watches two module evaluations, reported when the server says it listens and again when it
  // exits: the ed25519 field prime being built (@noble/curves does it when its ed25519 module is evaluated;
  // age-encryption and @noble/post-quantum/hybrid.js load it), and ML-KEM's modulus q = 3329 made a BigInt (@noble/post-quantum's ml-kem.js
  // computes its NTT zetas with it when evaluated: src/crypto/age/hybrid-kem.ts loads it, and it does not load
  // @noble/curves, so the first watch alone would not see it loaded at start).
  const preload = path.join(work, 'report-age-libraries.mjs');
  await writeFile(
    preload,
    'let seen = false;\n' +
      'let mlKemSeen = false;\n' +
      "globalThis.BigInt = new Proxy(globalThis.BigInt, { apply(target, self, args) { if (args[0] === '0x7fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffed') seen = true; if (args[0] === 3329) mlKemSeen = true; return Reflect.apply(target, self, args); } });\n" +
      'const write = process.stdout.write.bind(process.stdout);\n' +
      "process.stdout.write = (chunk, ...rest) => { const result = write(chunk, ...rest); if (String(chunk).includes('listening on')) process.stderr.write('ED25519 AT LISTENING ' + seen + ', ML-KEM AT LISTENING ' + mlKemSeen + '\\n'); return result; };\n" +
      "process.on('exit', () => process.stderr.write('ED25519 AT EXIT ' + seen + ', ML-KEM AT EXIT ' + mlKemSeen + '\\n'));\n",
  );
  const dataDir = path.join(work, 'data-lazy-age');
  const files = await mkdtemp(path.join(work, 'files-lazy-age-'));
  const content = randomBytes(200_000);
  await writeFile(path.join(files, 'plain.bin'), content);
  const child = spawn(process.execPath, ['--import', pathToFileURL(preload).href, built.entry, 'serve', '--port', '0', '--data-dir', dataDir], { cwd: work, env: cleanEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
  child.stdout.resume();
  const exited = new Promise((resolve) => child.on('exit', resolve));
  try {
    const deadline = Date.now() + 60_000;
    while (!stderr.includes('ED25519 AT LISTENING ')) {
      if (child.exitCode !== null || Date.now() > deadline) throw new Error(`serve did not start.\nstderr:\n${stderr}`);
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
    expect(stderr).toContain('ED25519 AT LISTENING false, ML-KEM AT LISTENING false');
    // A post-quantum (ML-KEM-768 + X25519) identity: the server wraps to it and unwraps with it, through the stand-ins.
    const cli = (args: string[]) => run(built.entry, [...args, '--data-dir', dataDir], { cwd: files });
    expect(await run(built.entry, ['keygen', '--type', 'mlkem768x25519', 'pq.key.json'], { cwd: files })).toMatchObject({ code: 0 });
    expect(await cli(['upload', 'plain.bin', '--key', 'pq.key.json', '--name', 'pq.bin'])).toMatchObject({ code: 0 });
    expect(await cli(['download', 'pq.bin', '--to', 'back.bin', '--key', 'pq.key.json'])).toMatchObject({ code: 0 });
    expect((await readFile(path.join(files, 'back.bin'))).equals(content)).toBe(true);
  } finally {
    child.kill('SIGTERM');
    await exited;
  }
  // The watch itself works: the libraries did load once a request needed them.
  expect(stderr).toContain('ED25519 AT EXIT true, ML-KEM AT EXIT true');
});

it('serves from an empty directory with plain node, and the CLI from the same file round-trips a file', async () => {
  const dataDir = path.join(work, 'data-acceptance');
  const files = await mkdtemp(path.join(work, 'files-'));
  const content = randomBytes(3 * 1024 * 1024 + 17);
  await writeFile(path.join(files, 'photo.bin'), content);
  const entry = path.join(localOnly, 'cloudlocker.mjs');
  const server = await serve(entry, dataDir);
  try {
    // The Node client, as an Electron main process would use it: everything from server.json.
    const client = await connect({ dataDir });
    try {
      const info = await client.request('getServerInfo', {});
      expect(info).toMatchObject({ storage: { kind: 'local' } });
      expect(info.version).toMatch(/^\d+\.\d+\.\d+/);
      const uploaded = await client.upload({ path: path.join(files, 'photo.bin'), keyPath: path.join(files, 'photo.key.json'), name: 'albums/photo.bin' });
      expect(uploaded).toMatchObject({ name: 'albums/photo.bin', size: content.length, keyCreated: true });
      expect((await client.request('listFiles', {})).files.map((file) => file.name)).toEqual(['albums/photo.bin']);
    } finally {
      await client.close();
    }
    // The CLI from the bundle: download what the client stored, then list and inspect.
    const cli = (args: string[]) => run(entry, [...args, '--data-dir', dataDir], { cwd: files });
    const down = await cli(['download', 'albums/photo.bin', '--to', 'copy.bin', '--key', 'photo.key.json']);
    expect(down).toMatchObject({ code: 0 });
    expect((await readFile(path.join(files, 'copy.bin'))).equals(content)).toBe(true);
    const up = await cli(['upload', 'copy.bin', '--new-key', 'second.key.json', '--name', 'albums/second.bin', '--json']);
    expect(up.code).toBe(0);
    expect(JSON.parse(up.stdout)).toMatchObject({ name: 'albums/second.bin', keyCreated: true });
    expect((await cli(['ls', '--json'])).stdout.trim().split('\n').map((line) => (JSON.parse(line) as { name: string }).name)).toEqual(['albums/photo.bin', 'albums/second.bin']);
    expect((await cli(['transfers'])).stdout).toMatch(/^ID +DIRECTION/);
    // JSON log lines when stderr is a pipe; the token never in them.
    const record = await readDiscoveryFile(dataDir);
    const { stderr } = server.output();
    expect(stderr.split('\n').filter(Boolean).every((line) => line.startsWith('{'))).toBe(true);
    expect(stderr).not.toContain(record!.token);
  } finally {
    server.child.kill('SIGTERM');
    expect(await server.exited).toBe(0);
  }
  await expect(stat(path.join(dataDir, 'server.json'))).rejects.toMatchObject({ code: 'ENOENT' });
  await expect(stat(path.join(dataDir, 'server.lock'))).rejects.toMatchObject({ code: 'ENOENT' });
});

it('a second serve on the same data directory is refused (exit 7) and leaves the first running; after kill -9 the next one starts at once', async () => {
  const dataDir = path.join(work, 'data-lock');
  const first = await serve(built.entry, dataDir);
  const firstRecord = await readDiscoveryFile(dataDir);
  let third: Served | undefined;
  try {
    const second = await run(built.entry, ['serve', '--port', '0', '--data-dir', dataDir]);
    expect(second.code).toBe(7);
    expect(second.stderr).toContain(`Another cloudlocker server is already running on the data directory ${dataDir} (process ${first.child.pid})`);
    // The first still runs and is still the one server.json describes.
    expect(await readDiscoveryFile(dataDir)).toEqual(firstRecord);
    const client = await connect({ dataDir });
    expect((await client.request('listFiles', {})).files).toEqual([]);
    await client.close();

    first.child.kill('SIGKILL');
    await first.exited;
    // Left behind by the crash: server.json and the lock of a dead process.
    expect(await stat(path.join(dataDir, 'server.lock'))).toBeDefined();
    const started = Date.now();
    third = await serve(built.entry, dataDir);
    expect(Date.now() - started).toBeLessThan(30_000);
    const thirdRecord = await readDiscoveryFile(dataDir);
    expect(thirdRecord?.pid).toBe(third.child.pid);
    expect(JSON.parse(await readFile(path.join(dataDir, 'server.lock'), 'utf8'))).toMatchObject({ pid: third.child.pid });
  } finally {
    if (first.child.exitCode === null) first.child.kill('SIGKILL');
    if (third !== undefined) {
      third.child.kill('SIGTERM');
      await third.exited;
    }
  }
});

it('starts through a V8 code cache that a start writes in the data directory; a corrupt, truncated, empty or foreign cache is ignored and replaced, and the start succeeds', async () => {
  const dataDir = path.join(work, 'data-code-cache');
  const cacheDirectory = path.join(dataDir, CODE_CACHE_DIRECTORY);
  /** One serve with NODE_DEBUG=cloudlocker: what the cache did, after a client's call succeeded (and after the new cache was written, if one is written). */
  const start = async (): Promise<string> => {
    const server = await serve(built.entry, dataDir, [], { NODE_DEBUG: 'cloudlocker' });
    try {
      const client = await connect({ dataDir });
      expect((await client.request('listFiles', {})).files).toEqual([]);
      await client.close();
      const status = /code cache .*\.v8cache: (\w+)/.exec(server.output().stderr)?.[1];
      if (status !== 'accepted') {
        const deadline = Date.now() + 30_000;
        while (!/code cache .*: (written|not written)/.test(server.output().stderr) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
        expect(server.output().stderr).toMatch(/code cache .*: written, \d+ bytes/);
      }
      return status ?? `no status in:\n${server.output().stderr}`;
    } finally {
      server.child.kill('SIGTERM');
      expect(await server.exited).toBe(0);
    }
  };
  const cacheFile = async (): Promise<string> => {
    const names = await readdir(cacheDirectory);
    expect(names).toHaveLength(1); // one runtime, and no temporary file left behind
    expect(names[0]).toMatch(/^cloudlocker-[0-9a-f]{16}\.v8cache$/);
    return path.join(cacheDirectory, names[0]!);
  };

  expect(await start()).toBe('none');
  const file = await cacheFile();
  if (process.platform !== 'win32') expect((await stat(file)).mode & 0o777).toBe(0o600);
  expect(await start()).toBe('accepted');

  const good = await readFile(file);
  const header = JSON.parse(good.subarray(CODE_CACHE_MAGIC.length, good.indexOf(0x0a, CODE_CACHE_MAGIC.length)).toString('utf8')) as { source: string; runtime: string };
  const flipped = Buffer.from(good);
  flipped[Math.floor(good.length / 2)] ^= 0x01;
  // Whole, and made for this main file and runtime as far as the header says, but V8's data is another script's.
  const foreign = encodeCodeCache(header, new vm.Script('globalThis.notCloudlocker = true;').createCachedData());
  for (const [bytes, expected] of [
    [flipped, 'invalid'],
    [good.subarray(0, Math.floor(good.length / 3)), 'invalid'],
    [Buffer.alloc(0), 'invalid'],
    [foreign, 'rejected'],
  ] as const) {
    await writeFile(file, bytes);
    expect(await start()).toBe(expected);
    expect((await readFile(await cacheFile())).equals(bytes)).toBe(false);
  }
  expect(await start()).toBe('accepted');
});

it('--log-format pretty writes human lines from the bundle', async () => {
  const dataDir = path.join(work, 'data-pretty');
  const server = await serve(built.entry, dataDir, ['--log-format', 'pretty']);
  server.child.kill('SIGTERM');
  await server.exited;
  const lines = server.output().stderr.split('\n').filter(Boolean);
  expect(lines.length).toBeGreaterThan(0);
  for (const line of lines) expect(line).toMatch(/^\d\d:\d\d:\d\d\.\d{3} (INFO |WARN |DEBUG|ERROR)/);
  expect(lines.some((line) => line.includes('cloudlocker listening url=wss://'))).toBe(true);
});

describe('with the S3 store', () => {
  let s3: RunningS3rver;
  beforeAll(async () => {
    s3 = await startS3rver();
  });
  afterAll(async () => {
    await s3?.stop();
  });

  it('loads the S3 chunks on demand and stores through them', async () => {
    const dataDir = path.join(work, 'data-s3');
    const env = { AWS_ACCESS_KEY_ID: S3RVER_CREDENTIALS.accessKeyId, AWS_SECRET_ACCESS_KEY: S3RVER_CREDENTIALS.secretAccessKey };
    const server = await serve(built.entry, dataDir, ['--storage', 's3', '--s3-bucket', TEST_BUCKET, '--s3-endpoint', s3.endpoint, '--s3-force-path-style', '--s3-prefix', 'bundle/'], env);
    try {
      const files = await mkdtemp(path.join(work, 'files-s3-'));
      await writeFile(path.join(files, 'a.bin'), randomBytes(100_000));
      const cli = (args: string[]) => run(built.entry, [...args, '--data-dir', dataDir], { cwd: files });
      expect(await cli(['upload', 'a.bin', '--new-key', 'a.key.json'])).toMatchObject({ code: 0 });
      expect((await cli(['info', 'a.bin', '--json'])).stdout).toContain('"name":"a.bin"');
      const client = await connect({ dataDir });
      expect(await client.request('getServerInfo', {})).toMatchObject({ storage: { kind: 's3' } });
      await client.close();
    } finally {
      server.child.kill('SIGTERM');
      await server.exited;
    }
    // The local-only copy cannot: its S3 chunks are gone, and it says so instead of starting half-way.
    const refused = await run(path.join(localOnly, 'cloudlocker.mjs'), ['serve', '--port', '0', '--data-dir', path.join(work, 'data-s3-missing'), '--storage', 's3', '--s3-bucket', TEST_BUCKET, '--s3-endpoint', s3.endpoint], { env });
    expect(refused.code).not.toBe(0);
  });
});
