import type { RemoveContact } from '../../protocol/index.js';
import type { MethodHandler } from './handler.js';
import type { UsersContext } from './users-context.js';

export function createRemoveContactHandler(context: UsersContext): MethodHandler<typeof RemoveContact> {
  return async (params) => {
    const removed = await context.contacts.remove(params.name);
    return { name: removed.name, removed: true };
  };
}
