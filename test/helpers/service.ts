/**
 * The whole service (front door + storage + engine + file methods) for
 * end-to-end tests: startTestServer with the file methods plugged in.
 */
import { createFileServices } from '../../src/file-services.js';
import type { ServerOptions } from '../../src/server/index.js';
import type { Storage } from '../../src/storage/storage.js';
import { startTestServer, type TestServer } from './server.js';

export { slowStorage } from './storage-wrappers.js';

export interface TestServiceOptions extends ServerOptions {
  /** Use this backend instead of the configured one (a wrapped, slow or failing store). */
  storageBackend?: Storage;
  /** scrypt work factor of identity copies (tests use a low one; the product's default is 18). */
  identityCopyLogN?: number;
}

export function startTestService(options: TestServiceOptions = {}): Promise<TestServer> {
  const { storageBackend, identityCopyLogN, ...serverOptions } = options;
  return startTestServer({
    ...serverOptions,
    createHandlers: (context) =>
      createFileServices(context, {
        ...(storageBackend === undefined ? {} : { storageBackend }),
        ...(identityCopyLogN === undefined ? {} : { identityCopyLogN }),
      }),
  });
}
