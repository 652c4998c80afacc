/**
 * signIn: a new device gets the identity from the store with the passphrase
 * alone. Order: the key path must be free (cheap, before scrypt); fetch the
 * copy; open and check it (identity-copy.ts); write the identity file
 * (atomic, 0600, never over a file); only then unlock. A failure at any step
 * writes nothing.
 */
import path from 'node:path';
import type { SignIn } from '../../protocol/index.js';
import { encryptIdentityText, identityFileText } from '../crypto/age/index.js';
import { pathIsTaken, writeNewFile } from '../crypto/key-file.js';
import { CloudlockerError } from '../errors.js';
import { fetchIdentityCopy, openIdentityCopy } from '../users/identity-copy.js';
import type { MethodHandler } from './handler.js';
import { refuseKeyInsideStore } from './local-store-paths.js';
import type { UsersContext } from './users-context.js';

export function createSignInHandler(context: UsersContext): MethodHandler<typeof SignIn> {
  return async (params) => {
    const { userName, passphrase } = params;
    const keyPath = path.resolve(params.keyPath);
    await refuseKeyInsideStore(context.rawStorage, keyPath, 'keyPath');
    if (await pathIsTaken(keyPath)) {
      throw new CloudlockerError('ALREADY_EXISTS', 'A file already exists at keyPath; it was left untouched: choose another path.');
    }
    const text = await fetchIdentityCopy(context.rawStorage, userName);
    const identity = await openIdentityCopy(text, userName, passphrase);
    if (params.cardId !== undefined && identity.card.cardId !== params.cardId) {
      identity.wipe();
      throw new CloudlockerError(
        'IDENTITY_COPY_INVALID',
        `The identity copy for "${userName}" holds another identity than card ${params.cardId}: it was replaced. Nothing was written.`,
      );
    }
    try {
      const plain = identityFileText(identity, new Date());
      const contents = params.protectKeyFile === true ? await encryptIdentityText(plain, passphrase, { logN: context.identityCopyLogN }) : plain;
      await writeNewFile(keyPath, contents);
    } catch (err) {
      identity.wipe();
      throw err;
    }
    context.session.unlock({ identity, keyPath }, { cause: 'signIn' });
    const { card } = identity;
    return { userName, unlocked: true, card: card.card, cardId: card.cardId, recipient: card.recipientString, keyPath };
  };
}
