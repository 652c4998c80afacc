/**
 * The passphrase-protected copy of a user's identity kept in the store, so
 * that a new device signs in with the passphrase alone
 * (docs/security.md, "Identity copy in the store").
 *
 * Where: `.cloudlocker/identities/<user name>` (storage/reserved-names.ts:
 * no file method can list, read, overwrite or delete it).
 *
 * What: a standard passphrase-protected age identity file (age scrypt,
 * armored, as `age -p -a` makes; `age -d` opens it) whose plaintext is the
 * identity file with one more comment line, `# cloudlocker user: <name>`.
 * The comment sits under the AEAD, so it binds the copy to the user name:
 * a copy moved or copied to another user name (two users who chose the same
 * passphrase) is refused as IDENTITY_COPY_INVALID, as is a copy that opens
 * but is damaged or holds no valid identity.
 *
 * The store is not trusted. A copy it made itself cannot open with the
 * user's passphrase (it would have to know it): sign-in then fails with
 * KEY_INVALID (`passphraseWrong`, which cannot be told apart from a mistyped
 * passphrase) and writes nothing.
 */
import { CloudlockerError, isCloudlockerError } from '../errors.js';
import {
  AgeIdentity,
  DEFAULT_SCRYPT_LOG_N,
  encryptIdentityText,
  identityFileText,
  parseIdentityFileText,
} from '../crypto/age/index.js';
import { decryptIdentityText } from '../crypto/age/identity-file.js';
import { RESERVED_PREFIX } from '../storage/reserved-names.js';
import type { Storage } from '../storage/storage.js';

export const IDENTITY_COPY_PREFIX = `${RESERVED_PREFIX}identities/`;
/** A protected X25519 identity file is under 1 KiB, a hybrid one under 2 KiB: anything far larger is not a copy. */
export const MAX_IDENTITY_COPY_BYTES = 64 * 1024;
const BINDING_COMMENT = '# cloudlocker user: ';

export function identityCopyName(userName: string): string {
  return `${IDENTITY_COPY_PREFIX}${userName}`;
}

function copyInvalid(userName: string, why: string): CloudlockerError {
  return new CloudlockerError(
    'IDENTITY_COPY_INVALID',
    `The identity copy for "${userName}" in the store cannot be trusted: ${why}. Nothing was written.`,
  );
}

/** The plaintext of a copy: the identity file, bound to the user name. */
export function identityCopyText(identity: AgeIdentity, userName: string, created: Date): string {
  return `${BINDING_COMMENT}${userName}\n${identityFileText(identity, created)}`;
}

/** Seals an identity for `userName` under `passphrase` (armored age scrypt). */
export async function sealIdentityCopy(identity: AgeIdentity, userName: string, passphrase: string, options: { logN?: number; now?: Date } = {}): Promise<string> {
  return encryptIdentityText(identityCopyText(identity, userName, options.now ?? new Date()), passphrase, {
    logN: options.logN ?? DEFAULT_SCRYPT_LOG_N,
  });
}

/**
 * Opens a copy's text for `userName`. KEY_INVALID (passphraseWrong) when the
 * passphrase does not open it; IDENTITY_COPY_INVALID when it opens but is
 * not a copy made for this user name, or is not a protected identity at all.
 */
export async function openIdentityCopy(text: string, userName: string, passphrase: string): Promise<AgeIdentity> {
  if (!text.trimStart().startsWith('-----BEGIN AGE ENCRYPTED FILE-----')) {
    throw copyInvalid(userName, 'it is not a passphrase-protected age file');
  }
  let plaintext: string;
  try {
    plaintext = await decryptIdentityText(text, passphrase);
  } catch (err) {
    if (isCloudlockerError(err, 'KEY_INVALID') && err.details?.passphraseWrong === true) {
      throw new CloudlockerError(
        'KEY_INVALID',
        `The passphrase does not open the identity copy of "${userName}": it is wrong, or the copy in the store was replaced by someone who does not know it.`,
        { details: { passphraseWrong: true } },
      );
    }
    if (isCloudlockerError(err, 'KEY_INVALID')) throw copyInvalid(userName, 'it is damaged');
    throw err;
  }
  const lines = plaintext.split('\n');
  const bindings = lines.filter((line) => line.startsWith(BINDING_COMMENT));
  if (bindings.length !== 1) throw copyInvalid(userName, 'it does not say which user name it was made for');
  if (bindings[0].slice(BINDING_COMMENT.length).replace(/\r$/, '') !== userName) {
    throw copyInvalid(userName, 'it was made for another user name (it may have been moved or copied)');
  }
  try {
    return parseIdentityFileText(plaintext);
  } catch {
    throw copyInvalid(userName, 'it holds no valid identity');
  }
}

/** The copy's text as the store holds it; NOT_FOUND when there is none. */
export async function fetchIdentityCopy(storage: Storage, userName: string): Promise<string> {
  const name = identityCopyName(userName);
  let size: number;
  try {
    size = (await storage.stat(name)).storedSize;
  } catch (err) {
    if (isCloudlockerError(err, 'NOT_FOUND')) {
      throw new CloudlockerError('NOT_FOUND', `No identity copy is kept for user name "${userName}" in this store: check the name, or publish one from a device that has the identity.`);
    }
    throw err;
  }
  if (size > MAX_IDENTITY_COPY_BYTES) throw copyInvalid(userName, 'it is far too large to be one');
  const bytes = await storage.readRange(name, 0, MAX_IDENTITY_COPY_BYTES + 1);
  if (bytes.length > MAX_IDENTITY_COPY_BYTES) throw copyInvalid(userName, 'it is far too large to be one');
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw copyInvalid(userName, 'it is not text');
  }
}

/** Writes the copy in one atomic publish (local: rename; S3: one PUT). ALREADY_EXISTS unless `overwrite`. */
export async function storeIdentityCopy(storage: Storage, userName: string, text: string, overwrite: boolean): Promise<void> {
  const data = Buffer.from(text, 'utf8');
  const writer = await storage.beginWrite(identityCopyName(userName), { expectedSize: data.length });
  try {
    await writer.writePart(0, 0, data);
    await writer.complete({ overwrite });
  } catch (err) {
    await writer.abort();
    if (isCloudlockerError(err, 'ALREADY_EXISTS')) {
      throw new CloudlockerError(
        'ALREADY_EXISTS',
        `An identity copy is already kept for user name "${userName}": pass overwrite: true to replace it, or use changePassphrase.`,
      );
    }
    throw err;
  }
}
