/**
 * Storages that behave like another one but slower, held or failing, so a
 * test can act in the middle of a transfer. Each hook runs before the call
 * it names reaches the real backend.
 */
import type { ObjectWriter, Storage } from '../../src/storage/storage.js';

export interface StorageHooks {
  /** Before every part write. */
  beforeWritePart?: (partIndex: number, signal: AbortSignal | undefined) => Promise<void>;
  /** Before every ranged read. */
  beforeReadRange?: (offset: number, signal: AbortSignal | undefined) => Promise<void>;
  /** Before an object is published. */
  beforeComplete?: () => Promise<void>;
}

export function hookedStorage(inner: Storage, hooks: StorageHooks): Storage {
  return {
    kind: inner.kind,
    location: inner.location,
    // Getters: an S3 backend settles these at init(), after wrapping.
    get capabilities() {
      return inner.capabilities;
    },
    get warnings() {
      return inner.warnings;
    },
    init: (options) => inner.init(options),
    close: () => inner.close(),
    stat: (name) => inner.stat(name),
    list: (options) => inner.list(options),
    delete: (name) => inner.delete(name),
    rewriteHeader: (name, expectedVersion, oldHeaderLength, newHeader, options) =>
      inner.rewriteHeader(name, expectedVersion, oldHeaderLength, newHeader, options),
    readRange: async (name, offset, length, signal) => {
      await hooks.beforeReadRange?.(offset, signal);
      return inner.readRange(name, offset, length, signal);
    },
    ...(inner.readRangeStream === undefined
      ? {}
      : {
          readRangeStream: async function* (name: string, offset: number, length: number, signal?: AbortSignal) {
            await hooks.beforeReadRange?.(offset, signal);
            yield* inner.readRangeStream!(name, offset, length, signal);
          },
        }),
    beginWrite: async (name, options) => hookWriter(await inner.beginWrite(name, options), hooks, options?.signal),
    resumeWrite: async (name, token, options) => hookWriter(await inner.resumeWrite(name, token, options), hooks, options.signal),
    discardWrite: (name, token) => inner.discardWrite(name, token),
  };
}

function hookWriter(writer: ObjectWriter, hooks: StorageHooks, signal: AbortSignal | undefined): ObjectWriter {
  return {
    minPartSize: writer.minPartSize,
    ...(writer.maxParts === undefined ? {} : { maxParts: writer.maxParts }),
    get resumeToken() {
      return writer.resumeToken;
    },
    partReceipt: (index) => writer.partReceipt?.(index),
    suspend: () => writer.suspend?.() ?? writer.abort(),
    writePart: async (index, offset, data) => {
      await hooks.beforeWritePart?.(index, signal);
      return writer.writePart(index, offset, data);
    },
    complete: async (completeOptions) => {
      await hooks.beforeComplete?.();
      return writer.complete(completeOptions);
    },
    abort: () => writer.abort(),
  };
}

/** Every part write and ranged read waits `delayMs` (less if the transfer is cancelled). */
export function slowStorage(inner: Storage, delayMs: number): Storage {
  const pause = (signal: AbortSignal | undefined) =>
    new Promise<void>((resolve) => {
      const stop = () => {
        clearTimeout(timer);
        resolve();
      };
      const timer = setTimeout(() => {
        signal?.removeEventListener('abort', stop);
        resolve();
      }, delayMs);
      signal?.addEventListener('abort', stop, { once: true });
    });
  return hookedStorage(inner, { beforeWritePart: (_, signal) => pause(signal), beforeReadRange: (_, signal) => pause(signal) });
}

/** Part writes, reads past the header and publishing all wait until `gate` resolves. */
export function gatedStorage(inner: Storage, gate: Promise<void>): Storage {
  return hookedStorage(inner, {
    beforeWritePart: () => gate,
    beforeReadRange: async (offset) => {
      if (offset > 0) await gate;
    },
    beforeComplete: () => gate,
  });
}
