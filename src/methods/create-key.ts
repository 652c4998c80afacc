import type { CreateKey } from '../../protocol/index.js';
import { createNewKeyFile, publicFacts } from '../crypto/index.js';
import type { Storage } from '../storage/storage.js';
import type { MethodHandler } from './handler.js';
import { refuseKeyInsideStore } from './local-store-paths.js';

/** `storage`, when given, is checked so that no key is created inside a local store. */
export function createCreateKeyHandler(storage?: Storage): MethodHandler<typeof CreateKey> {
  return async (params) => {
    if (storage !== undefined) await refuseKeyInsideStore(storage, params.path, 'path');
    const created = await createNewKeyFile(params.path, {
      ...(params.passphrase === undefined ? {} : { passphrase: params.passphrase }),
      ...(params.type === undefined ? {} : { type: params.type }),
    });
    const { format, keyId, keyType, recipient, card } = publicFacts(created.key);
    return { path: created.path, keyId, type: keyType, format, ...(recipient === undefined ? {} : { recipient, card }) };
  };
}
