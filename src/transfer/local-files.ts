/**
 * The user's side of a transfer: the local file an upload reads and the
 * local file a download writes. Every check here turns an operating-system
 * answer into an error the user can act on, and none of them names a path
 * (paths are the user's; the client already knows which one it sent).
 */
import { createHash } from 'node:crypto';
import fsCallbacks, { constants, type Stats } from 'node:fs';
import { lstat, mkdir, open, realpath, stat, statfs, type FileHandle, rename, unlink } from 'node:fs/promises';
import type { ReadTarget } from '../fs/read-fully.js';
import type { SyncableFile } from '../fs/flush-behind.js';
import { closeDescriptor, closedDescriptorError, openDescriptor } from '../fs/descriptors.js';
import { InFlightCalls } from '../fs/in-flight.js';
import { SMALL_FILE_BYTES } from './small-file.js';
import type { WritevTarget } from './file-io.js';
import path from 'node:path';
import { lastSegment } from '../../protocol/index.js';
import { CloudlockerError, InvalidParamsError, fromSystemError, systemErrorCode } from '../errors.js';
import { isAlreadyExists, publishWithoutReplace } from '../fs/publish.js';

export interface SourceFile {
  readonly path: string;
  readonly size: number;
  readonly mtimeMs: number;
}

/** The upload source must be an existing regular file (not a directory, FIFO, device or socket). */
export async function inspectSource(sourcePath: string): Promise<SourceFile> {
  const absolute = path.resolve(sourcePath);
  let stats: Stats;
  try {
    stats = await stat(absolute);
  } catch (err) {
    if (systemErrorCode(err) === 'ELOOP') {
      throw new InvalidParamsError('path is a symbolic link loop, not a file.', 'path');
    }
    throw fromSystemError(err, 'the file to upload');
  }
  if (!stats.isFile()) {
    throw new InvalidParamsError(`path is ${describeKind(stats)}, not a regular file: give the path of a file.`, 'path');
  }
  if (await isOnKernelFileSystem(absolute)) {
    // /proc and /sys files claim sizes that are not their content (0, 4096, or 128 TiB for /proc/kcore).
    throw new InvalidParamsError(
      'path is a kernel pseudo-file (such as in /proc or /sys), whose size is not known in advance: copy it to a regular file first.',
      'path',
    );
  }
  return { path: absolute, size: stats.size, mtimeMs: stats.mtimeMs };
}

/**
 * Refuse a path that exists but is neither a regular file nor a directory
 * (a named pipe, a device, a socket), or is a /proc or /sys file, with a
 * clear -32602 before anything opens it. (A blocking open of a named pipe
 * would hold one of libuv's few file-system threads until a writer came;
 * key files are opened without blocking too, but nothing should get that
 * far.)
 */
export async function refuseSpecialFile(filePath: string, param: string): Promise<void> {
  const absolute = path.resolve(filePath);
  const stats = await statOrUndefined(absolute);
  if (stats === undefined) return;
  if (!stats.isFile() && !stats.isDirectory()) {
    throw new InvalidParamsError(`${param} is ${describeKind(stats)}, not a regular file.`, param);
  }
  if (await isOnKernelFileSystem(absolute)) {
    throw new InvalidParamsError(`${param} is a kernel pseudo-file (such as in /proc or /sys), not a regular file.`, param);
  }
}

/**
 * Whether `candidate` is `directory` itself or lies inside it, once the
 * symbolic links of whatever part of each path exists are resolved (so a
 * link pointing into the directory counts as inside). Compared without
 * regard to case where file systems usually ignore it (Windows, macOS).
 */
export async function isInsideDirectory(candidate: string, directory: string): Promise<boolean> {
  const [inner, outer] = await Promise.all([realPathOfNearest(candidate), realPathOfNearest(directory)]);
  const fold = (text: string) => (process.platform === 'win32' || process.platform === 'darwin' ? text.toLowerCase() : text);
  const relative = path.relative(fold(outer), fold(inner));
  return relative === '' || (!relative.startsWith(`..${path.sep}`) && relative !== '..' && !path.isAbsolute(relative));
}

/** The real path of the longest existing leading part of `filePath`, with the rest appended unchanged. */
async function realPathOfNearest(filePath: string): Promise<string> {
  let existing = path.resolve(filePath);
  const rest: string[] = [];
  for (;;) {
    try {
      return path.join(await realpath(existing), ...rest);
    } catch {
      const parent = path.dirname(existing);
      if (parent === existing) return path.join(existing, ...rest);
      rest.unshift(path.basename(existing));
      existing = parent;
    }
  }
}

/** statfs(2) magic numbers of Linux file systems whose files are views of the kernel, not stored data. */
const KERNEL_FILE_SYSTEMS = new Set([
  0x9fa0, // proc
  0x62656572, // sysfs
  0x64626720, // debugfs
  0x74726163, // tracefs
  0x73636673, // securityfs
  0x62656570, // configfs
  0x27e0eb, // cgroup
  0x63677270, // cgroup2
  0xde5e81e4, // efivarfs
  0x6165676c, // pstore
  0xcafe4a11, // bpf
]);

async function isOnKernelFileSystem(filePath: string): Promise<boolean> {
  if (process.platform !== 'linux') return false;
  try {
    return KERNEL_FILE_SYSTEMS.has((await statfs(filePath)).type);
  } catch {
    return false;
  }
}

/**
 * An upload's source, open for positioned reads: the callback API on its
 * descriptor (its open, reads and close each one round trip through libuv's
 * thread pool, as a FileHandle's, without a FileHandle per file: measured
 * here, a 4 KiB file's open, 2 fstat, 2 reads and close cost 49–77 µs of CPU
 * through callbacks, 107–138 µs through a FileHandle), its fstat synchronous
 * (see stat()) for a small file; a folder of small files opens thousands (docs/benchmarks.md, sf8). Once closed, it refuses every call
 * without touching the descriptor's number, which the OS may have given to
 * another file; its close waits for the reads and fstat still in flight.
 * Each call looks its function up on the module object, so
 * that a test can watch or fail it.
 */
export class SourceHandle implements ReadTarget {
  private closing: Promise<void> | undefined;
  private readonly inFlight = new InFlightCalls();

  /** `statSynchronously`: a small source (see stat()). */
  constructor(
    readonly fd: number,
    private readonly statSynchronously = false,
  ) {}

  read(buffer: Uint8Array, offset: number, length: number, position: number): Promise<{ bytesRead: number }> {
    if (this.closing !== undefined) return Promise.reject(closedDescriptorError('the file to upload', 'read'));
    return this.inFlight.run((done) => fsCallbacks.read(this.fd, buffer, offset, length, position, (err, bytesRead) => done(err, { bytesRead })));
  }

  /**
   * fstat(2) of the open file. Synchronous for a small source: it reads the
   * inode the kernel holds for an open file (no disk read on a local file
   * system), where a round trip through the thread pool costs the JavaScript
   * thread a hand-off per call (docs/benchmarks.md, sf8). Asynchronous for a
   * larger one: its second fstat runs after all its parts were read, and on a
   * network share (NFS, SMB, FUSE) may wait on the server; one hand-off is
   * nothing beside such a file's reads.
   */
  stat(): Promise<Stats> {
    if (this.closing !== undefined) return Promise.reject(closedDescriptorError('the file to upload', 'read'));
    if (!this.statSynchronously) return this.inFlight.run<Stats>((done) => fsCallbacks.fstat(this.fd, done));
    try {
      return Promise.resolve(fsCallbacks.fstatSync(this.fd));
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /** Once (later calls answer the first one's outcome), after the calls still in flight. */
  close(): Promise<void> {
    this.closing ??= this.inFlight.idle().then(() => closeDescriptor(this.fd));
    return this.closing;
  }
}

/** Open the source for positioned reads, refusing anything that became other than a regular file. */
export async function openSource(source: SourceFile): Promise<SourceHandle> {
  let handle: SourceHandle;
  try {
    // O_NONBLOCK: a FIFO swapped in after inspectSource must not block the open.
    const flags = constants.O_RDONLY | (constants.O_NONBLOCK ?? 0);
    handle = new SourceHandle(await openDescriptor(source.path, flags), source.size <= SMALL_FILE_BYTES);
  } catch (err) {
    throw fromSystemError(err, 'the file to upload');
  }
  let stats: Stats;
  try {
    stats = await handle.stat();
  } catch (err) {
    // A descriptor is never left open (nothing would close it later).
    await handle.close().catch(() => undefined);
    throw fromSystemError(err, 'the file to upload');
  }
  if (!stats.isFile()) {
    await handle.close();
    throw new InvalidParamsError(`path is ${describeKind(stats)}, not a regular file.`, 'path');
  }
  if (stats.size !== source.size || stats.mtimeMs !== source.mtimeMs) {
    await handle.close();
    throw new CloudlockerError('SOURCE_CHANGED');
  }
  return handle;
}

/** Throws SOURCE_CHANGED when the open source is no longer the file inspected at the start. */
export async function assertSourceUnchanged(handle: SourceHandle, source: SourceFile): Promise<void> {
  const stats = await handle.stat();
  if (stats.size !== source.size || stats.mtimeMs !== source.mtimeMs) throw new CloudlockerError('SOURCE_CHANGED');
}

/**
 * Whether a destination, as the user spelled it, names a folder: it ends with
 * a separator of the platform's path rules ("/" everywhere, and "\\" too on
 * Windows). Checked before path.resolve, which drops a trailing separator.
 */
export function endsWithSeparator(destination: string, paths: path.PlatformPath = path): boolean {
  return destination.endsWith('/') || destination.endsWith(paths.sep);
}

/**
 * path.resolve, keeping a trailing separator: the CLI resolves a relative
 * --to before sending it, and "dir/" must still mean "into dir".
 */
export function resolveKeepingFolderMark(destination: string, paths: path.PlatformPath = path): string {
  const absolute = paths.resolve(destination);
  return endsWithSeparator(destination, paths) && !endsWithSeparator(absolute, paths) ? absolute + paths.sep : absolute;
}

/** How a destination is read, before the file system is asked anything more than whether it is a folder. */
export interface DestinationPlan {
  /** "Into this folder": the target is <folder>/<last segment of name>. */
  readonly intoFolder: boolean;
  /** The folder the target goes in (absolute). */
  readonly folder: string;
  /** The target file (absolute). */
  readonly target: string;
}

/**
 * The destination rules, pure so that Windows paths can be checked anywhere
 * (with path.win32): a path ending in a separator, or one that is an existing
 * folder, means "into this folder", the file taking the last segment of its
 * remote name; any other path is the target file itself.
 */
export function planDestination(destination: string, name: string, isExistingFolder: boolean, paths: path.PlatformPath = path): DestinationPlan {
  const absolute = paths.resolve(destination);
  if (endsWithSeparator(destination, paths) || isExistingFolder) {
    return { intoFolder: true, folder: absolute, target: paths.join(absolute, lastSegment(name)) };
  }
  return { intoFolder: false, folder: paths.dirname(absolute), target: absolute };
}

export interface DestinationOptions {
  readonly overwrite: boolean;
  /** Create the missing folders of the destination (default: a missing folder is NOT_FOUND). */
  readonly createDirectories?: boolean;
  /**
   * What an lstat of the destination found a moment ago (a folder
   * download's file: its group looked to journal it; undefined stats: there
   * was nothing): it stands for this function's own first look.
   */
  readonly looked?: { readonly stats: Stats | undefined };
  /**
   * The target's folder was made by the caller a moment ago (a folder
   * download's group, once per folder): not looked at again. A folder gone
   * since fails the temporary's creation, which then makes it again
   * (createDirectories).
   */
  readonly folderReady?: boolean;
}

/**
 * Where a download goes (docs/protocol.md, "Destinations"): an existing
 * directory, or a path ending in a separator, means "<dir>/<last segment of
 * name>"; anything else is the target file. A missing folder is NOT_FOUND,
 * never created unless createDirectories is set, and never a file with the
 * folder's name.
 */
export async function resolveDestination(destination: string, name: string, options: DestinationOptions): Promise<string> {
  const absolute = path.resolve(destination);
  const existing = options.looked !== undefined ? options.looked.stats : await lstatOrUndefined(absolute, 'the destination');
  let isExistingFolder = existing?.isDirectory() === true;
  if (existing?.isSymbolicLink()) {
    const followed = await statOrUndefined(absolute);
    if (followed?.isDirectory()) isExistingFolder = true;
    else throw symlinkTarget();
  }
  if (endsWithSeparator(destination) && existing !== undefined && !isExistingFolder) {
    throw new InvalidParamsError(`destination ends with a separator but names ${describeKind(existing)}, not a folder.`, 'destination');
  }
  const { folder, target, intoFolder } = planDestination(destination, name, isExistingFolder);
  // A folder the caller made a moment ago is not looked at again (see DestinationOptions.folderReady).
  if (options.folderReady !== true || intoFolder) await ensureFolder(folder, options.createDirectories === true);
  const targetStats = target === absolute ? existing : await lstatOrUndefined(target, 'the destination');
  if (targetStats !== undefined) {
    if (targetStats.isSymbolicLink()) throw symlinkTarget();
    if (!targetStats.isFile()) {
      throw new InvalidParamsError(`destination names ${describeKind(targetStats)}; give a file path or a folder.`, 'destination');
    }
    if (!options.overwrite) {
      throw new CloudlockerError('ALREADY_EXISTS', 'The destination file already exists: pass overwrite: true to replace it.');
    }
  }
  return target;
}

/** A temporary file beside the target, so the final rename stays on one file system. */
export function temporaryPathFor(target: string, transferId: string): string {
  // Short and fixed in length: a target name near the file system's limit
  // (255 bytes) must still leave room for its temporary. Deterministic, so a
  // resumed download finds the temporary of its first run.
  const tag = createHash('sha256').update(path.basename(target)).update('\0').update(transferId).digest('hex').slice(0, 20);
  return path.join(path.dirname(target), `.${tag}.cloudlocker-part`);
}

/**
 * A download's temporary beside its target, open for positioned writes:
 * as SourceHandle, the callback API on its descriptor (no FileHandle per
 * file), each call still asynchronous (the user's disk may be a network
 * share), and nothing touches the descriptor's number once it is closed.
 */
export class DestinationFile implements WritevTarget, SyncableFile {
  private closing: Promise<void> | undefined;
  private readonly inFlight = new InFlightCalls();

  constructor(readonly fd: number) {}

  writev(buffers: readonly Uint8Array[], position: number): Promise<{ bytesWritten: number }> {
    if (this.closing !== undefined) return Promise.reject(closedDescriptorError('the file', 'write'));
    return this.inFlight.run((done) =>
      fsCallbacks.writev(this.fd, buffers as NodeJS.ArrayBufferView[], position, (err, bytesWritten) => done(err, { bytesWritten })),
    );
  }

  datasync(): Promise<void> {
    if (this.closing !== undefined) return Promise.reject(closedDescriptorError('the file', 'fdatasync'));
    return this.inFlight.run<void>((done) => fsCallbacks.fdatasync(this.fd, done));
  }

  sync(): Promise<void> {
    if (this.closing !== undefined) return Promise.reject(closedDescriptorError('the file', 'fsync'));
    return this.inFlight.run<void>((done) => fsCallbacks.fsync(this.fd, done));
  }

  /** Once (later calls answer the first one's outcome), after the writes and syncs still in flight. */
  close(): Promise<void> {
    this.closing ??= this.inFlight.idle().then(() => closeDescriptor(this.fd));
    return this.closing;
  }
}

/**
 * The destination's folder must exist, or be made when createDirectories is
 * set (NOT_FOUND otherwise). Something there that is not a folder is
 * NOT_FOUND too, or `notAFolder()`'s error when given.
 */
export async function ensureFolder(folder: string, createDirectories: boolean, notAFolder?: () => Error): Promise<void> {
  const folderStats = await statOrUndefined(folder);
  if (folderStats === undefined && createDirectories) {
    try {
      await mkdir(folder, { recursive: true });
    } catch (err) {
      throw fromSystemError(err, 'the destination folder');
    }
  } else if (!folderStats?.isDirectory()) {
    if (folderStats !== undefined && notAFolder !== undefined) throw notAFolder();
    throw new CloudlockerError(
      'NOT_FOUND',
      'The destination folder does not exist: create it, pass createDirectories: true, or choose another destination.',
    );
  }
}

/** A temporary beside the target, as a FileHandle (exportFile writes it in sequence). */
export async function createTemporary(tempPath: string): Promise<FileHandle> {
  try {
    // Decrypted data is the user's secret: owner-only until the user says otherwise.
    return await open(tempPath, 'wx', 0o600);
  } catch (err) {
    throw fromSystemError(err, 'the destination folder');
  }
}

/** A download's temporary beside the target (DestinationFile). */
export async function createDestinationFile(tempPath: string): Promise<DestinationFile> {
  try {
    // Decrypted data is the user's secret: owner-only until the user says otherwise.
    return new DestinationFile(await openDescriptor(tempPath, 'wx', 0o600));
  } catch (err) {
    throw fromSystemError(err, 'the destination folder');
  }
}

/** The temporary of an interrupted download, opened again (no O_CREAT); undefined when it is gone. */
export async function reopenDestinationFile(tempPath: string): Promise<DestinationFile | undefined> {
  try {
    return new DestinationFile(await openDescriptor(tempPath, 'r+'));
  } catch (err) {
    if (systemErrorCode(err) === 'ENOENT') return undefined;
    throw err;
  }
}

/**
 * Move the finished temporary into place. Without overwrite, nothing that
 * appeared at the target meanwhile is replaced (src/fs/publish.ts; without
 * hard links, a check and a rename).
 */
export async function publishTemporary(tempPath: string, target: string, overwrite: boolean): Promise<void> {
  try {
    if (overwrite) await rename(tempPath, target);
    else await publishWithoutReplace(tempPath, target, { fallback: 'rename-if-absent' });
  } catch (err) {
    if (isAlreadyExists(err)) {
      throw new CloudlockerError('ALREADY_EXISTS', 'The destination file appeared during the download: nothing was replaced.');
    }
    throw fromSystemError(err, 'the destination');
  }
}

export async function removeQuietly(filePath: string): Promise<void> {
  await unlink(filePath).catch(() => undefined);
}

function symlinkTarget(): InvalidParamsError {
  return new InvalidParamsError('destination is a symbolic link; give the real path of the file or folder.', 'destination');
}

async function lstatOrUndefined(filePath: string, what: string): Promise<Stats | undefined> {
  try {
    return await lstat(filePath);
  } catch (err) {
    if (systemErrorCode(err) === 'ENOENT') return undefined;
    throw fromSystemError(err, what);
  }
}

async function statOrUndefined(filePath: string): Promise<Stats | undefined> {
  try {
    return await stat(filePath);
  } catch {
    return undefined;
  }
}

function describeKind(stats: Stats): string {
  if (stats.isDirectory()) return 'a directory';
  if (stats.isFIFO()) return 'a named pipe';
  if (stats.isSocket()) return 'a socket';
  if (stats.isCharacterDevice() || stats.isBlockDevice()) return 'a device';
  if (stats.isSymbolicLink()) return 'a symbolic link';
  return 'not a regular file';
}

/** Whether two paths name the same file (after links); false when either does not exist. */
export async function sameFile(a: string, b: string): Promise<boolean> {
  const [first, second] = await Promise.all([statOrUndefined(a), statOrUndefined(b)]);
  return first !== undefined && second !== undefined && first.dev === second.dev && first.ino === second.ino;
}
