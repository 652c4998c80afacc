import type { AddContact } from '../../protocol/index.js';
import type { MethodHandler } from './handler.js';
import type { UsersContext } from './users-context.js';

export function createAddContactHandler(context: UsersContext): MethodHandler<typeof AddContact> {
  return async (params) => context.contacts.add(params.name, params.card);
}
