/**
 * cloudlocker for embedding: `startCloudlocker(options)` runs the whole
 * service (wss front door, storage, transfer engine, file methods) in this
 * process, as an Electron main process would; `cloudlocker serve` is a thin
 * layer over it.
 */
import { createFileServices, type FileServicesOptions } from './file-services.js';
import { startServer, type RunningServer, type ServerOptions } from './server/index.js';

export type CloudlockerOptions = Omit<ServerOptions, 'createHandlers'> & FileServicesOptions;

export function startCloudlocker(options: CloudlockerOptions = {}): Promise<RunningServer> {
  const { storageBackend, tuneGarbageCollection, ...serverOptions } = options;
  return startServer({
    ...serverOptions,
    createHandlers: (context) =>
      createFileServices(context, {
        ...(storageBackend === undefined ? {} : { storageBackend }),
        ...(tuneGarbageCollection === undefined ? {} : { tuneGarbageCollection }),
      }),
  });
}

export { DataDirInUseError, ServerStartError, type RunningServer, type ServerOptions } from './server/index.js';
export { CloudlockerError } from './errors.js';
