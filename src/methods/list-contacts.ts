import type { ListContacts } from '../../protocol/index.js';
import type { MethodHandler } from './handler.js';
import type { UsersContext } from './users-context.js';

export function createListContactsHandler(context: UsersContext): MethodHandler<typeof ListContacts> {
  return async () => ({ contacts: await context.contacts.list() });
}
