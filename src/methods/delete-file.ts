import type { DeleteFile } from '../../protocol/index.js';
import type { Storage } from '../storage/storage.js';
import type { MethodHandler } from './handler.js';

export function createDeleteFileHandler(storage: Storage): MethodHandler<typeof DeleteFile> {
  return async ({ name }) => {
    await storage.delete(name);
    return { name, deleted: true };
  };
}
