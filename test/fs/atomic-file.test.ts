/**
 * Atomic write (src/fs/atomic-file.ts): the target holds the old content or
 * the new, with the mode asked for, and no temporary is left behind.
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { ensurePrivateDirectory, writeFileAtomic } from '../../src/fs/atomic-file.js';

let directory: string;

beforeEach(async () => {
  directory = await fs.mkdtemp(path.join(os.tmpdir(), 'cloudlocker-atomic-'));
});

afterEach(async () => {
  await fs.rm(directory, { recursive: true, force: true });
});

describe('writeFileAtomic', () => {
  it('creates, then replaces, a file with exactly the mode asked for and leaves no temporary', async () => {
    const file = path.join(directory, 'state.json');
    await writeFileAtomic(file, 'first', 0o600);
    await writeFileAtomic(file, Buffer.from('second'), 0o600);
    expect(await fs.readFile(file, 'utf8')).toBe('second');
    expect(await fs.readdir(directory)).toEqual(['state.json']);
    if (process.platform !== 'win32') expect((await fs.stat(file)).mode & 0o777).toBe(0o600);
  });

  it('leaves the old content and no temporary when the write cannot complete', async () => {
    const file = path.join(directory, 'state.json');
    await writeFileAtomic(file, 'old', 0o600);
    await fs.mkdir(path.join(directory, 'taken'));
    // Renaming a file over a folder fails after the temporary is written.
    await expect(writeFileAtomic(path.join(directory, 'taken'), 'new', 0o600)).rejects.toBeDefined();
    expect(await fs.readFile(file, 'utf8')).toBe('old');
    expect((await fs.readdir(directory)).sort()).toEqual(['state.json', 'taken']);
  });
});

describe('ensurePrivateDirectory', () => {
  it('creates nested folders readable by the user only', async () => {
    const nested = path.join(directory, 'a', 'b');
    await ensurePrivateDirectory(nested);
    if (process.platform !== 'win32') expect((await fs.stat(nested)).mode & 0o777).toBe(0o700);
  });
});
