/**
 * The author stanza (docs/format.md, "Author stanza"):
 *
 *   -> cloudlocker.dev/author <card id: 32 lowercase hex>
 *   <body: nameTag (32 bytes) || Ed25519 signature (64 bytes)>
 *
 *   commitment = HKDF-SHA-256(ikm = file key, salt = "", info = "cloudlocker.dev/v2/author/commitment", 32)
 *   nameKey    = HKDF-SHA-256(ikm = file key, salt = "", info = "cloudlocker.dev/v2/author/name-key", 32)
 *   nameTag    = HMAC-SHA-256(nameKey, UTF-8 of the object name)
 *   message    = "cloudlocker.dev/v2/author/signature\n" || card id (16 bytes) || commitment || nameTag
 *   signature  = Ed25519(author signing key, message)
 *
 * Without the file key the stanza shows only which card signed (by design:
 * getFileInfo reports it without a key); commitment and name tag are PRF
 * outputs of the file key, so the stanza cannot be moved to another file,
 * and the name tag makes "made for another name" distinguishable from "forged".
 */
import { AgeError } from './errors.js';
import type { Stanza } from './header.js';
import { bytesEqual, ed25519Sign, ed25519Verify, hkdf, hmacSha256 } from './primitives.js';
import { CARD_ID_SIZE, type AgeCard, type AgeIdentity } from './identity.js';
import { ed25519PublicKeyProblem } from './public-key-checks.js';

export const AUTHOR_STANZA_TYPE = 'cloudlocker.dev/author';
const COMMITMENT_INFO = 'cloudlocker.dev/v2/author/commitment';
const NAME_KEY_INFO = 'cloudlocker.dev/v2/author/name-key';
const SIGNATURE_DOMAIN = Buffer.from('cloudlocker.dev/v2/author/signature\n', 'latin1');
const NAME_TAG_SIZE = 32;
const SIGNATURE_SIZE = 64;
export const AUTHOR_BODY_SIZE = NAME_TAG_SIZE + SIGNATURE_SIZE;
const CARD_ID_PATTERN = /^[0-9a-f]{32}$/;

/** Who may have written a file: a card id and its Ed25519 public key. */
export interface AuthorKey {
  readonly cardId: string;
  readonly signingPublicKey: Buffer;
}

export function authorKeyOf(card: AgeCard): AuthorKey {
  return { cardId: card.cardId, signingPublicKey: card.signingPublicKey };
}

function nameBytes(name: string): Buffer {
  if (typeof name !== 'string' || Buffer.from(name, 'utf8').toString('utf8') !== name) {
    throw new RangeError('an object name must be a well-formed Unicode string');
  }
  return Buffer.from(name, 'utf8');
}

export function authorCommitment(fileKey: Uint8Array): Buffer {
  return hkdf(fileKey, Buffer.alloc(0), COMMITMENT_INFO);
}

export function authorNameTag(fileKey: Uint8Array, name: string): Buffer {
  const key = hkdf(fileKey, Buffer.alloc(0), NAME_KEY_INFO);
  const tag = hmacSha256(key, nameBytes(name));
  key.fill(0);
  return tag;
}

export function authorMessage(cardId: string, commitment: Uint8Array, nameTag: Uint8Array): Buffer {
  return Buffer.concat([SIGNATURE_DOMAIN, Buffer.from(cardId, 'hex'), commitment, nameTag]);
}

/** The author stanza for `fileKey` under `name`, signed by `author`. */
export function makeAuthorStanza(author: AgeIdentity, fileKey: Uint8Array, name: string): Stanza {
  const cardId = author.card.cardId;
  const nameTag = authorNameTag(fileKey, name);
  const signature = ed25519Sign(author.signingKey, authorMessage(cardId, authorCommitment(fileKey), nameTag));
  return { args: [AUTHOR_STANZA_TYPE, cardId], body: Buffer.concat([nameTag, signature]) };
}

/** The card id an author stanza names, without any key; undefined when there is none or it is malformed. */
export function authorCardIdOf(stanzas: readonly Stanza[]): string | undefined {
  const found = stanzas.filter((s) => s.args[0] === AUTHOR_STANZA_TYPE);
  if (found.length !== 1 || found[0].args.length !== 2 || !CARD_ID_PATTERN.test(found[0].args[1])) return undefined;
  return found[0].args[1];
}

export interface AuthorCheck {
  /** Trusted authors (for now: the reader's own identity). */
  readonly authors: readonly AuthorKey[];
  /** The object name the reader asked for. */
  readonly name: string;
  /** Accept a file without an author stanza (importing plain age files). */
  readonly acceptUnauthored?: boolean;
}

/**
 * Checks the author stanza of an authenticated header (its MAC verified with
 * `fileKey`). Returns the author's card id, or undefined for an unauthored
 * file that was explicitly accepted. Order: missing, malformed/duplicated
 * (invalid), unknown card, bad signature (invalid), other name.
 */
export function verifyAuthor(stanzas: readonly Stanza[], fileKey: Uint8Array, check: AuthorCheck): string | undefined {
  const found = stanzas.filter((s) => s.args[0] === AUTHOR_STANZA_TYPE);
  if (found.length === 0) {
    if (check.acceptUnauthored === true) return undefined;
    throw new AgeError('AUTHOR_MISSING', 'refused; accept unauthored files explicitly to import one made elsewhere');
  }
  if (found.length > 1) throw new AgeError('AUTHOR_INVALID', 'it holds more than one author stanza');
  const [stanza] = found;
  if (stanza.args.length !== 2 || !CARD_ID_PATTERN.test(stanza.args[1]) || stanza.body.length !== AUTHOR_BODY_SIZE) {
    throw new AgeError('AUTHOR_INVALID', 'its author stanza is malformed');
  }
  const cardId = stanza.args[1];
  const author = check.authors.find((a) => a.cardId === cardId);
  if (author === undefined) {
    throw new AgeError('AUTHOR_UNKNOWN', `it was signed by card ${cardId}`, { authorCardId: cardId });
  }
  // parseCard already refuses such keys; this keeps a weak key that reached
  // the trusted list by another way from vouching for anything.
  const keyProblem = ed25519PublicKeyProblem(author.signingPublicKey);
  if (keyProblem !== undefined) {
    throw new AgeError('AUTHOR_INVALID', `the signing key of card ${cardId} cannot be trusted: ${keyProblem}`, { authorCardId: cardId });
  }
  const storedTag = stanza.body.subarray(0, NAME_TAG_SIZE);
  const signature = stanza.body.subarray(NAME_TAG_SIZE);
  const message = authorMessage(cardId, authorCommitment(fileKey), storedTag);
  if (Buffer.from(cardId, 'hex').length !== CARD_ID_SIZE || !ed25519Verify(author.signingPublicKey, message, signature)) {
    throw new AgeError('AUTHOR_INVALID', `the signature of card ${cardId} does not verify`, { authorCardId: cardId });
  }
  if (!bytesEqual(storedTag, authorNameTag(fileKey, check.name))) {
    throw new AgeError('WRONG_NAME', 'its author signed it for a different object name', { authorCardId: cardId });
  }
  return cardId;
}
