/**
 * The file methods of protocol v1, wired to one storage backend and one
 * transfer engine. getServerInfo and rpc.discover belong to the server.
 */
import type { Storage } from '../storage/storage.js';
import type { TransferEngine } from '../transfer/transfer-engine.js';
import { createCancelTransferHandler } from './cancel-transfer.js';
import { createCreateKeyHandler } from './create-key.js';
import { createDeleteFileHandler } from './delete-file.js';
import { createDownloadHandler } from './download.js';
import { createGetFileInfoHandler } from './get-file-info.js';
import type { MethodHandlers } from './handler.js';
import { createListFilesHandler } from './list-files.js';
import { createListTransfersHandler } from './list-transfers.js';
import { createUploadHandler } from './upload.js';

export type FileMethodHandlers = Omit<MethodHandlers, 'getServerInfo' | 'rpc.discover'>;

export function createFileMethodHandlers(storage: Storage, engine: TransferEngine): FileMethodHandlers {
  return {
    upload: createUploadHandler(engine, storage),
    download: createDownloadHandler(engine, storage),
    listFiles: createListFilesHandler(storage),
    getFileInfo: createGetFileInfoHandler(storage),
    deleteFile: createDeleteFileHandler(storage),
    createKey: createCreateKeyHandler(storage),
    cancelTransfer: createCancelTransferHandler(engine),
    listTransfers: createListTransfersHandler(engine.registry),
  };
}
