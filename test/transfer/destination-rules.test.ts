/**
 * The download destination rules (docs/protocol.md, "Destinations") as pure
 * path logic, on Linux paths and, by construction, on Windows paths
 * (path.win32), whatever platform runs the test.
 */
import path from 'node:path';
import { endsWithSeparator, planDestination, resolveKeepingFolderMark } from '../../src/transfer/local-files.js';

describe('a trailing separator', () => {
  it('is "/" on POSIX; a backslash is an ordinary character there', () => {
    expect(endsWithSeparator('/home/me/out/', path.posix)).toBe(true);
    expect(endsWithSeparator('/home/me/out', path.posix)).toBe(false);
    expect(endsWithSeparator('/home/me/out\\', path.posix)).toBe(false);
  });

  it('is "\\" or "/" on Windows', () => {
    expect(endsWithSeparator('C:\\Users\\me\\out\\', path.win32)).toBe(true);
    expect(endsWithSeparator('C:\\Users\\me\\out/', path.win32)).toBe(true);
    expect(endsWithSeparator('C:\\Users\\me\\out', path.win32)).toBe(false);
  });

  it('survives the CLI resolving a relative --to', () => {
    expect(resolveKeepingFolderMark('/home/me/out/', path.posix)).toBe('/home/me/out/');
    expect(resolveKeepingFolderMark('/home/me/out', path.posix)).toBe('/home/me/out');
    expect(resolveKeepingFolderMark('/', path.posix)).toBe('/');
    expect(resolveKeepingFolderMark('out/', path.posix).endsWith(`${path.posix.sep}out/`)).toBe(true);
    expect(resolveKeepingFolderMark('C:\\Users\\me\\out\\', path.win32)).toBe('C:\\Users\\me\\out\\');
    expect(resolveKeepingFolderMark('C:\\Users\\me\\out/', path.win32)).toBe('C:\\Users\\me\\out\\');
    expect(resolveKeepingFolderMark('C:\\Users\\me\\out', path.win32)).toBe('C:\\Users\\me\\out');
  });
});

describe('planDestination', () => {
  const name = 'docs/2026/q3.pdf';

  it('saves into a path ending in a separator, whether or not it exists yet', () => {
    for (const exists of [true, false]) {
      expect(planDestination('/home/me/new/', name, exists, path.posix)).toEqual({ intoFolder: true, folder: '/home/me/new', target: '/home/me/new/q3.pdf' });
      expect(planDestination('C:\\Users\\me\\new\\', name, exists, path.win32)).toEqual({
        intoFolder: true,
        folder: 'C:\\Users\\me\\new',
        target: 'C:\\Users\\me\\new\\q3.pdf',
      });
      expect(planDestination('C:/Users/me/new/', name, exists, path.win32)).toMatchObject({ intoFolder: true, target: 'C:\\Users\\me\\new\\q3.pdf' });
    }
  });

  it('saves into an existing folder named without a separator', () => {
    expect(planDestination('/home/me/Downloads', name, true, path.posix)).toEqual({ intoFolder: true, folder: '/home/me/Downloads', target: '/home/me/Downloads/q3.pdf' });
    expect(planDestination('D:\\Downloads', name, true, path.win32)).toMatchObject({ intoFolder: true, target: 'D:\\Downloads\\q3.pdf' });
  });

  it('takes any other path as the file to write, in its parent folder', () => {
    expect(planDestination('/home/me/missing/copy.pdf', name, false, path.posix)).toEqual({ intoFolder: false, folder: '/home/me/missing', target: '/home/me/missing/copy.pdf' });
    expect(planDestination('D:\\out\\copy.pdf', name, false, path.win32)).toEqual({ intoFolder: false, folder: 'D:\\out', target: 'D:\\out\\copy.pdf' });
  });

  it('on POSIX, a trailing backslash is part of a file name, not a folder mark', () => {
    expect(planDestination('/home/me/odd\\', name, false, path.posix)).toMatchObject({ intoFolder: false, target: '/home/me/odd\\' });
  });
});
