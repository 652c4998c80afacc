/**
 * The benchmark scripts still run: each built script (dist/tools/bench) on
 * tiny sizes, one round, its JSON checked for the figures it promises. No
 * figure is judged (these are not benchmarks); age and rclone are used when
 * installed and otherwise reported as not installed, which must not fail
 * the run. The scripts clean up their work directories.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, symlink } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { BenchReport } from '../../tools/bench/lib/report.js';
import { ensureBuilt } from '../faults/built-server.js';

const run = promisify(execFile);
const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..', '..');
let workDir: string;

beforeAll(async () => {
  await ensureBuilt();
  workDir = await mkdtemp(path.join(os.tmpdir(), 'cloudlocker-bench-smoke-'));
}, 180_000);

afterAll(async () => {
  await rm(workDir, { recursive: true, force: true });
});

/** Run dist/tools/bench/<script>.js with `args` plus --json and --work-dir; the parsed JSON and stdout. */
async function bench(script: string, args: string[], env: NodeJS.ProcessEnv = process.env): Promise<{ report: BenchReport; stdout: string }> {
  const json = path.join(workDir, `${script}.json`);
  const { stdout } = await run(process.execPath, [path.join(ROOT, 'dist', 'tools', 'bench', `${script}.js`), ...args, '--json', json, '--work-dir', workDir, '--no-quiet'], {
    cwd: ROOT,
    env,
    maxBuffer: 16 * 1024 * 1024,
  });
  return { report: JSON.parse(await readFile(json, 'utf8')) as BenchReport, stdout };
}

function series(report: BenchReport, name: string): number[] {
  const found = report.series.find((s) => s.name === name);
  if (found === undefined) throw new Error(`no series "${name}" in ${report.series.map((s) => s.name).join(', ')}`);
  return found.values;
}

/** A peer's series has a measured value, or says why there is none. */
function expectMeasuredOrExplained(report: BenchReport, name: string): void {
  const found = report.series.find((s) => s.name === name);
  expect(found).toBeDefined();
  if (found!.values.length === 0) expect(found!.note).toMatch(/not installed|left out/);
  else expect(found!.values.every((v) => v > 0)).toBe(true);
}

/**
 * An environment whose PATH holds only the system tools the scripts use
 * (cp, dd, df, sync), so age and rclone look not installed even where they are.
 */
async function environmentWithoutPeers(): Promise<NodeJS.ProcessEnv> {
  const bin = path.join(workDir, 'bin');
  await mkdir(bin, { recursive: true });
  const searchPath = (process.env['PATH'] ?? '').split(path.delimiter);
  for (const tool of ['cp', 'dd', 'df', 'sync']) {
    const found = searchPath.map((dir) => path.join(dir, tool)).find((candidate) => existsSync(candidate));
    if (found !== undefined && !existsSync(path.join(bin, tool))) await symlink(found, path.join(bin, tool));
  }
  return { ...process.env, PATH: bin };
}

/** Every work directory a script made under workDir is gone; only the JSON files stay. */
async function expectOnlyJsonLeft(): Promise<void> {
  const entries = await readdir(workDir);
  expect(entries.filter((entry) => !entry.endsWith('.json') && !entry.endsWith('.svg') && entry !== 'bin')).toEqual([]);
}

describe('bench scripts on tiny sizes', () => {
  it('file-throughput: cloudlocker upload and download timed in both cache states, peers measured or reported missing, RSS checked; chart.js draws it', async () => {
    const { report, stdout } = await bench('file-throughput', ['--size', '256KiB', '--rounds', '1', '--format', 'v1,age', '--keep-server']);
    for (const state of ['cold', 'warm']) {
      for (const format of ['v1', 'age']) {
        expect(series(report, `cloudlocker ${format} upload (${state})`)).toHaveLength(1);
        expect(series(report, `cloudlocker ${format} download (${state})`)).toHaveLength(1);
        expect(series(report, `cloudlocker ${format} upload (${state}): server peak RSS`)[0]).toBeGreaterThan(10);
      }
      expect(series(report, `cp (upload group) (${state})`)).toHaveLength(1);
      expect(series(report, `dd conv=fsync (upload group) (${state})`)).toHaveLength(1);
      expect(series(report, `dd conv=fsync (download group) (${state})`)).toHaveLength(1);
      for (const peer of ['age -e', 'age -d', 'rclone crypt upload', 'rclone crypt download']) expectMeasuredOrExplained(report, `${peer} (${state})`);
      expect(report.checks.map((c) => c.figure)).toEqual(
        expect.arrayContaining([
          `age upload ÷ dd conv=fsync, ${state}`,
          `age download ÷ dd conv=fsync, ${state}`,
          `v1 upload ÷ cp, ${state}`,
          `age server peak RSS, upload of 256 KiB, ${state}`,
          `age upload speed ÷ v1 upload speed, ${state}`,
          `age download speed ÷ v1 download speed, ${state}`,
        ]),
      );
    }
    expect(report.machine.nproc).toBeGreaterThan(0);
    expect(stdout).toContain('| figure | value | target | met |');

    const svg = path.join(workDir, 'chart.svg');
    await run(process.execPath, [path.join(ROOT, 'dist', 'tools', 'bench', 'chart.js'), '--inputs', path.join(workDir, 'file-throughput.json'), '--out', svg]);
    const drawn = await readFile(svg, 'utf8');
    expect(drawn).toMatch(/^<svg /);
    expect(drawn).toContain('cloudlocker age upload (cold)');
    await expectOnlyJsonLeft();
  }, 180_000);

  it('folder-throughput: uploadFolder/downloadFolder of both trees timed against rclone (or reported missing), RSS and folder-view listing checked', async () => {
    const { report } = await bench('folder-throughput', ['--small-files', '12', '--large-files', '2', '--large-size', '64KiB', '--rounds', '1', '--list-calls', '5', '--keep-server']);
    for (const tree of ['small', 'large']) {
      expect(series(report, `cloudlocker age uploadFolder (${tree})`)).toHaveLength(1);
      expect(series(report, `cloudlocker age downloadFolder (${tree})`)).toHaveLength(1);
      expect(series(report, `cloudlocker age uploadFolder (${tree}): server peak RSS`)[0]).toBeGreaterThan(10);
      expectMeasuredOrExplained(report, `rclone copy to crypt (${tree})`);
      expectMeasuredOrExplained(report, `rclone copy from crypt (${tree})`);
    }
    expect(series(report, 'cloudlocker age listFiles folder view: top of a 12-file tree')).toHaveLength(5);
    expect(series(report, 'cloudlocker age listFiles folder view: top of a 12-file tree, first call')).toHaveLength(1);
    expect(report.checks.map((c) => c.figure)).toEqual(
      expect.arrayContaining([
        'small (12 × 4 KiB): uploadFolder ÷ rclone copy to crypt (+fsync)',
        'large (2 × 64 KiB): downloadFolder ÷ rclone copy from crypt (+fsync)',
        'large (2 × 64 KiB): server peak RSS, uploadFolder',
        'cloudlocker age listFiles folder view: top of a 12-file tree p50',
      ]),
    );
    await expectOnlyJsonLeft();
  }, 180_000);

  it('server-memory, rpc-latency, concurrent-uploads, list-files and progress-overhead report their figures', async () => {
    const memory = await bench('server-memory', ['--sizes', '1MiB']);
    expect(memory.report.checks.map((c) => c.figure)).toEqual(['server peak RSS, upload of 1 MiB', 'server peak RSS, download of 1 MiB']);

    const latency = await bench('rpc-latency', ['--calls', '20', '--rounds', '1']);
    expect(series(latency.report, 'cloudlocker p50')[0]).toBeGreaterThan(0);
    expect(series(latency.report, 'echo p50')[0]).toBeGreaterThan(0);
    expect(latency.report.checks.some((c) => c.figure === 'getServerInfo p50 ÷ echo p50')).toBe(true);

    const concurrent = await bench('concurrent-uploads', ['--count', '3', '--size', '128KiB', '--rounds', '1']);
    expect(series(concurrent.report, '3 concurrent')).toHaveLength(1);
    expect(series(concurrent.report, 'one at a time')).toHaveLength(1);

    const listing = await bench('list-files', ['--objects', '30', '--calls', '5']);
    expect(series(listing.report, 'listFiles first page')).toHaveLength(5);
    expect(listing.report.checks.some((c) => c.figure === 'listFiles first page p50')).toBe(true);

    const progress = await bench('progress-overhead', ['--size', '1MiB', '--rounds', '1']);
    expect(series(progress.report, 'upload, with UI')).toHaveLength(1);
    expect(series(progress.report, 'upload, no UI')).toHaveLength(1);
    await expectOnlyJsonLeft();
  }, 90_000);

  it('header-rewrite times writing an object and rewriting its header on the local store', async () => {
    const rewrite = await bench('header-rewrite', ['--store', 'local', '--size', '1MiB', '--rounds', '2']);
    expect(series(rewrite.report, 'write')).toHaveLength(2);
    expect(series(rewrite.report, 'rewriteHeader')).toHaveLength(2);
    expect(series(rewrite.report, 'rewriteHeader').every((seconds) => seconds > 0)).toBe(true);
    expect(rewrite.report.checks.map((c) => c.figure)).toEqual(['rewriteHeader ÷ write, median of the rounds']);
    expect(rewrite.report.notes).toEqual(['header rewrite: local-copy']);
    await expectOnlyJsonLeft();
  }, 90_000);

  it('sharing: share and unshare vs upload on the local store, RSS with the identity unlocked, unlock and signIn with their transient memory', async () => {
    const { report } = await bench('sharing', ['--size', '1MiB', '--rounds', '1', '--store', 'local', '--locked-upload', '--kdf-rounds', '1']);
    expect(series(report, 'shareFile (local)')).toHaveLength(1);
    expect(series(report, 'share ÷ upload (local)')[0]).toBeGreaterThan(0);
    expect(series(report, 'unshare ÷ upload (local)')[0]).toBeGreaterThan(0);
    expect(series(report, 'shareFile (local): server peak RSS')[0]).toBeGreaterThan(0);
    expect(series(report, 'upload, unlocked identity (local): server peak RSS')[0]).toBeGreaterThan(0);
    expect(series(report, 'upload, keyPath, locked (local): server peak RSS')[0]).toBeGreaterThan(0);
    expect(series(report, 'unlock (scrypt 2^18)')[0]).toBeGreaterThan(0);
    expect(series(report, 'signIn (scrypt 2^18)')[0]).toBeGreaterThan(0);
    expect(series(report, 'two unlocks at once ÷ one unlock')).toHaveLength(1);
    expect(report.checks.map((c) => c.figure)).toEqual([
      'share ÷ upload, median, local',
      'unshare ÷ upload, median, local',
      'shareFile: server peak RSS, highest round, local',
    ]);
    expect(report.notes).toContain('local round 1: headerRewrite in-place');
    await expectOnlyJsonLeft();
  }, 180_000);

  it('s3-throughput runs against its own s3rver without rclone installed; engine-tuning and profile-summary run', async () => {
    const s3 = await bench('s3-throughput', ['--size', '1MiB', '--rounds', '1'], await environmentWithoutPeers());
    expect(series(s3.report, 'cloudlocker upload (S3)')).toHaveLength(1);
    expect(series(s3.report, 'cloudlocker download (S3)')).toHaveLength(1);
    expect(s3.report.peers['rclone']).toBe('rclone not installed');
    expect(s3.report.series.find((s) => s.name === 'rclone crypt upload (S3)')?.note).toBe('rclone not installed');

    const engine = await bench('engine-tuning', ['--size', '1MiB', '--rounds', '1', '--chunks-per-part', '16', '--part-concurrency', '2']);
    expect(series(engine.report, 'upload 16 chunks (1 MiB) x 2')).toHaveLength(1);

    // A tiny CPU profile to summarise.
    const profileDir = path.join(workDir, 'profile');
    await run(process.execPath, ['--cpu-prof', '--cpu-prof-dir', profileDir, '-e', 'let x = 0; for (let i = 0; i < 1e6; i++) x += i;']);
    const [profile] = await readdir(profileDir);
    const { stdout } = await run(process.execPath, [
      path.join(ROOT, 'dist', 'tools', 'bench', 'profile-summary.js'),
      path.join(profileDir, profile as string),
      '--top',
      '5',
    ]);
    expect(stdout).toContain('| self ms | % | function | where |');
    await rm(profileDir, { recursive: true });
    expect((await stat(workDir)).isDirectory()).toBe(true);
    await expectOnlyJsonLeft();
  }, 90_000);
});
