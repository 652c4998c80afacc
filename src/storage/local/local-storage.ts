/**
 * The default backend: objects are files under a store directory, one file
 * per object, at the path name-encoding.ts derives from its name.
 *
 * Layout:
 *   <store>/.tmp/<random>.part   writes in progress (emptied by init(), except
 *                                those init({ keepWrites }) names: their file
 *                                name is the writer's resumeToken)
 *   <store>/<encoded name>@      published objects
 *   <store>/.meta/<sha256(name)>.<version>.json
 *                                an object's user metadata, bound to its
 *                                version (see "User metadata" in docs/storage.md)
 *
 * Writes publish atomically (rename, or link() when the name must not exist
 * yet), so a listing never shows a partial object, even after a crash.
 * Listing is served from an in-memory index built by walking the store at
 * init() and kept in step with every publish and delete; the store directory
 * belongs to one server process (changes made behind its back show up in
 * listings after the next start; stat and reads always ask the disk).
 *
 * Metadata-only steps on the store's own files (a stat, the open, fstat and
 * close of an object read, the lookup of a metadata sidecar, the close of a
 * write's temporary) are synchronous calls:
 * each takes microseconds on the inodes the kernel holds, where an awaited
 * one is a round trip through libuv's thread pool (~120 µs here, queued
 * behind every fsync in flight). Anything that reads, writes or syncs data
 * stays asynchronous.
 */
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import fsCallbacks, { closeSync, fstatSync, openSync, statSync } from 'node:fs';
import path from 'node:path';
import { CloudlockerError, InvalidParamsError, systemErrorCode } from '../../errors.js';
import type {
  InitOptions,
  ListOptions,
  ListPage,
  ObjectInfo,
  ObjectReader,
  ObjectWriter,
  ResumeWriteOptions,
  RewriteHeaderOptions,
  RewrittenObjectInfo,
  Storage,
  StorageCapabilities,
  WriteOptions,
} from '../storage.js';
import { MAX_LIST_LIMIT, decodeListCursor, encodeNameCursor, isWellFormedText, MAX_OBJECT_NAME_BYTES } from '../names.js';
import { alreadyExists, isMissingFileError, notFound, throwIfAborted, toStorageError } from './errors.js';
import { KeyedLock } from './keyed-lock.js';
import { IO_SLICE_BYTES, LocalObjectWriter, TemporaryFile } from './local-object-writer.js';
import { decodeObjectPath, encodeObjectPath, OBJECT_SUFFIX } from './name-encoding.js';
import { ObjectIndex } from './object-index.js';
import { openDescriptor } from '../../fs/descriptors.js';
import { syncDirectory, syncDirectoryChain } from '../../fs/durable-fs.js';
import { checkRewriteArguments, sourceChanged } from '../header-rewrite.js';
import { checkMetadataToWrite, checkStoredMetadata, malformedMetadata, type ObjectMetadata } from '../metadata.js';
import { isAlreadyExists, isNoHardLinkError, publishWithoutReplace } from '../../fs/publish.js';
import {
  IN_PLACE_MAX_HEADER,
  probeSettableTimes,
  readRedoRecord,
  recoverRedoRecord,
  RecordPendingError,
  redoFileOf,
  VersionUnchangedError,
  type SetFileTimes,
  REDO_SUFFIX,
  RegionLock,
  writeHeaderInPlace,
  type InPlaceStepHook,
} from './in-place-header.js';

export interface LocalStorageOptions {
  /** The store directory; created by init() if missing. */
  readonly directory: string;
  /** Tests only: called at each step of an in-place header write (fault injection: a hook that never returns is a crash). */
  readonly inPlaceStepHook?: InPlaceStepHook;
  /** Tests only: how file times are set (plays a file system that ignores or rounds them). */
  readonly setFileTimes?: SetFileTimes;
  /** Something the operator should know that does not stop the store (a redo record it could not recover). No secrets. */
  readonly onWarning?: (message: string) => void;
}

/** Name of the store's folder for writes in progress; no encoded name starts with '.'. */
export const TEMP_FOLDER = '.tmp';
const TEMP_SUFFIX = '.part';
/** Name of the store's folder of user metadata sidecars; like .tmp, never an encoded name. */
export const META_FOLDER = '.meta';
/** A sidecar larger than this is not one this backend wrote. */
const MAX_META_FILE_BYTES = 8 * 1024;
const FILE_MODE = 0o600;
const DIRECTORY_MODE = 0o700;
/** How many files init() stats at once while walking the store. */
const WALK_STAT_CONCURRENCY = 64;
/**
 * Longest absolute path the OS accepts, in bytes. macOS stops at 1024; Node
 * passes Windows paths in the \\?\ form, which allows about 32 767.
 */
const MAX_PATH_BYTES = process.platform === 'win32' ? 32_000 : process.platform === 'linux' ? 4095 : 1023;

export class LocalStorage implements Storage {
  readonly kind = 'local';
  readonly location: string;

  private readonly root: string;
  private readonly tempDirectory: string;
  private readonly metaDirectory: string;
  private readonly index = new ObjectIndex();
  private readonly nameLock = new KeyedLock();
  /** Reads of the header region (shared) against in-place header writes (exclusive), per name. */
  private readonly regionLock = new RegionLock();
  private readonly inPlaceStepHook: InPlaceStepHook | undefined;
  private readonly setFileTimes: SetFileTimes | undefined;
  private readonly onWarning: (message: string) => void;
  /** Whether a set mtime takes effect here (probed by init()); in place only then, else the copy path. */
  private timesSettable = false;
  /**
   * Names whose redo record could not be completed yet (both write attempts
   * or the recovery at init() failed): their header may be torn, so a read of
   * the header region first retries the recovery and fails with
   * STORAGE_UNAVAILABLE if it still fails (review s5 finding 8b/c).
   */
  private readonly pendingRecords = new Set<string>();
  private readonly openWriters = new Set<LocalObjectWriter>();
  private hardLinks = true;
  private state: 'new' | 'ready' | 'closed' = 'new';

  constructor(options: LocalStorageOptions) {
    this.root = path.resolve(options.directory);
    this.tempDirectory = path.join(this.root, TEMP_FOLDER);
    this.metaDirectory = path.join(this.root, META_FOLDER);
    this.location = this.root;
    this.inPlaceStepHook = options.inPlaceStepHook;
    this.setFileTimes = options.setFileTimes;
    this.onWarning = options.onWarning ?? ((message) => process.emitWarning(message, 'CloudlockerStorageWarning'));
  }

  /**
   * abortCleansUp always; atomicNoOverwrite when the file system has hard
   * links (known after init()); headers of the same length are rewritten in
   * place, others by a local copy.
   */
  get capabilities(): StorageCapabilities {
    return { abortCleansUp: true, atomicNoOverwrite: this.hardLinks, headerRewrite: 'in-place' };
  }

  /** Creates the store, empties .tmp and indexes the objects. A second call does nothing (it must not delete live writes). */
  async init(options: InitOptions = {}): Promise<void> {
    if (this.state === 'closed') throw closedError();
    if (this.state === 'ready') return;
    try {
      await fs.mkdir(this.root, { recursive: true, mode: DIRECTORY_MODE });
      await fs.mkdir(this.tempDirectory, { recursive: true, mode: DIRECTORY_MODE });
      // Before anything else: an in-place header write a crash interrupted is completed (or dropped) first.
      const keptRecords = await this.recoverInPlaceWrites();
      await this.removeTemporaries(new Set([...(options.keepWrites ?? []), ...keptRecords]));
      this.hardLinks = await this.probeHardLinks();
      this.timesSettable = await probeSettableTimes(this.tempDirectory, this.setFileTimes);
      const objects = await this.walkStore();
      this.index.reset(objects);
      await this.removeOrphanedMetadata(objects);
    } catch (err) {
      throw toStorageError(err, ['PERMISSION_DENIED', 'NO_SPACE']);
    }
    this.state = 'ready';
  }

  async beginWrite(name: string, options: WriteOptions = {}): Promise<ObjectWriter> {
    this.assertReady();
    const entries = this.entriesOf(name);
    checkMetadataToWrite(options.metadata);
    throwIfAborted(options.signal);
    const tempPath = path.join(this.tempDirectory, randomBytes(16).toString('hex') + TEMP_SUFFIX);
    let handle: TemporaryFile;
    try {
      // Asynchronous, unlike the other metadata steps here: creating a file in .tmp waits for the folder,
      // which the renames out of it hold (measured: ~160 µs a create on the JavaScript thread, sf8).
      handle = new TemporaryFile(await openDescriptor(tempPath, 'wx', FILE_MODE));
    } catch (err) {
      throw toStorageError(err, ['PERMISSION_DENIED', 'NO_SPACE']);
    }
    return this.trackWriter(name, entries, handle, tempPath, options, []);
  }

  /** The resumeToken is the temporary's file name in .tmp; its parts are already in that file. */
  async resumeWrite(name: string, resumeToken: string, options: ResumeWriteOptions): Promise<ObjectWriter> {
    this.assertReady();
    const entries = this.entriesOf(name);
    checkMetadataToWrite(options.metadata);
    throwIfAborted(options.signal);
    const tempPath = this.temporaryOf(resumeToken);
    let handle: TemporaryFile;
    try {
      // No O_CREAT: a temporary that is gone must not come back empty.
      handle = new TemporaryFile(await openDescriptor(tempPath, 'r+'));
    } catch (err) {
      if (isMissingFileError(err)) throw notFound(err);
      throw toStorageError(err, ['PERMISSION_DENIED']);
    }
    return this.trackWriter(name, entries, handle, tempPath, options, options.parts);
  }

  async discardWrite(_name: string, resumeToken: string): Promise<void> {
    if (!isTemporaryName(resumeToken)) return;
    await fs.rm(path.join(this.tempDirectory, resumeToken), { force: true }).catch(() => undefined);
  }

  private trackWriter(
    name: string,
    entries: string[],
    handle: TemporaryFile,
    tempPath: string,
    options: WriteOptions,
    writtenParts: ResumeWriteOptions['parts'],
  ): LocalObjectWriter {
    const writer: LocalObjectWriter = new LocalObjectWriter({
      handle,
      tempPath,
      signal: options.signal,
      expectedSize: options.expectedSize,
      writtenParts,
      publish: (from, overwrite, ifVersion) => this.publish(name, entries, from, overwrite, options.metadata, ifVersion),
      onFinished: () => this.openWriters.delete(writer),
    });
    this.openWriters.add(writer);
    return writer;
  }

  /** Path of the temporary a resumeToken names; NOT_FOUND for anything that is not one of ours. */
  private temporaryOf(resumeToken: string): string {
    if (!isTemporaryName(resumeToken)) throw notFound();
    return path.join(this.tempDirectory, resumeToken);
  }

  async readRange(name: string, offset: number, length: number, signal?: AbortSignal): Promise<Uint8Array> {
    this.assertReady();
    if (!Number.isSafeInteger(offset) || offset < 0) throw new RangeError('offset must be an integer >= 0');
    if (!Number.isSafeInteger(length) || length < 0) throw new RangeError('length must be an integer >= 0');
    let buffer: Buffer | undefined;
    const filled = await this.readAt(name, offset, signal, (objectSize) => {
      // Not zeroed: the view handed out covers only the bytes read, and
      // zeroing a part-sized buffer per call cost a download CPU time.
      buffer = Buffer.allocUnsafe(Math.max(0, Math.min(length, objectSize - offset)));
      return buffer;
    });
    return (buffer as Buffer).subarray(0, filled);
  }

  async readRangeInto(name: string, offset: number, target: Uint8Array, signal?: AbortSignal): Promise<number> {
    return this.readAt(name, offset, signal, () => target);
  }

  /**
   * One open of the object for all of a download's parts: each part read is
   * then a single positioned read, not an open, fstat, read and close (four
   * round trips to libuv's thread pool, each waking a pool thread and
   * resolving a promise on the JavaScript thread; docs/benchmarks.md,
   * dl-local). The open file is the version read whatever happens to the
   * name (publishes replace files, they never write into one); reads that
   * start in the header region still exclude an in-place header write of
   * this name, as readRange's do.
   */
  async openReader(name: string, signal?: AbortSignal): Promise<ObjectReader> {
    this.assertReady();
    const file = this.pathOf(this.entriesOf(name));
    throwIfAborted(signal);
    let handle: fs.FileHandle;
    try {
      handle = await fs.open(file, 'r');
    } catch (err) {
      throw isMissingFileError(err) ? notFound(err) : toStorageError(err, []);
    }
    let closing: Promise<void> | undefined;
    return {
      readInto: async (offset, target, readSignal) => {
        this.assertReady();
        if (closing !== undefined) throw new Error('readInto() after close() of the reader.');
        if (!Number.isSafeInteger(offset) || offset < 0) throw new RangeError('offset must be an integer >= 0');
        throwIfAborted(readSignal);
        const read = () => fillFrom(readThrough(handle), target, target.byteLength, offset, readSignal);
        if (offset < IN_PLACE_MAX_HEADER) {
          if (this.pendingRecords.has(name)) await this.recoverPending(name, file);
          return this.regionLock.shared(name, read);
        }
        return read();
      },
      close: () => {
        closing ??= handle.close().catch(() => undefined);
        return closing;
      },
    };
  }

  /**
   * Opens the object, asks `bufferFor` (given the object's size) where to
   * read to, fills it from `offset` and resolves with the bytes read.
   */
  private async readAt(
    name: string,
    offset: number,
    signal: AbortSignal | undefined,
    bufferFor: (objectSize: number) => Uint8Array,
  ): Promise<number> {
    this.assertReady();
    if (!Number.isSafeInteger(offset) || offset < 0) throw new RangeError('offset must be an integer >= 0');
    const file = this.pathOf(this.entriesOf(name));
    throwIfAborted(signal);
    // A read that starts inside the header region excludes an in-place header write of this name: never a torn header.
    if (offset < IN_PLACE_MAX_HEADER) {
      if (this.pendingRecords.has(name)) await this.recoverPending(name, file);
      return this.regionLock.shared(name, () => this.readOpen(file, offset, signal, bufferFor));
    }
    return this.readOpen(file, offset, signal, bufferFor);
  }

  private async readOpen(
    file: string,
    offset: number,
    signal: AbortSignal | undefined,
    bufferFor: (objectSize: number) => Uint8Array,
  ): Promise<number> {
    // Open, fstat and close are metadata-only (see the top of this file): synchronous. The reads are not.
    let fd: number;
    try {
      fd = openSync(file, 'r');
    } catch (err) {
      throw isMissingFileError(err) ? notFound(err) : toStorageError(err, []);
    }
    try {
      const { size } = fstatSync(fd);
      const buffer = bufferFor(size);
      const readAt: PositionedRead = (into, at, length, position) => readFd(fd, into, at, length, position);
      return await fillFrom(readAt, buffer, Math.max(0, Math.min(buffer.byteLength, size - offset)), offset, signal);
    } catch (err) {
      throw toStorageError(err, []);
    } finally {
      // No read is in flight here: each was awaited.
      try {
        closeSync(fd);
      } catch {
        // nothing more to do with it
      }
    }
  }

  async stat(name: string): Promise<ObjectInfo> {
    this.assertReady();
    const file = this.pathOf(this.entriesOf(name));
    try {
      const stats = statSync(file);
      if (!stats.isFile()) throw notFound();
      const info = describeFile(name, stats);
      const metadata = await this.readMetadata(name, info.version);
      return metadata === undefined ? info : { ...info, metadata };
    } catch (err) {
      throw isMissingFileError(err) ? notFound(err) : toStorageError(err, []);
    }
  }

  async list(options: ListOptions): Promise<ListPage> {
    this.assertReady();
    const { limit } = options;
    const prefix = options.prefix ?? '';
    if (!Number.isInteger(limit) || limit < 1 || limit > MAX_LIST_LIMIT) {
      throw new InvalidParamsError(`limit must be an integer from 1 to ${MAX_LIST_LIMIT}.`, 'limit');
    }
    if (typeof prefix !== 'string' || !isWellFormedText(prefix) || Buffer.byteLength(prefix) > MAX_OBJECT_NAME_BYTES) {
      throw new InvalidParamsError('prefix must be valid Unicode text of at most 1024 bytes.', 'prefix');
    }
    const after = options.cursor === undefined ? undefined : decodeListCursor(options.cursor);
    if (options.delimiter === '/') {
      const view = this.index.folderPage({ prefix, after, limit });
      return {
        objects: view.objects.map((info) => ({ ...info, modifiedAt: new Date(info.modifiedAt) })),
        folders: view.folders,
        nextCursor: view.nextAfter === undefined ? null : encodeNameCursor(view.nextAfter),
      };
    }
    const page = this.index.page({ prefix, after, limit });
    const objects = page.objects.map((info) => ({ ...info, modifiedAt: new Date(info.modifiedAt) }));
    const last = objects[objects.length - 1];
    return { objects, nextCursor: page.hasMore && last !== undefined ? encodeNameCursor(last.name) : null };
  }

  async delete(name: string): Promise<void> {
    this.assertReady();
    const file = this.pathOf(this.entriesOf(name));
    await this.nameLock.run(name, async () => {
      let version: string | undefined;
      try {
        version = describeFile(name, await fs.stat(file)).version;
        await fs.unlink(file);
      } catch (err) {
        if (isMissingFileError(err)) {
          this.index.delete(name);
          throw notFound(err);
        }
        throw toStorageError(err, []);
      }
      this.index.delete(name);
      await this.removeMetadata(name, version);
    });
    await this.removeEmptyParents(path.dirname(file));
  }

  /**
   * A new file in .tmp gets the new header and then the payload, copied from
   * the open old file in slices; fsynced, given the old file's mode, and
   * renamed over the object under the name's lock once the object is checked
   * to be still the version copied from. Nothing is visible half-written; a
   * failure, cancel or crash leaves the old object and at most a temporary,
   * which the next init() removes.
   */
  async rewriteHeader(
    name: string,
    expectedVersion: string,
    oldHeaderLength: number,
    newHeader: Uint8Array,
    options: RewriteHeaderOptions = {},
  ): Promise<RewrittenObjectInfo> {
    this.assertReady();
    checkRewriteArguments(expectedVersion, oldHeaderLength, newHeader);
    const entries = this.entriesOf(name);
    const file = this.pathOf(entries);
    const { signal } = options;
    throwIfAborted(signal);
    if (this.timesSettable && newHeader.byteLength === oldHeaderLength && oldHeaderLength > 0 && oldHeaderLength <= IN_PLACE_MAX_HEADER) {
      const inPlace = await this.rewriteHeaderInPlace(name, file, expectedVersion, newHeader, options);
      if (inPlace !== undefined) return inPlace;
    }
    let source;
    try {
      source = await fs.open(file, 'r');
    } catch (err) {
      throw isMissingFileError(err) ? notFound(err) : toStorageError(err, []);
    }
    const tempPath = path.join(this.tempDirectory, randomBytes(16).toString('hex') + TEMP_SUFFIX);
    let published = false;
    try {
      // The open file is the version checked here whatever happens to the
      // name meanwhile: publishes replace files, they never write into one.
      const sourceStats = await source.stat();
      if (!sourceStats.isFile()) throw notFound();
      if (describeFile(name, sourceStats).version !== expectedVersion) throw sourceChanged(name);
      if (oldHeaderLength > sourceStats.size) {
        throw new RangeError(`oldHeaderLength ${oldHeaderLength} is beyond the object's ${sourceStats.size} bytes.`);
      }
      const metadata = await this.readMetadata(name, expectedVersion);
      await this.copyWithNewHeader(source, tempPath, sourceStats, oldHeaderLength, newHeader, options);
      const newVersion = await this.writeMetadataFor(name, tempPath, metadata);
      const info = await this.nameLock.run(name, async () => {
        try {
          throwIfAborted(signal);
          let current;
          try {
            current = await fs.stat(file);
          } catch (err) {
            // Deleted meanwhile: nothing to rewrite any more.
            throw isMissingFileError(err) ? sourceChanged(name) : err;
          }
          if (describeFile(name, current).version !== expectedVersion) throw sourceChanged(name);
          await fs.rename(tempPath, file);
          published = true;
        } catch (err) {
          if (newVersion !== undefined) await this.removeMetadata(name, newVersion);
          throw err;
        }
        await this.removeMetadata(name, expectedVersion);
        await syncDirectory(path.dirname(file));
        const stats = await fs.stat(file);
        const described = describeFile(name, stats);
        this.index.set(described);
        return metadata === undefined ? described : { ...described, metadata };
      });
      return { ...info, modifiedAt: new Date(info.modifiedAt), headerRewrite: 'local-copy' };
    } catch (err) {
      if (err instanceof RangeError) throw err;
      throw toStorageError(err, ['NO_SPACE']);
    } finally {
      await source.close().catch(() => undefined);
      if (!published) await fs.rm(tempPath, { force: true }).catch(() => undefined);
    }
  }

  /**
   * The in-place path of rewriteHeader (in-place-header.ts): under the name's
   * lock (no publish, delete or other rewrite of the name meanwhile), the
   * version checked on the open file, then the header written through a redo
   * record while reads of the header region wait. Undefined when the object
   * must be copied instead (it has user metadata, whose sidecar is bound to
   * the version).
   */
  private async rewriteHeaderInPlace(
    name: string,
    file: string,
    expectedVersion: string,
    newHeader: Uint8Array,
    options: RewriteHeaderOptions,
  ): Promise<RewrittenObjectInfo | undefined> {
    const { signal, onProgress } = options;
    let before;
    try {
      before = await fs.stat(file);
    } catch (err) {
      throw isMissingFileError(err) ? notFound(err) : toStorageError(err, []);
    }
    if (!before.isFile()) throw notFound();
    if (describeFile(name, before).version !== expectedVersion) throw sourceChanged(name);
    if (newHeader.byteLength > before.size) {
      throw new RangeError(`oldHeaderLength ${newHeader.byteLength} is beyond the object's ${before.size} bytes.`);
    }
    if ((await this.readMetadata(name, expectedVersion)) !== undefined) return undefined;
    // Progress as the copy reports it (0 once the version is checked, all just before publishing): no payload moves.
    const payload = before.size - newHeader.byteLength;
    await onProgress?.(0, payload);
    await onProgress?.(payload, payload);
    try {
      const info = await this.nameLock.run(name, async () => {
        throwIfAborted(signal);
        const recordFile = redoFileOf(this.tempDirectory, name);
        // A record an earlier failed write of this name left is completed (or dropped) first, readers held off.
        if (await fileExists(recordFile)) await this.regionLock.exclusive(name, () => this.recoverRecord(name, recordFile, file));
        let handle;
        try {
          handle = await fs.open(file, 'r+');
        } catch (err) {
          // Deleted meanwhile: nothing to rewrite any more.
          if (isMissingFileError(err)) throw sourceChanged(name);
          // A read-only file (or one another program holds, EBUSY on Windows) can still be replaced by a copy.
          if (['EACCES', 'EPERM', 'EBUSY'].includes(systemErrorCode(err) ?? '')) return undefined;
          throw err;
        }
        try {
          const stats = await handle.stat();
          if (!stats.isFile() || describeFile(name, stats).version !== expectedVersion) throw sourceChanged(name);
          // Another link to the inode (a hard-link backup: rsync --link-dest, cp -al) must keep its bytes: copy instead.
          if (stats.nlink !== 1) return undefined;
          try {
            await this.regionLock.exclusive(name, () =>
              writeHeaderInPlace({
                handle,
                name,
                stats,
                newHeader,
                recordFile,
                ...(this.setFileTimes === undefined ? {} : { setTimes: this.setFileTimes }),
                ...(this.inPlaceStepHook === undefined ? {} : { hook: this.inPlaceStepHook }),
              }),
            );
          } catch (err) {
            if (err instanceof RecordPendingError) this.pendingRecords.add(name);
            if (err instanceof VersionUnchangedError) {
              throw new CloudlockerError('STORAGE_UNAVAILABLE', 'The local store did not take a new modification time for the file, so its header was left as it was.', { cause: err });
            }
            throw err;
          }
          const described = describeFile(name, await handle.stat());
          this.index.set(described);
          return described;
        } finally {
          await handle.close().catch(() => undefined);
        }
      });
      return info === undefined ? undefined : { ...info, modifiedAt: new Date(info.modifiedAt), headerRewrite: 'in-place' };
    } catch (err) {
      throw toStorageError(err, ['NO_SPACE', 'PERMISSION_DENIED']);
    }
  }

  /**
   * Completes or drops every redo record in .tmp (in-place-header.ts); before
   * .tmp is emptied. A record that cannot be recovered now (EACCES, EBUSY, …)
   * does not stop the store: it is kept (returned, so .tmp keeps it), its
   * name marked pending, and a warning logged (no secrets: no name, no bytes).
   */
  private async recoverInPlaceWrites(): Promise<string[]> {
    const records = (await fs.readdir(this.tempDirectory)).filter((entry) => entry.endsWith(REDO_SUFFIX));
    const kept: string[] = [];
    for (const entry of records) {
      const recordFile = path.join(this.tempDirectory, entry);
      try {
        await recoverRedoRecord(recordFile, (name) => this.pathOf(this.entriesOf(name)), this.setFileTimes);
      } catch (err) {
        kept.push(entry);
        const record = await readRedoRecord(recordFile).catch(() => undefined);
        if (record !== undefined) this.pendingRecords.add(record.name);
        const code = systemErrorCode(err);
        this.onWarning(
          `The local store could not complete an interrupted header rewrite (${code ?? 'error'}); ` +
            `that file stays unreadable until it can, the rest of the store is served. Record kept: .tmp/${entry}`,
        );
      }
    }
    return kept;
  }

  /** Recovers a name's redo record (the caller holds the name's region lock exclusively); the name stops being pending once it is done. */
  private async recoverRecord(name: string, recordFile: string, file: string): Promise<void> {
    try {
      const outcome = await recoverRedoRecord(recordFile, () => file, this.setFileTimes);
      this.pendingRecords.delete(name);
      if (outcome === 'completed') {
        try {
          this.index.set(describeFile(name, await fs.stat(file)));
        } catch (err) {
          if (!isMissingFileError(err)) throw err;
        }
      }
    } catch (err) {
      this.pendingRecords.add(name);
      throw new CloudlockerError(
        'STORAGE_UNAVAILABLE',
        'An interrupted header rewrite of this file could not be completed yet: check that the local store is writable and has free space, then retry.',
        { cause: err },
      );
    }
  }

  /** A read of a pending name's header region: recover first (writes wait, readers of the name are held off). */
  private async recoverPending(name: string, file: string): Promise<void> {
    await this.nameLock.run(name, () =>
      this.regionLock.exclusive(name, async () => {
        if (!this.pendingRecords.has(name)) return;
        const recordFile = redoFileOf(this.tempDirectory, name);
        if (!(await fileExists(recordFile))) {
          this.pendingRecords.delete(name);
          return;
        }
        await this.recoverRecord(name, recordFile, file);
      }),
    );
  }

  /** Writes `newHeader` then the source's bytes after `oldHeaderLength` into a new temporary, fsynced, with the source's mode. */
  private async copyWithNewHeader(
    source: fs.FileHandle,
    tempPath: string,
    sourceStats: { size: number; mode: number },
    oldHeaderLength: number,
    newHeader: Uint8Array,
    options: RewriteHeaderOptions,
  ): Promise<void> {
    const { signal, onProgress } = options;
    const target = await fs.open(tempPath, 'wx', FILE_MODE);
    try {
      // The object's own mode (open() applied the umask to FILE_MODE); chmod is a no-op where the OS has no modes.
      await target.chmod(sourceStats.mode & 0o777);
      let written = 0;
      while (written < newHeader.byteLength) {
        const { bytesWritten } = await target.write(newHeader, written, newHeader.byteLength - written, written);
        written += bytesWritten;
      }
      const payload = sourceStats.size - oldHeaderLength;
      const buffer = Buffer.allocUnsafe(Math.min(IO_SLICE_BYTES, Math.max(1, payload)));
      let copied = 0;
      await onProgress?.(0, payload);
      while (copied < payload) {
        throwIfAborted(signal);
        const { bytesRead } = await source.read(buffer, 0, Math.min(buffer.byteLength, payload - copied), oldHeaderLength + copied);
        if (bytesRead === 0) throw new CloudlockerError('STORAGE_UNAVAILABLE', 'The stored object was truncated while it was being rewritten.');
        let done = 0;
        while (done < bytesRead) {
          const { bytesWritten } = await target.write(buffer, done, bytesRead - done, newHeader.byteLength + copied + done);
          done += bytesWritten;
        }
        copied += bytesRead;
        await onProgress?.(copied, payload);
      }
      throwIfAborted(signal);
      await target.sync();
    } finally {
      await target.close();
    }
  }

  async close(): Promise<void> {
    if (this.state === 'closed') return;
    this.state = 'closed';
    await Promise.all([...this.openWriters].map((writer) => writer.abort()));
  }

  /** Move a finished temporary to the object's path and record it; under the name's lock. */
  private publish(
    name: string,
    entries: string[],
    tempPath: string,
    overwrite: boolean,
    metadata: ObjectMetadata | undefined,
    ifVersion?: string,
  ): Promise<ObjectInfo> {
    const file = this.pathOf(entries);
    const parent = path.dirname(file);
    return this.nameLock.run(name, async () => {
      // Under the name's lock, as rewriteHeader: no publish of this store can land between the check and the rename.
      if (ifVersion !== undefined && (await this.versionAt(name, file)) !== ifVersion) throw sourceChanged(name);
      // The sidecar first, bound to the version the object will have (a
      // rename or link keeps inode, size and time): a crash in between
      // leaves a sidecar of no object, which init() removes.
      const newVersion = await this.writeMetadataFor(name, tempPath, metadata);
      const oldVersion = overwrite ? await this.versionAt(name, file) : undefined;
      try {
        await this.moveIntoPlace(tempPath, file, parent, overwrite);
      } catch (err) {
        if (newVersion !== undefined) await this.removeMetadata(name, newVersion);
        throw err;
      }
      if (oldVersion !== undefined) await this.removeMetadata(name, oldVersion);
      const stats = statSync(file);
      const info: ObjectInfo = describeFile(name, stats);
      this.index.set(info);
      return { ...info, modifiedAt: new Date(info.modifiedAt), ...(newVersion === undefined ? {} : { metadata: metadata! }) };
    });
  }

  /** rename (overwrite) or publish-if-absent, making the parent directories, then syncing them. */
  private async moveIntoPlace(tempPath: string, file: string, parent: string, overwrite: boolean): Promise<void> {
      for (let attempt = 1; ; attempt++) {
        try {
          // The parent is usually there already (a folder's files share it): a synchronous look (metadata
          // only) then spares the recursive mkdir, a mkdir and a stat through the thread pool per object. A
          // delete that prunes it afterwards makes the rename or link fail with ENOENT: the next attempt makes it.
          // Inside the retry too: a recursive mkdir rejects with ENOENT when
          // a delete prunes the directory between its EEXIST and its stat.
          const firstCreated =
            attempt === 1 && isDirectory(parent) ? undefined : await fs.mkdir(parent, { recursive: true, mode: DIRECTORY_MODE });
          if (overwrite) await fs.rename(tempPath, file);
          else await this.publishIfAbsent(tempPath, file);
          await syncDirectoryChain(firstCreated === undefined ? parent : path.dirname(firstCreated), parent);
          break;
        } catch (err) {
          // A concurrent delete may have pruned the parent (during or after our mkdir): make it again. Four
          // attempts: the first one makes no folder, so three still do, as before the synchronous look.
          if (isMissingFileError(err) && attempt < 4) continue;
          throw err;
        }
      }
  }

  // -- User metadata sidecars (.meta/<sha256(name)>.<version>.json) ---------

  private metadataFileOf(name: string, version: string): string {
    return path.join(this.metaDirectory, `${createHash('sha256').update(name, 'utf8').digest('hex')}.${version}.json`);
  }

  /** The version of the object at `file`, or undefined when there is none. */
  private async versionAt(name: string, file: string): Promise<string | undefined> {
    try {
      return describeFile(name, statSync(file)).version;
    } catch (err) {
      if (isMissingFileError(err)) return undefined;
      throw err;
    }
  }

  /**
   * Writes the sidecar of the finished temporary `tempPath` (fsynced), for
   * the version it has and will keep once published; resolves with that
   * version, or undefined when there is no metadata to keep.
   */
  private async writeMetadataFor(name: string, tempPath: string, metadata: ObjectMetadata | undefined): Promise<string | undefined> {
    if (metadata === undefined || Object.keys(metadata).length === 0) return undefined;
    const version = describeFile(name, await fs.stat(tempPath)).version;
    // Made on first use: a store without metadata keeps its layout.
    await fs.mkdir(this.metaDirectory, { recursive: true, mode: DIRECTORY_MODE });
    const handle = await fs.open(this.metadataFileOf(name, version), 'w', FILE_MODE);
    try {
      await handle.writeFile(JSON.stringify({ metadata }), 'utf8');
      await handle.sync();
    } finally {
      await handle.close();
    }
    return version;
  }

  /** The object's metadata, checked (it comes from the disk, which others can write); undefined when it has none. */
  private async readMetadata(name: string, version: string): Promise<ObjectMetadata | undefined> {
    const sidecar = this.metadataFileOf(name, version);
    // Most objects have none: a synchronous lookup answers that in microseconds, without an open in the thread pool.
    if (!sidecarMayExist(sidecar)) return undefined;
    let text: string;
    try {
      const handle = await fs.open(sidecar, 'r');
      try {
        const buffer = Buffer.alloc(MAX_META_FILE_BYTES + 1);
        const { bytesRead } = await handle.read(buffer, 0, buffer.byteLength, 0);
        if (bytesRead > MAX_META_FILE_BYTES) throw malformedMetadata(name, `its sidecar is over ${MAX_META_FILE_BYTES} bytes`);
        text = buffer.subarray(0, bytesRead).toString('utf8');
      } finally {
        await handle.close();
      }
    } catch (err) {
      if (isMissingFileError(err)) return undefined;
      throw err;
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = undefined;
    }
    const metadata = (parsed as { metadata?: unknown } | undefined)?.metadata;
    if (typeof metadata !== 'object' || metadata === null || Array.isArray(metadata)) throw malformedMetadata(name, 'its sidecar is not one this store wrote');
    return checkStoredMetadata(name, metadata as Record<string, unknown>);
  }

  /** Best effort: a sidecar left behind belongs to no object and is removed by the next init(). */
  private async removeMetadata(name: string, version: string): Promise<void> {
    await fs.rm(this.metadataFileOf(name, version), { force: true }).catch(() => undefined);
  }

  /** Sidecars of no current object (a crash between writing one and publishing, or a failed removal). */
  private async removeOrphanedMetadata(objects: readonly ObjectInfo[]): Promise<void> {
    const live = new Set(objects.map((info) => path.basename(this.metadataFileOf(info.name, info.version ?? ''))));
    let entries: string[];
    try {
      entries = await fs.readdir(this.metaDirectory);
    } catch (err) {
      if (isMissingFileError(err)) return;
      throw err;
    }
    const orphans = entries.filter((entry) => !live.has(entry));
    await Promise.all(orphans.map((entry) => fs.rm(path.join(this.metaDirectory, entry), { recursive: true, force: true })));
  }

  private async publishIfAbsent(tempPath: string, file: string): Promise<void> {
    try {
      // Without hard links there is no atomic "create unless it exists" for a
      // finished file; the name lock makes check-then-rename atomic within
      // this process only. After a link, a leftover temporary is harmless: it
      // sits in .tmp until the next init().
      await publishWithoutReplace(tempPath, file, { hardLinks: this.hardLinks, fallback: 'rename-if-absent' });
    } catch (err) {
      if (isAlreadyExists(err)) throw alreadyExists(err);
      throw err;
    }
  }

  /** Remove directories the object's deletion left empty, up to (not including) the root. */
  private async removeEmptyParents(directory: string): Promise<void> {
    let current = directory;
    while (current !== this.root && current.startsWith(this.root + path.sep)) {
      try {
        await fs.rmdir(current);
      } catch {
        return; // not empty (or already gone): nothing more to prune
      }
      current = path.dirname(current);
    }
  }

  private async removeTemporaries(keep: ReadonlySet<string>): Promise<void> {
    const leftovers = (await fs.readdir(this.tempDirectory)).filter((entry) => !keep.has(entry));
    await Promise.all(leftovers.map((entry) => fs.rm(path.join(this.tempDirectory, entry), { recursive: true, force: true })));
  }

  /** Whether link() works in this store; it decides how overwrite: false publishes. */
  private async probeHardLinks(): Promise<boolean> {
    const probe = path.join(this.tempDirectory, randomBytes(8).toString('hex') + '.probe');
    await fs.writeFile(probe, '', { mode: FILE_MODE, flag: 'wx' });
    try {
      await fs.link(probe, probe + '.link');
      return true;
    } catch (err) {
      if (isNoHardLinkError(err)) return false;
      throw err;
    } finally {
      await fs.rm(probe, { force: true });
      await fs.rm(probe + '.link', { force: true });
    }
  }

  /** Every object in the store, found by walking its directories. */
  private async walkStore(): Promise<ObjectInfo[]> {
    const objects: ObjectInfo[] = [];
    const pending: { file: string; entries: string[]; name: string }[] = [];
    const flush = async (): Promise<void> => {
      const batch = pending.splice(0, pending.length);
      const infos = await Promise.all(
        batch.map(async ({ file, name }) => {
          try {
            const stats = await fs.stat(file);
            return describeFile(name, stats);
          } catch (err) {
            if (isMissingFileError(err)) return undefined; // deleted while we walked
            throw err;
          }
        }),
      );
      for (const info of infos) if (info !== undefined) objects.push(info);
    };
    const visit = async (directory: string, entries: string[]): Promise<void> => {
      for (const dirent of await fs.readdir(directory, { withFileTypes: true })) {
        // Encoded entries never start with '.': this skips .tmp and other programs' hidden files.
        if (dirent.name.startsWith('.')) continue;
        const child = path.join(directory, dirent.name);
        if (dirent.isDirectory()) {
          await visit(child, [...entries, dirent.name]);
        } else if (dirent.isFile() && dirent.name.endsWith(OBJECT_SUFFIX)) {
          const name = decodeObjectPath([...entries, dirent.name]);
          if (name === undefined) continue; // not ours
          pending.push({ file: child, entries, name });
          if (pending.length >= WALK_STAT_CONCURRENCY) await flush();
        }
        // Symbolic links and other file types are never objects.
      }
    };
    await visit(this.root, []);
    await flush();
    return objects;
  }

  private entriesOf(name: string): string[] {
    const entries = encodeObjectPath(name);
    const file = this.pathOf(entries);
    if (Buffer.byteLength(file) > MAX_PATH_BYTES) {
      throw new InvalidParamsError('The remote name is too long for the local store on this system.', 'name');
    }
    return entries;
  }

  private pathOf(entries: readonly string[]): string {
    const file = path.join(this.root, ...entries);
    // Defence in depth: encoded entries cannot climb out, but check anyway.
    const relative = path.relative(this.root, file);
    if (relative === '' || relative.startsWith('..') || path.isAbsolute(relative)) {
      throw new InvalidParamsError('The remote name does not map into the store.', 'name');
    }
    return file;
  }

  private assertReady(): void {
    if (this.state === 'new') throw new Error('LocalStorage.init() must be called before use.');
    if (this.state === 'closed') throw closedError();
  }
}

/** A positioned read into `buffer` of an open file descriptor; resolves with the bytes read. */
function readFd(fd: number, buffer: Uint8Array, offset: number, length: number, position: number): Promise<number> {
  // Looked up on the module object at each call, so a test can make it fail (EIO).
  return new Promise((resolve, reject) =>
    fsCallbacks.read(fd, buffer, offset, length, position, (err, bytesRead) => (err ? reject(err) : resolve(bytesRead))),
  );
}

/** A resumeToken of this backend: the name beginWrite gave a temporary (so no path can be smuggled in). */
function isTemporaryName(token: string): boolean {
  return /^[0-9a-f]{32}\.part$/.test(token);
}

function closedError(): CloudlockerError {
  return new CloudlockerError('STORAGE_UNAVAILABLE', 'The local store has been closed.');
}

/**
 * An object's info from its file's stats. The version changes whenever the
 * object is replaced: a publish renames a new file over the old one, so its
 * inode differs; size and modification time (to the microsecond) join it for
 * file systems without stable inode numbers.
 */
function describeFile(name: string, stats: { size: number; mtimeMs: number; ino: number }): ObjectInfo & { version: string } {
  const version = [stats.ino, stats.size, Math.round(stats.mtimeMs * 1000)].map((n) => n.toString(36)).join('.');
  return { name, storedSize: stats.size, modifiedAt: new Date(stats.mtimeMs), version };
}

/** False when nothing is at `file` (ENOENT, ENOTDIR); true when something is, or the lookup failed otherwise (the open then says why). */
function sidecarMayExist(file: string): boolean {
  try {
    return statSync(file, { throwIfNoEntry: false }) !== undefined;
  } catch (err) {
    return !isMissingFileError(err);
  }
}

async function fileExists(file: string): Promise<boolean> {
  try {
    await fs.access(file);
    return true;
  } catch {
    return false;
  }
}

/** Reads `length` bytes at `position` of an open object into `into` from `at`; resolves with how many it read. */
type PositionedRead = (into: Uint8Array, at: number, length: number, position: number) => Promise<number>;

function readThrough(handle: fs.FileHandle): PositionedRead {
  return async (into, at, length, position) => (await handle.read(into, at, length, position)).bytesRead;
}

/**
 * Reads up to `wanted` bytes of the open object from `offset` into `buffer`
 * (slice by slice, so that an aborted signal is noticed between them) and
 * resolves with how many it read: fewer only at the end of the file.
 */
async function fillFrom(readAt: PositionedRead, buffer: Uint8Array, wanted: number, offset: number, signal: AbortSignal | undefined): Promise<number> {
  try {
    let filled = 0;
    while (filled < wanted) {
      throwIfAborted(signal);
      const slice = Math.min(IO_SLICE_BYTES, wanted - filled);
      const bytesRead = await readAt(buffer, filled, slice, offset + filled);
      // Replacing the object does not affect an open file; only a truncation behind our back ends it early.
      if (bytesRead === 0) break;
      filled += bytesRead;
    }
    throwIfAborted(signal);
    return filled;
  } catch (err) {
    throw toStorageError(err, []);
  }
}

/** Whether `directory` is a directory now (a synchronous stat, looked up on the module object so that a test can steer it). */
function isDirectory(directory: string): boolean {
  try {
    return fsCallbacks.statSync(directory, { throwIfNoEntry: false })?.isDirectory() === true;
  } catch {
    return false; // the mkdir that follows says what is wrong, as before
  }
}
