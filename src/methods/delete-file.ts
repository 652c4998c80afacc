import { randomUUID } from 'node:crypto';
import { MAX_LIST_LIMIT, type DeleteFile, type DeleteProgressParams } from '../../protocol/index.js';
import { CloudlockerError, isCloudlockerError } from '../errors.js';
import type { Storage } from '../storage/storage.js';
import type { TransferRegistry } from '../transfer/transfer-registry.js';
import type { MethodHandler } from './handler.js';

/** Deletions of one folder that run at once: enough to hide an S3 round trip, few enough to leave the store to others. */
const FOLDER_DELETE_CONCURRENCY = 8;

/** `progress`: where a folder deletion's deleteProgress notifications go (the registry's event, throttled as transfer progress is). */
export function createDeleteFileHandler(storage: Storage, progress?: Pick<TransferRegistry, 'emit' | 'progressIntervalMs'>): MethodHandler<typeof DeleteFile> {
  return async ({ name, recursive, operationId }) => {
    if (recursive !== true) {
      await storage.delete(name);
      return { name, deleted: true };
    }
    const id = operationId ?? randomUUID();
    const notify = (params: DeleteProgressParams) => progress?.emit('deleteProgress', params);
    return { name, deleted: true, deletedCount: await deleteFolder(storage, name, id, notify, progress?.progressIntervalMs ?? 100) };
  };
}

/**
 * Delete every object under `<name>/`: list them all first (names only: the
 * total the progress counts towards, and no cursor to keep valid while
 * objects go), then delete FOLDER_DELETE_CONCURRENCY at a time, notifying
 * deleteProgress at most once per interval and once at the end. Objects
 * another client deleted meanwhile are not counted. NOT_FOUND when the folder
 * held none. Not cancellable: what is deleted is gone, so stopping half-way
 * would only leave half a folder; a failure part-way answers the error and a
 * second call finishes.
 */
async function deleteFolder(
  storage: Storage,
  name: string,
  operationId: string,
  notify: (params: DeleteProgressParams) => void,
  intervalMs: number,
): Promise<number> {
  const folder = `${name}/`;
  const names: string[] = [];
  let cursor: string | undefined;
  do {
    const page = await storage.list({ prefix: folder, limit: MAX_LIST_LIMIT, ...(cursor === undefined ? {} : { cursor }) });
    for (const object of page.objects) names.push(object.name);
    cursor = page.nextCursor ?? undefined;
  } while (cursor !== undefined);
  if (names.length === 0) throw new CloudlockerError('NOT_FOUND', 'No file lies in that folder: check the name and try again.');
  let deleted = 0;
  let notifiedAt = Date.now();
  const report = (done: boolean) => notify({ operationId, name, deletedCount: deleted, totalCount: names.length, done });
  report(false);
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
    if (Date.now() - notifiedAt >= intervalMs) {
      notifiedAt = Date.now();
      report(false);
    }
  }
  report(true);
  return deleted;
}
