import { stat } from 'node:fs/promises';
import path from 'node:path';
import { remoteNameProblem, type UploadFolder } from '../../protocol/index.js';
import { keyFileEncryption, storedFormats } from '../crypto/index.js';
import { fromSystemError, InvalidParamsError } from '../errors.js';
import type { Storage } from '../storage/storage.js';
import { walkFolder } from '../transfer/folder-walk.js';
import { isInsideDirectory, refuseSpecialFile } from '../transfer/local-files.js';
import type { TransferEngine } from '../transfer/transfer-engine.js';
import { runFolderUpload } from '../transfer/upload-group.js';
import type { MethodHandler } from './handler.js';
import { refuseKeyInsideStore } from './local-store-paths.js';
import { resolveUploadKey } from './resolve-upload-key.js';

export function createUploadFolderHandler(engine: TransferEngine, storage: Storage): MethodHandler<typeof UploadFolder> {
  return async (params) =>
    // The id is reserved before the first await: a cancelTransfer right after this request must find it.
    engine.reserving('upload', params.transferId, params.name ?? path.basename(path.resolve(params.path)), async (reservation) => {
      const root = path.resolve(params.path);
      let rootStats;
      try {
        rootStats = await stat(root);
      } catch (err) {
        throw fromSystemError(err, 'the folder to upload');
      }
      if (!rootStats.isDirectory()) throw new InvalidParamsError('path is not a folder: use upload for a single file.', 'path');
      const name = params.name ?? path.basename(root);
      if (remoteNameProblem(name) !== undefined) throw new InvalidParamsError("The folder's name is not a valid remote name: pass name.", 'name');
      await refuseSpecialFile(params.keyPath, 'keyPath');
      await refuseKeyInsideStore(storage, params.keyPath, 'keyPath');
      // The key file must not travel with the files it protects.
      if (await isInsideDirectory(params.keyPath, root)) {
        throw new InvalidParamsError('keyPath lies inside the folder to upload: a key must not be stored with the files it protects.', 'keyPath');
      }
      if (storage.kind === 'local' && (await isInsideDirectory(storage.location, root))) {
        throw new InvalidParamsError('path contains the local store itself: choose a folder outside it.', 'path');
      }
      const contents = await walkFolder(root, name);
      reservation.abortController.signal.throwIfAborted();
      const key = await resolveUploadKey(params.keyPath, name, params.keyPassphrase);
      return runFolderUpload(engine, storage, storedFormats, {
        reservation,
        name,
        contents,
        overwrite: params.overwrite ?? false,
        encryptionFor: (fileName) => keyFileEncryption(key.key, { name: fileName }),
        keyPath: key.path,
        keyCreated: key.created,
      });
    });
}
