import type { Unlock } from '../../protocol/index.js';
import type { MethodHandler } from './handler.js';
import { readAgeIdentity, type UsersContext } from './users-context.js';

export function createUnlockHandler(context: UsersContext): MethodHandler<typeof Unlock> {
  return async (params) => {
    const { identity, keyPath } = await readAgeIdentity(params.keyPath, params.keyPassphrase);
    context.session.unlock({ identity, keyPath }, { idleTimeoutMs: params.idleTimeoutMs, cause: 'unlock' });
    const { card } = identity;
    return { unlocked: true, card: card.card, cardId: card.cardId, recipient: card.recipientString, keyPath };
  };
}
