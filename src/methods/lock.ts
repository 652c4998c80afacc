import type { Lock } from '../../protocol/index.js';
import type { MethodHandler } from './handler.js';
import type { UsersContext } from './users-context.js';

export function createLockHandler(context: UsersContext): MethodHandler<typeof Lock> {
  return async () => ({ wasUnlocked: context.session.lock('lock') });
}
