import { MAX_LIST_LIMIT, type ListFiles } from '../../protocol/index.js';
import { plaintextSizeFor } from '../crypto/index.js';
import { isCloudlockerError } from '../errors.js';
import type { Storage } from '../storage/storage.js';
import type { MethodHandler } from './handler.js';

export function createListFilesHandler(storage: Storage): MethodHandler<typeof ListFiles> {
  return async (params) => {
    const page = await storage.list({
      ...(params.prefix === undefined ? {} : { prefix: params.prefix }),
      ...(params.cursor === undefined ? {} : { cursor: params.cursor }),
      limit: params.limit ?? MAX_LIST_LIMIT,
    });
    return {
      files: page.objects.map((object) => ({
        name: object.name,
        size: listedPlaintextSize(object.storedSize),
        storedSize: object.storedSize,
        modifiedAt: object.modifiedAt.toISOString(),
      })),
      nextCursor: page.nextCursor,
    };
  };
}

/**
 * A listing shows every object, even one whose stored size no v1 object can
 * have (damaged, or not written by cloudlocker): its size shows as 0, and
 * getFileInfo or download report INTEGRITY for it.
 */
function listedPlaintextSize(storedSize: number): number {
  try {
    return plaintextSizeFor(storedSize);
  } catch (err) {
    if (isCloudlockerError(err, 'INTEGRITY')) return 0;
    throw err;
  }
}
