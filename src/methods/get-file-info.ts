import type { GetFileInfo } from '../../protocol/index.js';
import { storedFormats, type FormatRegistry } from '../crypto/index.js';
import type { Storage } from '../storage/storage.js';
import type { MethodHandler } from './handler.js';

/** Reads the stored header only: no key is needed and nothing is decrypted (what it reports is not authenticated). */
export function createGetFileInfoHandler(storage: Storage, formats: FormatRegistry = storedFormats): MethodHandler<typeof GetFileInfo> {
  return async ({ name }) => {
    const info = await storage.stat(name);
    const { format, header, layout } = await formats.readHeader((position, length) => storage.readRange(name, position, length));
    const summary = format.describe(header);
    return {
      name,
      size: layout.plaintextSizeFor(info.storedSize),
      storedSize: info.storedSize,
      modifiedAt: info.modifiedAt.toISOString(),
      ...(summary.keyId === undefined ? {} : { keyId: summary.keyId }),
      formatVersion: summary.formatVersion,
      format: summary.format === 'age' ? 'age' : 'v1',
      ...(summary.authorCardId === undefined ? {} : { authorCardId: summary.authorCardId }),
      ...(summary.stanzaCount === undefined ? {} : { stanzaCount: summary.stanzaCount }),
    };
  };
}
