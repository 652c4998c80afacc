/**
 * One object being written to the local store: a temporary file in the
 * store's `.tmp` folder, filled by positioned writes (parts may arrive in any
 * order and at once), flushed to the disk as they land (src/fs/flush-behind.ts)
 * and fsynced once more at the end, then handed to the store to publish under
 * its name. Until then the object is invisible; abort() or a failure deletes
 * the temporary, and a crash leaves it for the next init() to remove.
 */
import fs from 'node:fs/promises';
import fsCallbacks from 'node:fs';
import path from 'node:path';
import { closedDescriptorError } from '../../fs/descriptors.js';
import { FlushBehind, type SyncableFile } from '../../fs/flush-behind.js';
import { InFlightCalls } from '../../fs/in-flight.js';
import type { CompleteOptions, ObjectInfo, ObjectWriter, ResumedPart } from '../storage.js';
import { cancelled, throwIfAborted, toStorageError } from './errors.js';

/** Reads and writes go in slices this large, so an aborted signal is noticed between them. */
export const IO_SLICE_BYTES = 4 * 1024 * 1024;

/** Publishes the finished temporary file; provided by LocalStorage. */
/** With `ifVersion`: only over the object of that version (SOURCE_CHANGED otherwise). */
export type PublishObject = (tempPath: string, overwrite: boolean, ifVersion?: string) => Promise<ObjectInfo>;

/**
 * The temporary's open descriptor. Its open (LocalStorage), writes and syncs
 * go through libuv's thread pool with the callback API, lighter than a
 * FileHandle (measured here: open, 2 fstat, 2 reads and a close of a 4 KiB
 * file cost 49–77 µs of CPU through callbacks, 107–138 µs through a
 * FileHandle); its close is synchronous: a metadata-only step on the store's
 * own file, where an awaited one is a thread pool round trip
 * (docs/storage.md). A folder of small files opens and closes one temporary
 * per file. Each call looks its function up on the
 * module object, so that a test can watch or fail it. The writer closes the
 * descriptor only once no write or sync is in flight on it (a number reused
 * after a close must never be written to).
 */
export class TemporaryFile implements SyncableFile {
  private open = true;
  private readonly inFlight = new InFlightCalls();

  constructor(readonly fd: number) {}

  write(data: Uint8Array, offset: number, length: number, position: number): Promise<number> {
    if (!this.open) return Promise.reject(closedDescriptorError('the temporary', 'write'));
    return this.inFlight.run<number>((done) => fsCallbacks.write(this.fd, data, offset, length, position, done));
  }

  datasync(): Promise<void> {
    if (!this.open) return Promise.reject(closedDescriptorError('the temporary', 'fdatasync'));
    return this.inFlight.run<void>((done) => fsCallbacks.fdatasync(this.fd, done));
  }

  sync(): Promise<void> {
    if (!this.open) return Promise.reject(closedDescriptorError('the temporary', 'fsync'));
    return this.inFlight.run<void>((done) => fsCallbacks.fsync(this.fd, done));
  }

  /**
   * Once; later calls do nothing. Synchronous, so it cannot wait: with a
   * write or sync still in flight it throws (a programming error) and leaves
   * the descriptor open.
   */
  close(): void {
    if (!this.open) return;
    this.inFlight.assertIdle('The temporary');
    this.open = false;
    fsCallbacks.closeSync(this.fd);
  }
}

export interface LocalObjectWriterOptions {
  readonly handle: TemporaryFile;
  readonly tempPath: string;
  readonly publish: PublishObject;
  readonly signal?: AbortSignal;
  readonly expectedSize?: number;
  /** Parts already in the temporary (a resumed write). */
  readonly writtenParts?: readonly ResumedPart[];
  /** Called once the writer has completed, been discarded or suspended. */
  readonly onFinished: () => void;
}

interface WrittenPart {
  readonly offset: number;
  readonly length: number;
}

type WriterState = 'writing' | 'completing' | 'completed' | 'discarded' | 'suspended';

export class LocalObjectWriter implements ObjectWriter {
  /** A local file takes parts of any size. */
  readonly minPartSize = 1;

  private state: WriterState = 'writing';
  private readonly parts = new Map<number, WrittenPart>();
  private readonly writesInFlight = new Set<Promise<void>>();
  private handleOpen = true;
  private completion: Promise<ObjectInfo> | undefined;
  private discarding: Promise<void> | undefined;
  private readonly flush: FlushBehind;

  constructor(private readonly options: LocalObjectWriterOptions) {
    this.flush = new FlushBehind(options.handle);
    for (const part of options.writtenParts ?? []) {
      this.parts.set(part.partIndex, { offset: part.offset, length: part.length });
    }
  }

  /** The temporary's file name: it stays in .tmp, and resumeWrite finds it there. */
  get resumeToken(): string {
    return path.basename(this.options.tempPath);
  }

  partReceipt(): undefined {
    return undefined;
  }

  /** Close the temporary but keep it, for a resumeWrite after a restart. */
  async suspend(): Promise<void> {
    if (this.state !== 'writing') {
      await this.abort();
      return;
    }
    this.state = 'suspended';
    await Promise.allSettled(this.writesInFlight);
    await this.closeHandle().catch(() => undefined);
    this.options.onFinished();
  }

  async writePart(partIndex: number, offset: number, data: Uint8Array): Promise<void> {
    throwIfAborted(this.options.signal);
    this.assertWriting();
    if (!Number.isSafeInteger(partIndex) || partIndex < 0) throw new RangeError('partIndex must be an integer >= 0');
    if (!Number.isSafeInteger(offset) || offset < 0) throw new RangeError('offset must be an integer >= 0');
    const write = this.writeAt(offset, data);
    this.writesInFlight.add(write);
    try {
      await write;
    } finally {
      this.writesInFlight.delete(write);
    }
    this.parts.set(partIndex, { offset, length: data.byteLength });
    this.flush.wrote(data.byteLength);
  }

  complete(options: CompleteOptions): Promise<ObjectInfo> {
    if (this.state === 'discarded' || this.state === 'suspended') return Promise.reject(cancelled(this.options.signal));
    if (this.state !== 'writing') return Promise.reject(new Error('complete() was already called on this writer.'));
    this.state = 'completing';
    this.completion = this.completeOnce(options);
    return this.completion;
  }

  async abort(): Promise<void> {
    // A suspended writer's temporary belongs to whoever resumes it.
    if (this.state === 'suspended') return;
    if (this.state === 'completing') {
      // Never delete what complete() may be publishing; wait and see how it ends.
      await this.completion?.catch(() => undefined);
    }
    if (this.state === 'completed') return;
    await this.discard();
  }

  private async completeOnce(options: CompleteOptions): Promise<ObjectInfo> {
    try {
      throwIfAborted(this.options.signal);
      await Promise.allSettled(this.writesInFlight);
      this.assertContiguous();
      await this.flush.finish();
      await this.closeHandle();
      throwIfAborted(this.options.signal);
      const info = await this.options.publish(this.options.tempPath, options.overwrite || options.ifVersion !== undefined, options.ifVersion);
      this.state = 'completed';
      this.options.onFinished();
      return info;
    } catch (err) {
      await this.discard();
      if (err instanceof RangeError) throw err;
      throw toStorageError(err, ['NO_SPACE']);
    }
  }

  /** Writes all of `data` at `offset`, slice by slice; a positioned write may also write less than asked. */
  private async writeAt(offset: number, data: Uint8Array): Promise<void> {
    let done = 0;
    try {
      while (done < data.byteLength) {
        throwIfAborted(this.options.signal);
        const slice = Math.min(IO_SLICE_BYTES, data.byteLength - done);
        const bytesWritten = await this.options.handle.write(data, done, slice, offset + done);
        if (bytesWritten <= 0) throw Object.assign(new Error('EIO: a positioned write wrote nothing'), { code: 'EIO', syscall: 'write' });
        done += bytesWritten;
      }
    } catch (err) {
      throw toStorageError(err, ['NO_SPACE', 'PERMISSION_DENIED']);
    }
  }

  /**
   * The contract: parts 0..n-1, each starting where the previous one ended,
   * all but the last non-empty. A gap would leave zeros in the object, which
   * only decryption would notice, so refuse it here.
   */
  private assertContiguous(): void {
    let end = 0;
    const count = this.parts.size;
    for (let index = 0; index < count; index++) {
      const part = this.parts.get(index);
      if (part === undefined) throw new RangeError(`Part ${index} was never written.`);
      if (part.offset !== end) throw new RangeError(`Part ${index} starts at ${part.offset}, expected ${end}.`);
      if (part.length < this.minPartSize && index < count - 1) {
        throw new RangeError(`Part ${index} is smaller than minPartSize.`);
      }
      end += part.length;
    }
    const { expectedSize } = this.options;
    if (expectedSize !== undefined && expectedSize !== end) {
      throw new RangeError(`The parts hold ${end} bytes, but expectedSize was ${expectedSize}.`);
    }
  }

  private assertWriting(): void {
    if (this.state === 'discarded' || this.state === 'suspended') throw cancelled(this.options.signal);
    if (this.state !== 'writing') throw new Error('writePart() after complete() on the same writer.');
  }

  private async closeHandle(): Promise<void> {
    if (!this.handleOpen) return;
    this.handleOpen = false;
    // A background flush still runs on the handle: let it end before the descriptor goes.
    await this.flush.settle();
    this.options.handle.close();
  }

  /** Close and delete the temporary, once, never rejecting. */
  private discard(): Promise<void> {
    this.discarding ??= (async () => {
      this.state = 'discarded';
      await Promise.allSettled(this.writesInFlight);
      await this.closeHandle().catch(() => undefined);
      // If this fails the file stays in .tmp, which the next init() empties.
      await fs.rm(this.options.tempPath, { force: true }).catch(() => undefined);
      this.options.onFinished();
    })();
    return this.discarding;
  }
}
