/**
 * Replacing an object's header in place (local store, headerRewrite
 * "in-place"; docs/storage.md "Rewriting a header"). Only for a new header
 * of exactly the old one's length (format v2's header slot makes sharing
 * produce one), so the payload never moves and is never copied.
 *
 * A write into a file is not atomic, so it is made redoable:
 *   1. a redo record (name, the file's dev/ino/size, old and new header, the
 *      mtime to set) is written to .tmp/<sha256(name)>.redo atomically and
 *      fsynced: from here on a crash is completed at the next init();
 *   2. the new header is written over the old at offset 0, the mtime set
 *      (so the version changes), the file fsynced;
 *   3. the record is removed (see removeRedoRecord for why without a directory fsync).
 * Recovery (init(), before serving; and before another in-place write of
 * the same name) completes a record only when the file at the name is
 * still that file (dev, ino, size) and each of its first bytes is the old
 * header's or the new header's byte at that place (old, new, or a torn mix
 * of the two): then the new header is valid for the unchanged payload, and
 * writing it again is idempotent. Otherwise the object was replaced since,
 * and the record is dropped without touching it.
 *
 * Readers never see a torn header: reads that start inside the header
 * region hold the name's region lock shared, the in-place write holds it
 * exclusive (in this process; the data directory's instance lock keeps a
 * second service out).
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { writeFileAtomic } from '../../fs/atomic-file.js';
import { isMissingFileError } from './errors.js';

/** Longest header rewritten in place; reads starting below it take the region lock. */
export const IN_PLACE_MAX_HEADER = 64 * 1024;
export const REDO_SUFFIX = '.redo';
const RECORD_VERSION = 1;
const MAX_RECORD_BYTES = 4 * IN_PLACE_MAX_HEADER;

/** Where a test may stop the sequence (it simulates a crash by never returning). */
export type InPlaceStep = 'before-record' | 'record-written' | 'header-written' | 'synced';
export type InPlaceStepHook = (step: InPlaceStep, handle: fs.FileHandle, newHeader: Uint8Array) => void | Promise<void>;

export interface RedoRecord {
  readonly name: string;
  readonly dev: number;
  readonly ino: number;
  readonly size: number;
  readonly oldHeader: Buffer;
  readonly newHeader: Buffer;
  /** The modification time set with the new header (milliseconds). */
  readonly mtimeMs: number;
  /** The file's modification time before (milliseconds): the new one must differ from it in the version. */
  readonly oldMtimeMs: number;
}

export function redoFileOf(tempDirectory: string, name: string): string {
  return path.join(tempDirectory, createHash('sha256').update(name, 'utf8').digest('hex') + REDO_SUFFIX);
}

function recordBody(record: RedoRecord): Record<string, unknown> {
  return {
    v: RECORD_VERSION,
    name: record.name,
    dev: record.dev,
    ino: record.ino,
    size: record.size,
    oldHeader: record.oldHeader.toString('base64'),
    newHeader: record.newHeader.toString('base64'),
    mtimeMs: record.mtimeMs,
    oldMtimeMs: record.oldMtimeMs,
  };
}

function checksum(body: Record<string, unknown>): string {
  return createHash('sha256').update(JSON.stringify(body), 'utf8').digest('hex');
}

export async function writeRedoRecord(file: string, record: RedoRecord): Promise<void> {
  const body = recordBody(record);
  await writeFileAtomic(file, JSON.stringify({ ...body, check: checksum(body) }), 0o600);
}

/** The record in `file`, or undefined when it is not a whole record this code wrote. */
export async function readRedoRecord(file: string): Promise<RedoRecord | undefined> {
  let text: string;
  try {
    const handle = await fs.open(file, 'r');
    try {
      const buffer = Buffer.alloc(MAX_RECORD_BYTES + 1);
      const { bytesRead } = await handle.read(buffer, 0, buffer.length, 0);
      if (bytesRead > MAX_RECORD_BYTES) return undefined;
      text = buffer.subarray(0, bytesRead).toString('utf8');
    } finally {
      await handle.close();
    }
  } catch (err) {
    if (isMissingFileError(err)) return undefined;
    throw err;
  }
  let parsed: Record<string, unknown>;
  try {
    parsed = JSON.parse(text) as Record<string, unknown>;
  } catch {
    return undefined;
  }
  if (typeof parsed !== 'object' || parsed === null) return undefined;
  const { check, ...body } = parsed;
  if (check !== checksum(body) || body.v !== RECORD_VERSION) return undefined;
  const { name, dev, ino, size, oldHeader, newHeader, mtimeMs, oldMtimeMs } = body;
  if (typeof name !== 'string' || typeof oldHeader !== 'string' || typeof newHeader !== 'string') return undefined;
  if (![dev, ino, size, mtimeMs, oldMtimeMs].every((n) => typeof n === 'number' && Number.isFinite(n))) return undefined;
  const record: RedoRecord = {
    name,
    dev: dev as number,
    ino: ino as number,
    size: size as number,
    oldHeader: Buffer.from(oldHeader, 'base64'),
    newHeader: Buffer.from(newHeader, 'base64'),
    mtimeMs: mtimeMs as number,
    oldMtimeMs: oldMtimeMs as number,
  };
  if (record.oldHeader.length !== record.newHeader.length || record.newHeader.length === 0 || record.newHeader.length > record.size) return undefined;
  return record;
}

/**
 * Removes a record. Without a directory fsync: a removal a crash undoes
 * brings back a record whose write is already done, and recovery then finds
 * the new header (rewritten, idempotent) or another file (dropped).
 */
export async function removeRedoRecord(file: string): Promise<void> {
  await fs.rm(file, { force: true });
}

async function writeFully(handle: fs.FileHandle, bytes: Uint8Array, position: number): Promise<void> {
  let written = 0;
  while (written < bytes.byteLength) {
    const { bytesWritten } = await handle.write(bytes, written, bytes.byteLength - written, position + written);
    written += bytesWritten;
  }
}

async function readFully(handle: fs.FileHandle, length: number): Promise<Buffer> {
  const buffer = Buffer.alloc(length);
  let filled = 0;
  while (filled < length) {
    const { bytesRead } = await handle.read(buffer, filled, length - filled, filled);
    if (bytesRead === 0) break;
    filled += bytesRead;
  }
  return buffer.subarray(0, filled);
}

/** Every byte is the old header's or the new header's at that place: the file holds one of them, or a torn mix. */
function isOldNewOrTorn(current: Buffer, record: RedoRecord): boolean {
  if (current.length !== record.newHeader.length) return false;
  for (let i = 0; i < current.length; i++) {
    if (current[i] !== record.oldHeader[i] && current[i] !== record.newHeader[i]) return false;
  }
  return true;
}

/** The modification time as the version counts it (local-storage.ts describeFile: microseconds, rounded). */
const versionTime = (mtimeMs: number) => Math.round(mtimeMs * 1000);

/**
 * Writes the new header and the planned mtime, then fsyncs: the write the
 * record stands for. A file system with coarse times (FAT: 2 s) may round
 * the planned time back to the old one; the time is then pushed on by whole
 * seconds until the version differs.
 */
async function applyRecord(handle: fs.FileHandle, record: RedoRecord, hook?: InPlaceStepHook): Promise<void> {
  await writeFully(handle, record.newHeader, 0);
  await hook?.('header-written', handle, record.newHeader);
  let mtimeMs = record.mtimeMs;
  for (let attempt = 0; ; attempt++) {
    await handle.utimes(mtimeMs / 1000, mtimeMs / 1000);
    const { mtimeMs: now } = await handle.stat();
    if (versionTime(now) !== versionTime(record.oldMtimeMs) || attempt === 3) break;
    mtimeMs += 2000;
  }
  await handle.sync();
}

export type RecoveryOutcome = 'completed' | 'dropped';

/**
 * Completes or drops the record in `recordFile` for the object at `objectFile`
 * (see the file comment), then removes the record. Rejects on an I/O error,
 * keeping the record for the next attempt.
 */
export async function recoverRedoRecord(recordFile: string, objectFileOf: (name: string) => string): Promise<RecoveryOutcome> {
  const record = await readRedoRecord(recordFile);
  if (record === undefined) {
    // Not a whole record: writeFileAtomic renames only finished records, so this is not ours to act on.
    await removeRedoRecord(recordFile);
    return 'dropped';
  }
  let outcome: RecoveryOutcome = 'dropped';
  let handle: fs.FileHandle | undefined;
  try {
    handle = await fs.open(objectFileOf(record.name), 'r+');
  } catch (err) {
    if (!isMissingFileError(err)) throw err;
  }
  if (handle !== undefined) {
    try {
      const stats = await handle.stat();
      if (stats.isFile() && stats.dev === record.dev && stats.ino === record.ino && stats.size === record.size) {
        const current = await readFully(handle, record.newHeader.length);
        if (isOldNewOrTorn(current, record)) {
          await applyRecord(handle, record);
          outcome = 'completed';
        }
      }
    } finally {
      await handle.close();
    }
  }
  await removeRedoRecord(recordFile);
  return outcome;
}

export interface InPlaceWrite {
  readonly handle: fs.FileHandle;
  readonly name: string;
  readonly stats: { dev: number; ino: number; size: number; mtimeMs: number };
  readonly newHeader: Uint8Array;
  readonly recordFile: string;
  readonly hook?: InPlaceStepHook;
}

/**
 * Steps 1–3 of the file comment on an open object whose version the caller
 * checked under the name's lock, holding the region lock exclusively.
 */
export async function writeHeaderInPlace(write: InPlaceWrite): Promise<void> {
  const { handle, stats, hook } = write;
  const newHeader = Buffer.from(write.newHeader.buffer, write.newHeader.byteOffset, write.newHeader.byteLength);
  const oldHeader = await readFully(handle, newHeader.length);
  if (oldHeader.length !== newHeader.length) throw new Error('the object is shorter than its header');
  // At least 1 ms later than the old mtime whatever the rounding, so the version (inode.size.mtime) changes.
  const mtimeMs = Math.max(Date.now(), Math.floor(stats.mtimeMs) + 2);
  const record: RedoRecord = {
    name: write.name,
    dev: stats.dev,
    ino: stats.ino,
    size: stats.size,
    oldHeader,
    newHeader,
    mtimeMs,
    oldMtimeMs: stats.mtimeMs,
  };
  await hook?.('before-record', handle, newHeader);
  await writeRedoRecord(write.recordFile, record);
  await hook?.('record-written', handle, newHeader);
  try {
    await applyRecord(handle, record, hook);
  } catch (err) {
    // The header may be torn: redo it at once from the record; if that fails
    // too, the record stays for the next init() (or the next write of this name).
    await applyRecord(handle, record);
    throw err;
  }
  await hook?.('synced', handle, newHeader);
  await removeRedoRecord(write.recordFile);
}

/**
 * Shared (readers of the header region) / exclusive (an in-place header
 * write) per name. A waiting writer holds new readers back, so a steady
 * stream of downloads cannot starve a share.
 */
export class RegionLock {
  private readonly states = new Map<string, { readers: number; writer: boolean; writersWaiting: number; wake: (() => void)[] }>();

  private stateOf(key: string) {
    let state = this.states.get(key);
    if (state === undefined) {
      state = { readers: 0, writer: false, writersWaiting: 0, wake: [] };
      this.states.set(key, state);
    }
    return state;
  }

  private release(key: string): void {
    const state = this.states.get(key);
    if (state === undefined) return;
    const waiting = state.wake.splice(0, state.wake.length);
    if (!state.writer && state.readers === 0 && state.writersWaiting === 0 && waiting.length === 0) this.states.delete(key);
    for (const wake of waiting) wake();
  }

  async shared<T>(key: string, task: () => Promise<T>): Promise<T> {
    const state = this.stateOf(key);
    while (state.writer || state.writersWaiting > 0) await new Promise<void>((resolve) => state.wake.push(resolve));
    state.readers += 1;
    try {
      return await task();
    } finally {
      state.readers -= 1;
      this.release(key);
    }
  }

  async exclusive<T>(key: string, task: () => Promise<T>): Promise<T> {
    const state = this.stateOf(key);
    state.writersWaiting += 1;
    try {
      while (state.writer || state.readers > 0) await new Promise<void>((resolve) => state.wake.push(resolve));
    } finally {
      state.writersWaiting -= 1;
    }
    state.writer = true;
    try {
      return await task();
    } finally {
      state.writer = false;
      this.release(key);
    }
  }
}
