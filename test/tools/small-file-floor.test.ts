/**
 * tools/bench/small-file-floor.mjs still runs (docs/benchmarks.md, sfw9): every
 * mode on a few files, its JSON line checked for the figures it promises. The
 * script itself checks that every object (or saved file) is there, that no
 * temporary is left and that a download gives back its source; those checks
 * fail the run. No figure is judged (this is not a benchmark).
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { ensureBuilt } from '../faults/built-server.js';

const run = promisify(execFile);
const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..', '..');
const SCRIPT = path.join(ROOT, 'tools', 'bench', 'small-file-floor.mjs');
let workDir: string;

beforeAll(async () => {
  workDir = await mkdtemp(path.join(os.tmpdir(), 'cloudlocker-small-file-floor-'));
});

afterAll(async () => {
  await rm(workDir, { recursive: true, force: true });
});

interface FloorLine {
  mode: string;
  n: number;
  productAge: boolean;
  perFileUs: { process: number; user: number; system: number; mainThread: number; workerThreads: number; poolAndOther: number };
}

async function floor(args: string[]): Promise<FloorLine> {
  const { stdout } = await run(process.execPath, [SCRIPT, ...args], { cwd: ROOT });
  return JSON.parse(stdout.trim()) as FloorLine;
}

describe('small-file-floor.mjs', () => {
  it.each([
    ['a', false],
    ['a-sync', false],
    ['b', true],
    ['c-all', true],
    ['c-sync', true],
    ['da', false],
    ['db', true],
  ])('mode %s: stores every file and reports CPU per file', async (mode, usesWorkers) => {
    const dir = path.join(workDir, 'floor');
    const line = await floor([mode as string, '--files', '24', '--dir', dir, '--batch', '4', '--window', '8', '--workers', '2']);
    expect(line).toMatchObject({ mode, n: 24 });
    expect(line.perFileUs.process).toBeGreaterThan(0);
    expect(line.perFileUs.mainThread).toBeGreaterThan(0);
    if (usesWorkers) expect(line.perFileUs.workerThreads).toBeGreaterThan(0);
    else expect(line.perFileUs.workerThreads).toBe(0);
    // The run's store (or destination) is gone; the source tree stays for the next run.
    const left = await readdir(dir);
    expect(left.filter((entry) => entry.startsWith('store-'))).toEqual([]);
    expect(left).toContain('src');
  }, 60_000);

  it.each(['a', 'c-all'])('mode %s seals with the product\'s own AgeSealer from a build (--age-build)', async (mode) => {
    await ensureBuilt();
    const line = await floor([mode, '--files', '16', '--dir', path.join(workDir, 'age'), '--batch', '4', '--age-build', path.join(ROOT, 'dist')]);
    expect(line).toMatchObject({ mode, n: 16, productAge: true });
    expect(line.perFileUs.process).toBeGreaterThan(0);
  }, 180_000);

  it('removes its folder with --clean, and refuses an unknown mode', async () => {
    const dir = path.join(workDir, 'clean');
    await floor(['b', '--files', '8', '--dir', dir, '--no-crypto', '--clean']);
    expect(existsSync(dir)).toBe(false);
    await expect(floor(['zz', '--dir', dir])).rejects.toThrow(/usage/);
    // The product's sealer is for the upload modes only.
    await expect(floor(['da', '--dir', dir, '--age-build', path.join(ROOT, 'dist')])).rejects.toThrow(/usage/);
  }, 60_000);
});
