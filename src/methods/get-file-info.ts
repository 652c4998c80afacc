import type { GetFileInfo } from '../../protocol/index.js';
import { HEADER_SIZE, plaintextSizeFor, readHeaderInfo } from '../crypto/index.js';
import { CloudlockerError } from '../errors.js';
import type { Storage } from '../storage/storage.js';
import type { MethodHandler } from './handler.js';

/** Reads the stored header only: no key is needed and nothing is decrypted. */
export function createGetFileInfoHandler(storage: Storage): MethodHandler<typeof GetFileInfo> {
  return async ({ name }) => {
    const info = await storage.stat(name);
    const header = await storage.readRange(name, 0, HEADER_SIZE);
    if (header.length !== HEADER_SIZE) throw new CloudlockerError('INTEGRITY');
    const { formatVersion, keyId } = readHeaderInfo(header);
    return {
      name,
      size: plaintextSizeFor(info.storedSize),
      storedSize: info.storedSize,
      modifiedAt: info.modifiedAt.toISOString(),
      keyId,
      formatVersion,
    };
  };
}
