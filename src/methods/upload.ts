import path from 'node:path';
import { remoteNameProblem, type Upload } from '../../protocol/index.js';
import { keyFileEncryption, refuseMalformedName, refuseRecipientsForNewKey } from '../crypto/index.js';
import { CloudlockerError, InvalidParamsError, isCloudlockerError } from '../errors.js';
import type { Storage } from '../storage/storage.js';
import { inspectSource, refuseSpecialFile, sameFile } from '../transfer/local-files.js';
import type { TransferEngine } from '../transfer/transfer-engine.js';
import type { MethodHandler } from './handler.js';
import { refuseKeyInsideStore } from './local-store-paths.js';
import { unlockedKey, type KeySources } from './key-sources.js';
import { resolveUploadKey, type ResolvedKey } from './resolve-upload-key.js';

/** `sources.session`: the unlocked identity, used when keyPath is left out. */
export function createUploadHandler(engine: TransferEngine, storage: Storage, sources?: KeySources): MethodHandler<typeof Upload> {
  return async (params) =>
    // The id is reserved before the first await: a cancelTransfer right after this request must find it.
    engine.reserving('upload', params.transferId, params.name ?? path.basename(params.path), async (reservation) => {
      const source = await inspectSource(params.path);
      const name = params.name ?? defaultRemoteName(source.path);
      const overwrite = params.overwrite ?? false;
      // Refuse early, before a key is created or a byte is read; complete() checks again atomically.
      if (!overwrite) await refuseExisting(storage, name);
      const recipients = params.recipients ?? [];
      let key: ResolvedKey;
      if (params.keyPath === undefined) {
        const unlocked = unlockedKey(sources, 'to upload');
        key = { key: unlocked.key, path: unlocked.path, created: false };
      } else {
        await refuseSpecialFile(params.keyPath, 'keyPath');
        await refuseKeyInsideStore(storage, params.keyPath, 'keyPath');
        // A request cancelled already creates no key file.
        reservation.abortController.signal.throwIfAborted();
        // Bad recipients are refused before a new key file is created (none is left behind);
        // an existing key's own type is checked by keyFileEncryption below, which creates nothing.
        key = await resolveUploadKey(params.keyPath, name, params.keyPassphrase, params.keyType, (newKeyType) => {
          if (newKeyType !== 'v1') refuseMalformedName(name);
          refuseRecipientsForNewKey(newKeyType, recipients);
        });
      }
      if (!key.created && (await sameFile(source.path, key.path))) {
        throw new InvalidParamsError('path is the key file itself: a key must not be stored with the files it protects.', 'path');
      }
      // A key file created here stays even if the upload fails: another upload
      // may already have used it, and deleting it would lose that file for good.
      // Checks the extra recipients (-32602 naming the bad one) before a byte is read.
      const encryption = keyFileEncryption(key.key, { name, recipients });
      return engine.upload({
        reservation,
        source,
        name,
        overwrite,
        encryption,
        keyPath: key.path,
        keyCreated: key.created,
        // Public; journaled so that a resume may use the unlocked identity if it is this one.
        ...(key.key.format === 'age' ? { keyCardId: key.key.keyId } : {}),
        ...(params.recipients === undefined || params.recipients.length === 0 ? {} : { recipients: params.recipients }),
      });
    });
}

function defaultRemoteName(sourcePath: string): string {
  const name = path.basename(sourcePath);
  if (remoteNameProblem(name) !== undefined) {
    throw new InvalidParamsError("The file's name is not a valid remote name: pass name.", 'name');
  }
  return name;
}

async function refuseExisting(storage: Storage, name: string): Promise<void> {
  try {
    await storage.stat(name);
  } catch (err) {
    if (isCloudlockerError(err, 'NOT_FOUND')) return;
    throw err;
  }
  throw new CloudlockerError('ALREADY_EXISTS', 'A file with this name is already stored: pass overwrite: true to replace it.');
}
