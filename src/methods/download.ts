import path from 'node:path';
import { lastSegment, type Download } from '../../protocol/index.js';
import { keyFileCredentials, loadKeyFile } from '../crypto/index.js';
import { InvalidParamsError } from '../errors.js';
import type { Storage } from '../storage/storage.js';
import { refuseSpecialFile, sameFile } from '../transfer/local-files.js';
import type { TransferEngine } from '../transfer/transfer-engine.js';
import type { MethodHandler } from './handler.js';
import { refusePlaintextInsideStore } from './local-store-paths.js';

export function createDownloadHandler(engine: TransferEngine, storage: Storage): MethodHandler<typeof Download> {
  return async (params) =>
    // The id is reserved before the first await: a cancelTransfer right after this request must find it.
    engine.reserving('download', params.transferId, params.name, async (reservation) => {
      await refuseSpecialFile(params.keyPath, 'keyPath');
      await refusePlaintextInsideStore(storage, params.destination, 'destination');
      await refuseKeyAsDestination(params.destination, params.name, params.keyPath);
      const key = await loadKeyFile(params.keyPath, params.keyPassphrase === undefined ? {} : { passphrase: params.keyPassphrase });
      const acceptUnauthored = params.acceptUnauthored === true;
      return engine.download({
        reservation,
        name: params.name,
        destination: params.destination,
        overwrite: params.overwrite ?? false,
        createDirectories: params.createDirectories ?? false,
        // Trusted authors: the identity's own card for now (contacts: the users issue passes theirs here).
        credentials: keyFileCredentials(key, { name: params.name, acceptUnauthored }),
        // Journaled so that the download can resume after a restart.
        keyPath: path.resolve(params.keyPath),
        ...(acceptUnauthored ? { acceptUnauthored } : {}),
      });
    });
}

/** With overwrite: true a download onto the key file would destroy the only key that opens the file. */
async function refuseKeyAsDestination(destination: string, name: string, keyPath: string): Promise<void> {
  const targets = [destination, path.join(destination, lastSegment(name))];
  for (const target of targets) {
    if (await sameFile(target, keyPath)) {
      throw new InvalidParamsError('destination is the key file itself: downloading onto it would destroy the key.', 'destination');
    }
  }
}
