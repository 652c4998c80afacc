import path from 'node:path';
import { lastSegment, type Download } from '../../protocol/index.js';
import { keyFileCredentials, loadKeyFile, type LoadedKey } from '../crypto/index.js';
import { InvalidParamsError } from '../errors.js';
import type { Storage } from '../storage/storage.js';
import { refuseSpecialFile, sameFile } from '../transfer/local-files.js';
import type { TransferEngine } from '../transfer/transfer-engine.js';
import type { MethodHandler } from './handler.js';
import { trustedAuthors, unlockedKey, type KeySources } from './key-sources.js';
import { refusePlaintextInsideStore } from './local-store-paths.js';

/** `sources`: the unlocked identity (used when keyPath is left out) and the contacts (trusted authors). */
export function createDownloadHandler(engine: TransferEngine, storage: Storage, sources?: KeySources): MethodHandler<typeof Download> {
  return async (params) =>
    // The id is reserved before the first await: a cancelTransfer right after this request must find it.
    engine.reserving('download', params.transferId, params.name, async (reservation) => {
      await refusePlaintextInsideStore(storage, params.destination, 'destination');
      let key: LoadedKey;
      let keyPath: string;
      if (params.keyPath === undefined) {
        ({ key, path: keyPath } = unlockedKey(sources, 'to download'));
      } else {
        await refuseSpecialFile(params.keyPath, 'keyPath');
        keyPath = path.resolve(params.keyPath);
        key = await loadKeyFile(params.keyPath, params.keyPassphrase === undefined ? {} : { passphrase: params.keyPassphrase });
      }
      await refuseKeyAsDestination(params.destination, params.name, keyPath);
      const acceptUnauthored = params.acceptUnauthored === true;
      // Trusted authors: the identity's own card and every contact's; the result names the one that verified.
      const trusted = await trustedAuthors(key, sources?.contacts);
      return engine.download({
        reservation,
        name: params.name,
        destination: params.destination,
        overwrite: params.overwrite ?? false,
        createDirectories: params.createDirectories ?? false,
        credentials: keyFileCredentials(key, { name: params.name, acceptUnauthored, ...(trusted.authors === undefined ? {} : { authors: trusted.authors }) }),
        describeAuthor: trusted.describe,
        // Journaled so that the download can resume after a restart (the card id: with the unlocked identity, if it is this one).
        keyPath,
        ...(key.format === 'age' ? { keyCardId: key.keyId } : {}),
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
