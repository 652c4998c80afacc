/**
 * getIdentity: the public side of an age identity file (its recipient, its
 * public card and the card's id), to give to others so that they can encrypt
 * to it and recognise its author stanzas. Never the secret. Without keyPath,
 * the unlocked identity's (LOCKED when none is); asking does not count as a
 * use for the idle timeout.
 */
import path from 'node:path';
import type { GetIdentity } from '../../protocol/index.js';
import { loadKeyFile } from '../crypto/index.js';
import { CloudlockerError } from '../errors.js';
import { refuseSpecialFile } from '../transfer/local-files.js';
import type { IdentitySession } from '../users/identity-session.js';
import type { MethodHandler } from './handler.js';

export function createGetIdentityHandler(session?: IdentitySession): MethodHandler<typeof GetIdentity> {
  return async ({ keyPath, passphrase }) => {
    if (keyPath === undefined) {
      const unlocked = session?.peek();
      if (session === undefined || unlocked === undefined) {
        throw new CloudlockerError('LOCKED', 'No identity is unlocked: unlock one first, or give keyPath to read an identity file.');
      }
      const { identity } = unlocked;
      const described = session.describe();
      return {
        keyPath: unlocked.keyPath,
        type: identity.type,
        recipient: identity.card.recipientString,
        card: identity.card.card,
        cardId: identity.card.cardId,
        unlocked: true,
        ...(described.idleTimeoutMs === undefined ? {} : { idleTimeoutMs: described.idleTimeoutMs }),
      };
    }
    await refuseSpecialFile(keyPath, 'keyPath');
    const key = await loadKeyFile(keyPath, passphrase === undefined ? {} : { passphrase });
    if (key.format !== 'age') {
      throw new CloudlockerError(
        'KEY_INVALID',
        'The key file could not be used: it is a v1 key file, which has no public identity; create an age identity with createKey.',
      );
    }
    return {
      keyPath: path.resolve(keyPath),
      type: key.identity.type,
      recipient: key.card.recipientString,
      card: key.card.card,
      cardId: key.card.cardId,
    };
  };
}
