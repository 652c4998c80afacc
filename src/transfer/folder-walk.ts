/**
 * The files of a local folder as a folder upload sees them: every regular
 * file at any depth, each with the remote name it takes
 * (<name>/<relative path, "/"-separated>). Symbolic links are not followed
 * (a link to a folder could loop, or reach outside what the user chose), and
 * neither links nor special files (pipes, sockets, devices) are read: both
 * are reported as skipped. An empty folder becomes one marker file
 * (EMPTY_FOLDER_MARKER) so that it round-trips. A name that breaks the
 * remote-name rules is reported, never silently dropped.
 */
import type { Dirent } from 'node:fs';
import { lstat, readdir } from 'node:fs/promises';
import path from 'node:path';
import { EMPTY_FOLDER_MARKER, remoteNameProblem } from '../../protocol/index.js';
import { fromSystemError } from '../errors.js';
import type { SourceFile } from './local-files.js';

export interface FolderFile {
  /** Relative to the folder, with the platform's separators. */
  readonly relativePath: string;
  readonly name: string;
  /** Undefined for an empty folder's marker (uploaded as 0 bytes). */
  readonly source: SourceFile | undefined;
}

export interface SkippedEntry {
  readonly path: string;
  readonly reason: 'symbolic-link' | 'special-file' | 'unstorable-name';
}

export interface FolderContents {
  readonly files: FolderFile[];
  readonly skipped: SkippedEntry[];
  readonly emptyFolders: number;
  readonly totalBytes: number;
}

/** Files of one folder whose lstat runs at once. */
const STAT_CONCURRENCY = 32;

/** Walk `root` (an absolute folder path) without following links; names under `name`. */
export async function walkFolder(root: string, name: string): Promise<FolderContents> {
  const files: FolderFile[] = [];
  const skipped: SkippedEntry[] = [];
  let emptyFolders = 0;
  let totalBytes = 0;
  const pending: string[] = [''];
  while (pending.length > 0) {
    const relativeDir = pending.pop() as string;
    let entries: Dirent[];
    try {
      entries = await readdir(path.join(root, relativeDir), { withFileTypes: true });
    } catch (err) {
      throw fromSystemError(err, 'the folder to upload');
    }
    // Byte order of names, so the group's files go in a stable, listing-like order.
    entries.sort((a, b) => Buffer.compare(Buffer.from(a.name), Buffer.from(b.name)));
    const subfolders: string[] = [];
    const regular: Array<{ relativePath: string; name: string }> = [];
    for (const entry of entries) {
      const relativePath = path.join(relativeDir, entry.name);
      if (entry.isSymbolicLink()) {
        skipped.push({ path: relativePath, reason: 'symbolic-link' });
        continue;
      }
      if (entry.isDirectory()) {
        subfolders.push(relativePath);
        continue;
      }
      if (!entry.isFile()) {
        skipped.push({ path: relativePath, reason: 'special-file' });
        continue;
      }
      const remote = remoteNameOf(name, relativePath);
      if (remote === undefined) {
        skipped.push({ path: relativePath, reason: 'unstorable-name' });
        continue;
      }
      regular.push({ relativePath, name: remote });
    }
    // Several lstats at once: one after the other, a 10 000-file folder waited for 10 000 thread-pool
    // round trips in a row before its first file started. The order of the files stays the walk's.
    for (let start = 0; start < regular.length; start += STAT_CONCURRENCY) {
      const batch = regular.slice(start, start + STAT_CONCURRENCY);
      const stats = await Promise.all(
        batch.map(({ relativePath }) =>
          lstat(path.join(root, relativePath)).catch((err: unknown) => {
            throw fromSystemError(err, 'a file of the folder');
          }),
        ),
      );
      batch.forEach(({ relativePath, name: remote }, index) => {
        const { size, mtimeMs } = stats[index]!;
        files.push({ relativePath, name: remote, source: { path: path.join(root, relativePath), size, mtimeMs } });
        totalBytes += size;
      });
    }
    if (entries.length === 0) {
      const marker = remoteNameOf(name, path.join(relativeDir, EMPTY_FOLDER_MARKER));
      if (marker === undefined) skipped.push({ path: relativeDir, reason: 'unstorable-name' });
      else {
        files.push({ relativePath: relativeDir, name: marker, source: undefined });
        emptyFolders += 1;
      }
    }
    // Depth first, in byte order: the stack takes the last pushed first.
    for (const folder of subfolders.reverse()) pending.push(folder);
  }
  return { files, skipped, emptyFolders, totalBytes };
}

/** `<name>/<relative path with "/">`, or undefined when that is not a valid remote name. */
export function remoteNameOf(name: string, relativePath: string, paths: path.PlatformPath = path): string | undefined {
  const remote = [name, ...relativePath.split(paths.sep)].join('/');
  return remoteNameProblem(remote) === undefined ? remote : undefined;
}
