/**
 * The file methods of protocol v1, wired to one storage backend and one
 * transfer engine. getServerInfo and rpc.discover belong to the server.
 */
import type { Storage } from '../storage/storage.js';
import type { ResumableTransfers } from '../transfer/resume.js';
import type { TransferEngine } from '../transfer/transfer-engine.js';
import { createAcknowledgeTransfersHandler } from './acknowledge-transfers.js';
import { createCancelTransferHandler } from './cancel-transfer.js';
import { createCreateKeyHandler } from './create-key.js';
import { createDeleteFileHandler } from './delete-file.js';
import { createDownloadHandler } from './download.js';
import { createGetFileInfoHandler } from './get-file-info.js';
import { createGetIdentityHandler } from './get-identity.js';
import type { MethodHandlers } from './handler.js';
import { createListFilesHandler } from './list-files.js';
import { createListTransfersHandler } from './list-transfers.js';
import { createResumeTransferHandler } from './resume-transfer.js';
import { createUploadHandler } from './upload.js';
import type { UserMethodName } from './user-methods.js';
import type { KeySources } from './key-sources.js';
import { createUploadFolderHandler, createUploadFolderResumer } from './upload-folder.js';
import { createDownloadFolderHandler, createDownloadFolderResumer } from './download-folder.js';

export type FileMethodHandlers = Omit<MethodHandlers, 'getServerInfo' | 'rpc.discover' | UserMethodName>;

/**
 * `sources`: the unlocked identity (upload, download, their folder forms and
 * getIdentity without keyPath) and the contacts (a download's trusted authors).
 * `resumable`: the transfer journal's side (resumeTransfer, acknowledgeTransfers, cancelling interrupted transfers). */
export function createFileMethodHandlers(
  storage: Storage,
  engine: TransferEngine,
  resumable?: ResumableTransfers,
  sources?: KeySources,
): FileMethodHandlers {
  // Interrupted folder groups are resumed by the methods that know how to walk the folder or list the store again.
  resumable?.registerGroupResumer('uploadFolder', createUploadFolderResumer(engine, storage));
  resumable?.registerGroupResumer('downloadFolder', createDownloadFolderResumer(engine, storage, sources));
  return {
    upload: createUploadHandler(engine, storage, sources),
    download: createDownloadHandler(engine, storage, sources),
    uploadFolder: createUploadFolderHandler(engine, storage, sources),
    downloadFolder: createDownloadFolderHandler(engine, storage, sources),
    listFiles: createListFilesHandler(storage),
    getFileInfo: createGetFileInfoHandler(storage),
    deleteFile: createDeleteFileHandler(storage, engine.registry),
    createKey: createCreateKeyHandler(storage),
    getIdentity: createGetIdentityHandler(sources?.session),
    cancelTransfer: createCancelTransferHandler(engine, resumable),
    resumeTransfer: createResumeTransferHandler(resumable),
    acknowledgeTransfers: createAcknowledgeTransfersHandler(engine.registry, resumable),
    listTransfers: createListTransfersHandler(engine.registry),
  };
}
