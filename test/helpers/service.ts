/**
 * The whole service (front door + storage + engine + file methods) for
 * end-to-end tests: startTestServer with the file methods plugged in.
 */
import { createFileServices } from '../../src/file-services.js';
import type { ServerOptions } from '../../src/server/index.js';
import type { Storage } from '../../src/storage/storage.js';
import { startTestServer, type TestServer } from './server.js';

export interface TestServiceOptions extends ServerOptions {
  /** Use this backend instead of the configured one (a wrapped, slow or failing store). */
  storageBackend?: Storage;
}

export function startTestService(options: TestServiceOptions = {}): Promise<TestServer> {
  const { storageBackend, ...serverOptions } = options;
  return startTestServer({
    ...serverOptions,
    createHandlers: (context) => createFileServices(context, storageBackend === undefined ? {} : { storageBackend }),
  });
}

/** A storage that delays every part write and ranged read, so a test can act mid-transfer. */
export function slowStorage(inner: Storage, delayMs: number): Storage {
  const pause = (signal?: AbortSignal) =>
    new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, delayMs);
      signal?.addEventListener('abort', () => {
        clearTimeout(timer);
        resolve();
      });
    });
  return {
    kind: inner.kind,
    location: inner.location,
    capabilities: inner.capabilities,
    init: () => inner.init(),
    close: () => inner.close(),
    stat: (name) => inner.stat(name),
    list: (options) => inner.list(options),
    delete: (name) => inner.delete(name),
    readRange: async (name, offset, length, signal) => {
      await pause(signal);
      return inner.readRange(name, offset, length, signal);
    },
    beginWrite: async (name, options) => {
      const writer = await inner.beginWrite(name, options);
      return {
        minPartSize: writer.minPartSize,
        writePart: async (index, offset, data) => {
          await pause(options?.signal);
          return writer.writePart(index, offset, data);
        },
        complete: (o) => writer.complete(o),
        abort: () => writer.abort(),
      };
    },
  };
}
