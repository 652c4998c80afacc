/**
 * Publish without replace: give a finished temporary file its final name
 * only if nothing has that name yet. link() is the atomic "create unless it
 * exists" for a whole file, and a crash leaves either no file at the name or
 * the complete one. File systems without hard links (FAT, exFAT, some network
 * shares) need a fallback; each caller picks the one its data can afford.
 *
 * This module knows nothing of protocol errors: a taken name comes back as a
 * system error with code EEXIST (see isAlreadyExists), and callers say in
 * their own words what was left untouched.
 */
import { constants } from 'node:fs';
import fs from 'node:fs/promises';
import { systemErrorCode } from '../errors.js';

/** Error codes of link() that mean "this file system has no hard links", not "refused". */
export const NO_HARD_LINK_CODES: ReadonlySet<string> = new Set(['EPERM', 'ENOTSUP', 'EOPNOTSUPP', 'ENOSYS', 'EXDEV', 'EMLINK']);

export function isNoHardLinkError(err: unknown): boolean {
  const code = systemErrorCode(err);
  return code !== undefined && NO_HARD_LINK_CODES.has(code);
}

/** The error publishWithoutReplace throws when the name is taken (a real or synthesised EEXIST). */
export function isAlreadyExists(err: unknown): boolean {
  return systemErrorCode(err) === 'EEXIST';
}

/**
 * What to do when the file system has no hard links:
 * - 'rename-if-absent': check the name, then rename. Not atomic against
 *   other processes (callers serialise their own writers), but a crash
 *   still leaves no partial file. For large files.
 * - 'copy-exclusive': copy with an exclusive create, then flush. Never
 *   replaces, even against another process, but a crash may leave a
 *   partial file. For small files that must never be overwritten.
 */
export type NoHardLinkFallback = 'rename-if-absent' | 'copy-exclusive';

export interface PublishOptions {
  /** false when the caller already knows the file system has no hard links: go straight to the fallback. */
  readonly hardLinks?: boolean;
  readonly fallback?: NoHardLinkFallback;
}

/**
 * Give `temporary` the name `target` unless `target` exists. On success the
 * temporary is gone (or, after a link, removed best effort: a leftover is
 * just a second name of the same file). Throws EEXIST, with both files
 * untouched, when the name is taken; other errors unchanged. The caller
 * syncs the directory if the new name must survive a power cut.
 */
export async function publishWithoutReplace(temporary: string, target: string, options: PublishOptions = {}): Promise<void> {
  if (options.hardLinks !== false) {
    try {
      await fs.link(temporary, target);
      await fs.unlink(temporary).catch(() => undefined);
      return;
    } catch (err) {
      if (!isNoHardLinkError(err)) throw err;
    }
  }
  if ((options.fallback ?? 'rename-if-absent') === 'copy-exclusive') {
    await copyExclusive(temporary, target);
    await fs.unlink(temporary).catch(() => undefined);
    return;
  }
  if (await exists(target)) throw alreadyExists();
  await fs.rename(temporary, target);
}

async function copyExclusive(temporary: string, target: string): Promise<void> {
  // COPYFILE_EXCL: fails with EEXIST rather than replace; the copy gets the temporary's mode.
  await fs.copyFile(temporary, target, constants.COPYFILE_EXCL);
  try {
    const handle = await fs.open(target, 'r+');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  } catch (err) {
    // The name is ours (the exclusive copy created it): do not leave a file that may be partial.
    await fs.rm(target, { force: true });
    throw err;
  }
}

async function exists(file: string): Promise<boolean> {
  try {
    await fs.lstat(file);
    return true;
  } catch (err) {
    if (systemErrorCode(err) === 'ENOENT') return false;
    throw err;
  }
}

/** Like the EEXIST link() gives, without the path (paths are the user's and stay out of messages). */
function alreadyExists(): NodeJS.ErrnoException {
  const err: NodeJS.ErrnoException = new Error('EEXIST: file already exists');
  err.code = 'EEXIST';
  err.syscall = 'link';
  return err;
}
