import type { ChangePassphrase } from '../../protocol/index.js';
import { DEFAULT_SCRYPT_LOG_N } from '../crypto/age/index.js';
import { fetchIdentityCopy, openIdentityCopy, sealIdentityCopy, storeIdentityCopy } from '../users/identity-copy.js';
import { requireStrongPassphrase } from '../users/passphrase-strength.js';
import type { MethodHandler } from './handler.js';
import type { UsersContext } from './users-context.js';

/**
 * Opens the copy with the current passphrase (so only someone who knows it
 * can change it) and replaces it, in one atomic publish, with the same
 * identity under the new passphrase. The identity, and so every file, stays.
 */
export function createChangePassphraseHandler(context: UsersContext): MethodHandler<typeof ChangePassphrase> {
  return async (params) => {
    const { userName, passphrase, newPassphrase } = params;
    if (context.skipPassphraseStrength !== true) await requireStrongPassphrase(newPassphrase, [userName], 'newPassphrase');
    const identity = await openIdentityCopy(await fetchIdentityCopy(context.rawStorage, userName), userName, passphrase);
    try {
      const text = await sealIdentityCopy(identity, userName, newPassphrase, { logN: context.identityCopyLogN ?? DEFAULT_SCRYPT_LOG_N });
      await storeIdentityCopy(context.rawStorage, userName, text, true);
      return { userName, cardId: identity.card.cardId, changed: true };
    } finally {
      identity.wipe();
    }
  };
}
