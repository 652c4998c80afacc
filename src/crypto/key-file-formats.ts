/**
 * What a key file's key does at the format seam. The key file's contents
 * decide, never a guess from its name:
 *
 * - a v1 key file (JSON, `"type": "cloudlocker-key"`) holds a master key:
 *   objects sealed with it are written in format v1, and it opens v1 objects;
 * - an age identity file (`AGE-SECRET-KEY-1…`, `AGE-SECRET-KEY-PQ-1…`, or one
 *   of them encrypted to a passphrase, as `age -p` makes it, armored or not)
 *   holds an age identity: objects sealed with it are written in format v2
 *   (age, with the author stanza), and it opens age objects made for it.
 *
 * Callers above crypto/ (the upload and download methods, a resumed
 * transfer, getIdentity) go through these functions and so name no format.
 * loadKeyFile is the one identity loader (key path + passphrase → the key,
 * its credentials and its public card); the users issue builds unlock on it.
 */
import { InvalidParamsError } from '../errors.js';
import { ageCredentials, ageEncryption, formatAge } from './age/age-format.js';
import type { AuthorKey } from './age/author.js';
import { parseExtraRecipients, resolveRecipients } from './age/file.js';
import { type AgeCard, type AgeIdentity } from './age/identity.js';
import { createIdentityFile, readAnyKeyFile } from './age/identity-file.js';
import type { RecipientType } from './age/stanzas.js';
import { createKeyFile } from './key-file.js';
import type { MasterKey } from './master-key.js';
import type { Credentials, EncryptionSpec, StoredFormat } from './stored-format.js';
import { masterKeyCredentials, v1Encryption } from './v1/v1-format.js';

/** The format new key files write in by default (getServerInfo reports its version). */
export const keyFileFormat: StoredFormat = formatAge;

/** The kinds of key file createKey can make: age X25519 (default), age post-quantum hybrid, or v1 when asked. */
export type NewKeyType = RecipientType | 'v1';
export const NEW_KEY_TYPES: readonly NewKeyType[] = ['X25519', 'mlkem768x25519', 'v1'];
export const DEFAULT_NEW_KEY_TYPE: NewKeyType = 'X25519';

/** A key file's key, as loaded. Holds the secret: never log or serialise it (toJSON hides it). */
export type LoadedKey =
  | { readonly format: 'v1'; readonly keyId: string; readonly key: MasterKey }
  | {
      readonly format: 'age';
      /** The card id: what upload results and getFileInfo report. */
      readonly keyId: string;
      readonly identity: AgeIdentity;
      readonly card: AgeCard;
    };

/**
 * The identity loader: reads the key file at `keyPath` (either format),
 * with the passphrase when it is protected. NOT_FOUND, PERMISSION_DENIED,
 * KEY_INVALID with a reason (malformed, passphrase missing or wrong).
 */
export async function loadKeyFile(keyPath: string, options: { passphrase?: string } = {}): Promise<LoadedKey> {
  const key = await readAnyKeyFile(keyPath, options);
  return withKeyId(key);
}

function withKeyId(key: Awaited<ReturnType<typeof readAnyKeyFile>>): LoadedKey {
  if (key.format === 'v1') return { format: 'v1', keyId: key.key.keyId, key: key.key };
  return { format: 'age', keyId: key.identity.card.cardId, identity: key.identity, card: key.identity.card };
}

export interface CreatedKeyFile {
  readonly path: string;
  readonly key: LoadedKey;
}

/**
 * Creates a new key file: an age identity file by default (X25519, or the
 * post-quantum hybrid when asked; encrypted to the passphrase with age's
 * scrypt recipient when one is given), a v1 key file only when asked for.
 * Atomic, 0600, never over an existing file (ALREADY_EXISTS).
 */
export async function createNewKeyFile(
  path: string,
  options: { type?: NewKeyType; passphrase?: string } = {},
): Promise<CreatedKeyFile> {
  const type = options.type ?? DEFAULT_NEW_KEY_TYPE;
  const passphrase = options.passphrase === undefined ? {} : { passphrase: options.passphrase };
  if (type === 'v1') {
    const created = await createKeyFile(path, passphrase);
    return { path: created.path, key: { format: 'v1', keyId: created.keyId, key: created.key } };
  }
  const created = await createIdentityFile(path, { type, ...passphrase });
  return { path: created.path, key: withKeyId({ format: 'age', identity: created.identity }) };
}

/** The public facts of a key for a result: never the secret. */
export function publicFacts(key: LoadedKey): { format: 'v1' | 'age'; keyId: string; keyType: NewKeyType; recipient?: string; card?: string } {
  if (key.format === 'v1') return { format: 'v1', keyId: key.keyId, keyType: 'v1' };
  return { format: 'age', keyId: key.keyId, keyType: key.identity.type, recipient: key.card.recipientString, card: key.card.card };
}

/**
 * An object name the author stanza can bind: its UTF-8 must round-trip
 * (no lone surrogate). -32602 otherwise, before anything is sealed or read.
 */
export function refuseMalformedName(name: string, param = 'name'): void {
  if (Buffer.from(name, 'utf8').toString('utf8') !== name) {
    throw new InvalidParamsError(`${param} is not well-formed Unicode (it holds a lone surrogate).`, param);
  }
}

/** What an upload names besides the key: the object name, and extra recipients (age keys only). */
export interface SealingContext {
  readonly name: string;
  readonly recipients?: readonly string[];
}

/**
 * How a new object is sealed with a key file's key. For an age identity the
 * extra recipients are checked here, before anything is read or written
 * (-32602 naming `recipients[i]` for one that is invalid, or classical mixed
 * with post-quantum); a v1 key cannot take extra recipients (-32602).
 */
export function keyFileEncryption(key: LoadedKey, context: SealingContext): EncryptionSpec {
  const recipients = context.recipients ?? [];
  if (key.format === 'v1') {
    if (recipients.length > 0) {
      throw new InvalidParamsError(
        'recipients need an age identity: this key file holds a v1 key, which encrypts only to itself.',
        'recipients',
      );
    }
    return v1Encryption(key.key);
  }
  refuseMalformedName(context.name);
  resolveRecipients(key.identity, recipients);
  return ageEncryption(key.identity, context.name, recipients);
}

/**
 * keyFileEncryption's recipient checks for a key file that does not exist
 * yet, of type `keyType`: upload runs them before creating the key file, so
 * bad recipients (-32602 naming `recipients[i]`) leave no file behind.
 */
export function refuseRecipientsForNewKey(keyType: NewKeyType, recipients: readonly string[]): void {
  if (keyType === 'v1') {
    if (recipients.length > 0) {
      throw new InvalidParamsError('recipients need an age identity: keyType v1 makes a v1 key, which encrypts only to itself.', 'recipients');
    }
    return;
  }
  parseExtraRecipients(keyType, recipients);
}

/** What a download names besides the key: the object name and which authors it trusts. */
export interface OpeningContext {
  readonly name: string;
  /**
   * Authors whose objects are accepted. Undefined: the key's own card only.
   * The seam for contacts (users issue): pass their cards' author keys here.
   */
  readonly authors?: readonly AuthorKey[];
  /** Accept an age file without an author stanza (importing one made elsewhere). */
  readonly acceptUnauthored?: boolean;
}

/** What a key file's key opens. */
export function keyFileCredentials(key: LoadedKey, context: OpeningContext): Credentials {
  if (key.format === 'v1') return masterKeyCredentials(key.key);
  refuseMalformedName(context.name);
  return ageCredentials(key.identity, context.name, {
    ...(context.authors === undefined ? {} : { authors: context.authors }),
    acceptUnauthored: context.acceptUnauthored === true,
  });
}
