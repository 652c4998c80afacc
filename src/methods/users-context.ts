/**
 * What the users methods (unlock, lock, getIdentity, the identity copy and
 * contacts) share: the unlocked-identity session, the contact book, and the
 * store without the reserved-name guard (only the identity-copy methods use
 * it, and only for names under .cloudlocker/identities/).
 */
import path from 'node:path';
import { readAnyKeyFile, type AgeIdentity } from '../crypto/age/index.js';
import { keyInvalidError } from '../crypto/crypto-errors.js';
import type { Storage } from '../storage/storage.js';
import type { PendingTemporaries } from '../transfer/pending-temporaries.js';
import type { ContactBook } from '../users/contacts.js';
import type { IdentitySession } from '../users/identity-session.js';

export interface UsersContext {
  readonly session: IdentitySession;
  readonly contacts: ContactBook;
  /** The backend itself, reserved names reachable. */
  readonly rawStorage: Storage;
  /** scrypt work factor (log2 N) of identity copies written; default 18. Lower only in tests. */
  readonly identityCopyLogN?: number;
  /** Skip the passphrase strength rule (tests of other behaviour only). */
  readonly skipPassphraseStrength?: boolean;
  /** Where exportFile records its temporary, so a start after a crash removes it. */
  readonly pendingTemporaries?: PendingTemporaries;
}

/** Reads an age identity file (a v1 key file cannot be unlocked or published). */
export async function readAgeIdentity(keyPath: string, passphrase: string | undefined): Promise<{ identity: AgeIdentity; keyPath: string }> {
  const absolute = path.resolve(keyPath);
  const key = await readAnyKeyFile(absolute, passphrase === undefined ? {} : { passphrase });
  if (key.format !== 'age') {
    throw keyInvalidError('it is a v1 key file: only an age identity can be unlocked, published or shared with. Create one with createKey.');
  }
  return { identity: key.identity, keyPath: absolute };
}
