import type { CreateKey } from '../../protocol/index.js';
import { createKeyFile } from '../crypto/index.js';
import type { MethodHandler } from './handler.js';

export function createCreateKeyHandler(): MethodHandler<typeof CreateKey> {
  return async (params) => {
    const created = await createKeyFile(params.path, params.passphrase === undefined ? {} : { passphrase: params.passphrase });
    return { path: created.path, keyId: created.keyId };
  };
}
