import type { PublishIdentity } from '../../protocol/index.js';
import { DEFAULT_SCRYPT_LOG_N } from '../crypto/age/index.js';
import { sealIdentityCopy, storeIdentityCopy } from '../users/identity-copy.js';
import { requireStrongPassphrase } from '../users/passphrase-strength.js';
import type { MethodHandler } from './handler.js';
import { readAgeIdentity, type UsersContext } from './users-context.js';

export function createPublishIdentityHandler(context: UsersContext): MethodHandler<typeof PublishIdentity> {
  return async (params) => {
    const { userName, passphrase } = params;
    // The cheap checks first: the strength rule, then the identity, then scrypt.
    if (context.skipPassphraseStrength !== true) await requireStrongPassphrase(passphrase, [userName], 'passphrase');
    // One read from keyPath is this call's alone: wiped once done (the unlocked identity stays the session's).
    const fromFile = params.keyPath === undefined ? undefined : (await readAgeIdentity(params.keyPath, params.keyPassphrase)).identity;
    const identity = fromFile ?? context.session.use('to publish').identity;
    try {
      const logN = context.identityCopyLogN ?? DEFAULT_SCRYPT_LOG_N;
      const text = await sealIdentityCopy(identity, userName, passphrase, { logN });
      await storeIdentityCopy(context.rawStorage, userName, text, params.overwrite === true);
      return { userName, cardId: identity.card.cardId, scryptLogN: logN };
    } finally {
      fromFile?.wipe();
    }
  };
}
