/**
 * Publish without replace (src/fs/publish.ts), the one implementation the
 * key file, the local store and downloads use: a free name gets the file, a
 * taken name is never replaced, and a file system without hard links gets
 * the caller's fallback instead of an error.
 */
import { jest } from '@jest/globals';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { isAlreadyExists, isNoHardLinkError, NO_HARD_LINK_CODES, publishWithoutReplace, type PublishOptions } from '../../src/fs/publish.js';

let directory: string;

beforeEach(async () => {
  directory = await fs.mkdtemp(path.join(os.tmpdir(), 'cloudlocker-publish-'));
});

afterEach(async () => {
  jest.restoreAllMocks();
  await fs.rm(directory, { recursive: true, force: true });
});

async function temporaryWith(content: string): Promise<string> {
  const file = path.join(directory, `.tmp-${Math.random().toString(16).slice(2)}`);
  await fs.writeFile(file, content, { mode: 0o600 });
  return file;
}

const modes: [string, PublishOptions][] = [
  ['with hard links', {}],
  ['without hard links, rename if absent', { hardLinks: false, fallback: 'rename-if-absent' }],
  ['without hard links, exclusive copy', { hardLinks: false, fallback: 'copy-exclusive' }],
];

describe.each(modes)('publishWithoutReplace %s', (_label, options) => {
  it('gives a free name the temporary file and removes the temporary', async () => {
    const temporary = await temporaryWith('new content');
    const target = path.join(directory, 'target');
    await publishWithoutReplace(temporary, target, options);
    expect(await fs.readFile(target, 'utf8')).toBe('new content');
    await expect(fs.access(temporary)).rejects.toMatchObject({ code: 'ENOENT' });
    if (process.platform !== 'win32') expect((await fs.stat(target)).mode & 0o777).toBe(0o600);
  });

  it('refuses a taken name with EEXIST and leaves the existing file untouched', async () => {
    const temporary = await temporaryWith('new content');
    const target = path.join(directory, 'target');
    await fs.writeFile(target, 'precious');
    const failure = await publishWithoutReplace(temporary, target, options).then(() => undefined, (err: unknown) => err);
    expect(isAlreadyExists(failure)).toBe(true);
    expect(await fs.readFile(target, 'utf8')).toBe('precious');
    expect(await fs.readFile(temporary, 'utf8')).toBe('new content');
  });
});

describe('publishWithoutReplace when link() says the file system has no hard links', () => {
  it.each([
    ['rename-if-absent', 'EXDEV'],
    ['copy-exclusive', 'ENOTSUP'],
    ['rename-if-absent', 'EMLINK'],
  ] as const)('falls back to %s on %s', async (fallback, code) => {
    jest.spyOn(fs, 'link').mockRejectedValue(Object.assign(new Error(code), { code }));
    const temporary = await temporaryWith('content');
    const target = path.join(directory, 'target');
    await publishWithoutReplace(temporary, target, { fallback });
    expect(await fs.readFile(target, 'utf8')).toBe('content');
    await fs.writeFile(target, 'precious');
    const second = await temporaryWith('other');
    await expect(publishWithoutReplace(second, target, { fallback })).rejects.toMatchObject({ code: 'EEXIST' });
    expect(await fs.readFile(target, 'utf8')).toBe('precious');
  });

  it('passes any other link() error on unchanged, without a fallback', async () => {
    jest.spyOn(fs, 'link').mockRejectedValue(Object.assign(new Error('EACCES'), { code: 'EACCES' }));
    const temporary = await temporaryWith('content');
    const target = path.join(directory, 'target');
    await expect(publishWithoutReplace(temporary, target)).rejects.toMatchObject({ code: 'EACCES' });
    await expect(fs.access(target)).rejects.toMatchObject({ code: 'ENOENT' });
  });
});

describe('the one list of "no hard link" errors', () => {
  it('holds the codes FAT, exFAT and network shares give, and not refusals of other kinds', () => {
    expect([...NO_HARD_LINK_CODES].sort()).toEqual(['EMLINK', 'ENOSYS', 'ENOTSUP', 'EOPNOTSUPP', 'EPERM', 'EXDEV']);
    expect(isNoHardLinkError({ code: 'EXDEV' })).toBe(true);
    expect(isNoHardLinkError({ code: 'EEXIST' })).toBe(false);
    expect(isNoHardLinkError({ code: 'EACCES' })).toBe(false);
    expect(isNoHardLinkError(new Error('no code'))).toBe(false);
  });
});
