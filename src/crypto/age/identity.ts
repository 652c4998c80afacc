/**
 * age identities (the secret), their recipients (the public key files are
 * encrypted to), the author signing key derived from the identity, and the
 * public card that carries recipient and signing key in one string.
 *
 *   X25519 identity:  AGE-SECRET-KEY-1…     (Bech32 of a 32-byte scalar)
 *   hybrid identity:  AGE-SECRET-KEY-PQ-1…  (Bech32 of a 32-byte ML-KEM-768+X25519 seed)
 *   recipients:       age1… (32 bytes) and age1pq1… (1216 bytes), lower case
 *   card:             cloudlockercard1…     (Bech32m, see docs/format.md "Public card")
 */
import { createHash, type KeyObject } from 'node:crypto';
import { bech32, bech32m } from '@scure/base';
import { identityToRecipient } from 'age-encryption';
import { hkdf, hmacSha256, ed25519PrivateKey, ed25519PublicKeyOf, x25519PublicKeyOf } from './primitives.js';
import {
  HYBRID_PUBLIC_KEY_SIZE,
  hybridPublicKeyOf,
  unwrapHybrid,
  prepareX25519,
  unwrapX25519,
  type PreparedX25519,
  wrapHybrid,
  wrapX25519,
  type AgeRecipientKey,
  type RecipientType,
} from './stanzas.js';
import { encodeStanza, type Stanza } from './header.js';
import { ed25519PublicKeyProblem, mlKem768EncapsulationKeyProblem, x25519PublicKeyProblem } from './public-key-checks.js';
import { systemRandom, takeRandom, type RandomSource } from '../random.js';
import { CloudlockerError } from '../../errors.js';

export const CARD_HRP = 'cloudlockercard';
const CARD_TYPE_BYTE: Record<RecipientType, number> = { X25519: 0x01, mlkem768x25519: 0x02 };
const CARD_ID_DOMAIN = 'cloudlocker.dev/v2/card-id\n';
const SIGNING_KEY_INFO = 'cloudlocker.dev/v2/signing-key/';
const RECIPIENT_TAG_INFO = 'cloudlocker.dev/v2/recipient-tag';
/** The stanza type of a recipient tag (docs/format.md 14.2); readers skip it and never count it as a recipient. */
export const RECIPIENT_TAG_STANZA_TYPE = 'cloudlocker.dev/recipient-tag';
/** Bytes of a recipient tag (128 bits: no two recipients of one file collide in practice). */
export const RECIPIENT_TAG_BYTES = 16;
export const CARD_ID_SIZE = 16;

const IDENTITY_HRP: Record<RecipientType, string> = { X25519: 'AGE-SECRET-KEY-', mlkem768x25519: 'AGE-SECRET-KEY-PQ-' };
const RECIPIENT_HRP: Record<RecipientType, string> = { X25519: 'age', mlkem768x25519: 'age1pq' };

/** Why a recipient, card or identity string was refused (no secret in it). */
export class AgeKeyFormatError extends Error {
  override readonly name = 'AgeKeyFormatError';
}

/** What a card says: who to encrypt to, and who signs as its owner. */
export interface AgeCard {
  readonly recipient: AgeRecipientKey;
  /** The age recipient string (age1… or age1pq1…). */
  readonly recipientString: string;
  /** Raw 32-byte Ed25519 public key of the author stanza. */
  readonly signingPublicKey: Buffer;
  /** The card string (cloudlockercard1…). */
  readonly card: string;
  /** 32 lowercase hex digits: the first 16 bytes of SHA-256(domain || card payload). */
  readonly cardId: string;
}

function encodeBech32(hrp: string, bytes: Uint8Array, variant: typeof bech32 | typeof bech32m): string {
  // `false` lifts BIP-173's 90-character limit: hybrid keys need ~2000.
  return variant.encode(hrp, variant.toWords(bytes), false);
}

/** Strict Bech32 decoding: one case throughout, the expected prefix, valid checksum. */
function decodeBech32(text: string, hrp: string, variant: typeof bech32 | typeof bech32m, upper: boolean): Buffer {
  if (text !== (upper ? text.toUpperCase() : text.toLowerCase())) {
    throw new AgeKeyFormatError(`it must be all ${upper ? 'upper' : 'lower'} case`);
  }
  let decoded: { prefix: string; words: number[] };
  try {
    decoded = variant.decode(text.toLowerCase() as `${string}1${string}`, false);
  } catch {
    throw new AgeKeyFormatError('its checksum or encoding is wrong (a character may be mistyped or missing)');
  }
  if (decoded.prefix !== hrp.toLowerCase()) throw new AgeKeyFormatError(`it does not start with "${upper ? hrp : hrp.toLowerCase()}1"`);
  try {
    return Buffer.from(variant.fromWords(decoded.words));
  } catch {
    throw new AgeKeyFormatError('its encoding has invalid padding');
  }
}

export function encodeRecipient(recipient: AgeRecipientKey): string {
  return encodeBech32(RECIPIENT_HRP[recipient.type], recipient.publicKey, bech32);
}

/** Parses an age1… or age1pq1… recipient string. */
export function parseRecipient(text: string): AgeRecipientKey {
  const type: RecipientType = text.startsWith('age1pq1') ? 'mlkem768x25519' : 'X25519';
  const publicKey = decodeBech32(text, RECIPIENT_HRP[type], bech32, false);
  const size = type === 'X25519' ? 32 : HYBRID_PUBLIC_KEY_SIZE;
  if (publicKey.length !== size) throw new AgeKeyFormatError(`a ${type} recipient holds ${size} bytes, this one ${publicKey.length}`);
  const recipient = { type, publicKey };
  checkRecipientKey(recipient);
  return recipient;
}

/**
 * Refuses a recipient whose X25519 key (the whole key, or the X25519 half of
 * a hybrid key) is a low-order point (wrapping a file key to it would use an
 * all-zero shared secret) or not canonically encoded (a file for it would not
 * open with its owner's identity), and a hybrid key whose ML-KEM-768 half
 * fails FIPS 203's modulus check (docs/format.md, "Public card", key checks).
 */
function checkRecipientKey(recipient: AgeRecipientKey): void {
  const x25519Key = recipient.type === 'X25519' ? recipient.publicKey : recipient.publicKey.subarray(HYBRID_PUBLIC_KEY_SIZE - 32);
  const problem = x25519PublicKeyProblem(x25519Key);
  if (problem !== undefined) throw new AgeKeyFormatError(`its X25519 key is refused: ${problem}`);
  if (recipient.type === 'mlkem768x25519') {
    const mlKemProblem = mlKem768EncapsulationKeyProblem(recipient.publicKey.subarray(0, HYBRID_PUBLIC_KEY_SIZE - 32));
    if (mlKemProblem !== undefined) throw new AgeKeyFormatError(`its ML-KEM-768 key is refused: ${mlKemProblem}`);
  }
}

export function cardPayload(recipient: AgeRecipientKey, signingPublicKey: Uint8Array): Buffer {
  return Buffer.concat([Buffer.from([CARD_TYPE_BYTE[recipient.type]]), recipient.publicKey, signingPublicKey]);
}

export function cardIdOf(payload: Uint8Array): string {
  return createHash('sha256').update(CARD_ID_DOMAIN).update(payload).digest().subarray(0, CARD_ID_SIZE).toString('hex');
}

export function makeCard(recipient: AgeRecipientKey, signingPublicKey: Buffer): AgeCard {
  const payload = cardPayload(recipient, signingPublicKey);
  return {
    recipient,
    recipientString: encodeRecipient(recipient),
    signingPublicKey,
    card: encodeBech32(CARD_HRP, payload, bech32m),
    cardId: cardIdOf(payload),
  };
}

/**
 * Parses a cloudlockercard1… string. Every card from outside comes through
 * here (contacts, share and upload recipients, the contact book read back),
 * so this is where its keys are checked: a signing key that is not a
 * canonical, prime-order Ed25519 point, an X25519 key of low order or not
 * canonically encoded, and an ML-KEM-768 key failing FIPS 203's modulus
 * check are refused (public-key-checks.ts says why).
 */
export function parseCard(text: string): AgeCard {
  const payload = decodeBech32(text, CARD_HRP, bech32m, false);
  const type = (Object.keys(CARD_TYPE_BYTE) as RecipientType[]).find((t) => CARD_TYPE_BYTE[t] === payload[0]);
  if (type === undefined) throw new AgeKeyFormatError('its recipient type is unknown');
  const keySize = type === 'X25519' ? 32 : HYBRID_PUBLIC_KEY_SIZE;
  if (payload.length !== 1 + keySize + 32) throw new AgeKeyFormatError(`a ${type} card holds ${1 + keySize + 32} bytes, this one ${payload.length}`);
  const recipient = { type, publicKey: payload.subarray(1, 1 + keySize) };
  checkRecipientKey(recipient);
  const signingPublicKey = payload.subarray(1 + keySize);
  const problem = ed25519PublicKeyProblem(signingPublicKey);
  if (problem !== undefined) throw new AgeKeyFormatError(`its signing key is refused: ${problem}`);
  return makeCard(recipient, signingPublicKey);
}

/** An extra recipient given as age1…, age1pq1… or cloudlockercard1…. */
export function parseRecipientOrCard(text: string): AgeRecipientKey {
  return text.startsWith(`${CARD_HRP}1`) ? parseCard(text).recipient : parseRecipient(text);
}

/**
 * One age identity, with everything derived from it. The secret stays in
 * this object; nothing here logs or prints it (toJSON and inspect hide it).
 */
export class AgeIdentity {
  readonly type: RecipientType;
  readonly #secret: Buffer;
  readonly #signingKey: KeyObject;
  /** The X25519 secret as a KeyObject, made at the first unwrap (importing it per file cost a folder of small files ~3 %). */
  #prepared: PreparedX25519 | undefined;
  #wiped = false;
  readonly card: AgeCard;

  private constructor(type: RecipientType, secret: Buffer) {
    this.type = type;
    this.#secret = secret;
    const publicKey = type === 'X25519' ? x25519PublicKeyOf(secret) : hybridPublicKeyOf(secret);
    const seed = hkdf(secret, Buffer.alloc(0), SIGNING_KEY_INFO + type);
    this.#signingKey = ed25519PrivateKey(seed);
    seed.fill(0);
    this.card = makeCard({ type, publicKey }, ed25519PublicKeyOf(this.#signingKey));
  }

  static fromSecret(type: RecipientType, secret: Uint8Array): AgeIdentity {
    if (secret.length !== 32) throw new AgeKeyFormatError('an identity holds 32 bytes');
    return new AgeIdentity(type, Buffer.from(secret));
  }

  static generate(type: RecipientType = 'X25519', random?: RandomSource): AgeIdentity {
    return new AgeIdentity(type, takeRandom(random ?? systemRandom, 32));
  }

  /** Parses AGE-SECRET-KEY-1… or AGE-SECRET-KEY-PQ-1… (upper case, as age writes them). */
  static parse(text: string): AgeIdentity {
    const type: RecipientType = text.startsWith('AGE-SECRET-KEY-PQ-1') ? 'mlkem768x25519' : 'X25519';
    const secret = decodeBech32(text, IDENTITY_HRP[type], bech32, true);
    if (secret.length !== 32) {
      secret.fill(0);
      throw new AgeKeyFormatError('an identity holds 32 bytes');
    }
    return new AgeIdentity(type, secret);
  }

  get recipient(): string {
    return this.card.recipientString;
  }

  /** The AGE-SECRET-KEY-… line. Only for writing the identity file. */
  encodeSecret(): string {
    this.#assertUsable();
    return encodeBech32(IDENTITY_HRP[this.type], this.#secret, bech32).toUpperCase();
  }

  /** The Ed25519 key the author stanza is signed with. */
  get signingKey(): KeyObject {
    this.#assertUsable();
    return this.#signingKey;
  }

  /** A recipient stanza for this identity's own recipient. */
  wrap(fileKey: Uint8Array, random: RandomSource): Stanza {
    return wrapTo(this.card.recipient, fileKey, random);
  }

  /** The file key from the first stanza that opens with this identity, or null. */
  unwrap(stanzas: readonly Stanza[]): Buffer | null {
    this.#assertUsable();
    if (this.type !== 'X25519') return unwrapHybrid(this.#secret, stanzas);
    this.#prepared ??= prepareX25519(this.#secret);
    return unwrapX25519(this.#prepared, stanzas);
  }

  /**
   * A tag saying "this identity shared this file with `recipient` through
   * `stanza`" that only this identity can compute: HMAC-SHA-256 under a key
   * derived from the secret (HKDF, its own info string), over the file key,
   * the recipient's type and public key and the SHA-256 of the stanza's
   * encoded bytes, cut to 16 bytes. Without the secret it is
   * indistinguishable from random (the store, other recipients); with the
   * file key mixed in, the tags of one recipient in two files are
   * unrelated. The stanza is in the input because a tag alone proves
   * nothing: anyone with the file key can drop the stanza, keep the tag and
   * re-MAC the header. docs/format.md, "Recipient tags".
   */
  recipientTag(fileKey: Uint8Array, recipient: AgeRecipientKey, stanza: Stanza): Buffer {
    this.#assertUsable();
    const key = hkdf(this.#secret, Buffer.alloc(0), RECIPIENT_TAG_INFO);
    try {
      const stanzaHash = createHash('sha256').update(encodeStanza(stanza)).digest();
      return hmacSha256(key, fileKey, Buffer.from(recipient.type, 'utf8'), Buffer.from([0]), recipient.publicKey, stanzaHash).subarray(0, RECIPIENT_TAG_BYTES);
    } finally {
      key.fill(0);
    }
  }

  /** Cross-checks the recipient with age-encryption's own derivation (the reference). */
  async recipientFromReference(): Promise<string> {
    return identityToRecipient(this.encodeSecret());
  }

  /**
   * Overwrites the secret bytes (lock, shutdown). The object is unusable
   * afterwards. The Ed25519 signing key (and the X25519 secret once it has
   * unwrapped a file) lives in a Node KeyObject, whose memory JavaScript
   * cannot overwrite; it is dropped with this object (the X25519 one here).
   */
  wipe(): void {
    this.#secret.fill(0);
    this.#prepared = undefined;
    this.#wiped = true;
  }

  #assertUsable(): void {
    if (this.#wiped) throw new CloudlockerError('LOCKED', 'The identity was locked while this call needed it: unlock it again, or give keyPath.');
  }

  get wiped(): boolean {
    return this.#wiped;
  }

  toJSON(): object {
    return { type: this.type, recipient: this.recipient, cardId: this.card.cardId };
  }

  [Symbol.for('nodejs.util.inspect.custom')](): string {
    return `AgeIdentity(${this.type}, card ${this.card.cardId})`;
  }
}

export function wrapTo(recipient: AgeRecipientKey, fileKey: Uint8Array, random: RandomSource): Stanza {
  return recipient.type === 'X25519' ? wrapX25519(recipient.publicKey, fileKey, random) : wrapHybrid(recipient.publicKey, fileKey, random);
}
