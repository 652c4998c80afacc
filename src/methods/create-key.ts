import type { CreateKey } from '../../protocol/index.js';
import { createKeyFile } from '../crypto/index.js';
import type { Storage } from '../storage/storage.js';
import type { MethodHandler } from './handler.js';
import { refuseKeyInsideStore } from './local-store-paths.js';

/** `storage`, when given, is checked so that no key is created inside a local store. */
export function createCreateKeyHandler(storage?: Storage): MethodHandler<typeof CreateKey> {
  return async (params) => {
    if (storage !== undefined) await refuseKeyInsideStore(storage, params.path, 'path');
    const created = await createKeyFile(params.path, params.passphrase === undefined ? {} : { passphrase: params.passphrase });
    return { path: created.path, keyId: created.keyId };
  };
}
