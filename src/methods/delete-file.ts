import { MAX_LIST_LIMIT, type DeleteFile } from '../../protocol/index.js';
import { CloudlockerError, isCloudlockerError } from '../errors.js';
import type { Storage } from '../storage/storage.js';
import type { MethodHandler } from './handler.js';

/** Deletions of one folder that run at once: enough to hide an S3 round trip, few enough to leave the store to others. */
const FOLDER_DELETE_CONCURRENCY = 8;

export function createDeleteFileHandler(storage: Storage): MethodHandler<typeof DeleteFile> {
  return async ({ name, recursive }) => {
    if (recursive !== true) {
      await storage.delete(name);
      return { name, deleted: true };
    }
    return { name, deleted: true, deletedCount: await deleteFolder(storage, `${name}/`) };
  };
}

/**
 * Delete every object under `folder`, a page at a time (a cursor stays valid
 * after the objects it points past are deleted). Objects another client
 * deleted meanwhile are not counted. NOT_FOUND when the folder held none.
 */
async function deleteFolder(storage: Storage, folder: string): Promise<number> {
  let deleted = 0;
  let listed = 0;
  let cursor: string | undefined;
  do {
    const page = await storage.list({ prefix: folder, limit: MAX_LIST_LIMIT, ...(cursor === undefined ? {} : { cursor }) });
    listed += page.objects.length;
    const names = page.objects.map((object) => object.name);
    for (let start = 0; start < names.length; start += FOLDER_DELETE_CONCURRENCY) {
      const results = await Promise.all(
        names.slice(start, start + FOLDER_DELETE_CONCURRENCY).map(async (objectName) => {
          try {
            await storage.delete(objectName);
            return 1;
          } catch (err) {
            if (isCloudlockerError(err, 'NOT_FOUND')) return 0;
            throw err;
          }
        }),
      );
      for (const count of results) deleted += count;
    }
    cursor = page.nextCursor ?? undefined;
  } while (cursor !== undefined);
  if (listed === 0) throw new CloudlockerError('NOT_FOUND', 'No file lies in that folder: check the name and try again.');
  return deleted;
}
