/**
 * Whole age objects as cloudlocker writes and reads them (format v2):
 * sealing (header with recipient stanzas and the author stanza, payload
 * nonce, then chunks) and opening (parse, find our stanza, verify the MAC,
 * verify the author, then chunks). The "prefix" is everything before chunk 0:
 * the age header and the 16-byte payload nonce. The transfer engine writes it
 * at offset 0 and chunk i at ageStoredChunkOffset(prefixLength, i).
 */
import { InvalidParamsError } from '../../errors.js';
import { systemRandom, takeRandom, type RandomSource } from '../random.js';
import { AUTHOR_STANZA_TYPE, authorCardIdOf, authorKeyOf, makeAuthorStanza, verifyAuthor, type AuthorKey } from './author.js';
import { AgeError } from './errors.js';
import { encodeHeader, headerMac, parseHeader, parseHeaderPrefix, type ParsedHeader, type Stanza } from './header.js';
import { AgeKeyFormatError, parseRecipientOrCard, RECIPIENT_TAG_STANZA_TYPE, wrapTo, type AgeIdentity } from './identity.js';
import { AgePayloadOpener, AgePayloadSealer, PAYLOAD_NONCE_SIZE } from './payload.js';
import { bytesEqual } from './primitives.js';
import { isSlotStanza, newSlotFor } from './slot.js';
import { FILE_KEY_SIZE, SCRYPT_STANZA_TYPE, unwrapScrypt, type AgeRecipientKey, type RecipientType } from './stanzas.js';

/** Most recipients one object is written to (the uploader included). */
export const MAX_RECIPIENTS = 32;

export interface AgeSealOptions {
  /** The uploader: first recipient and author. */
  readonly identity: AgeIdentity;
  /** The object name the author stanza binds. */
  readonly name: string;
  /** Extra recipients: age1…, age1pq1… or cloudlockercard1… strings, in order. */
  readonly recipients?: readonly string[];
  readonly random?: RandomSource;
  /**
   * The plaintext size when known: objects of at least SLOT_MIN_PLAINTEXT
   * bytes get a header slot (slot.ts) so that sharing can keep the header's
   * length. Undefined: no slot.
   */
  readonly plaintextSize?: number;
}

/**
 * Parses extra recipients and enforces age's rule that post-quantum files are
 * not also encrypted to classical recipients (that would make them only as
 * strong as X25519). InvalidParamsError names the offending index.
 */
export function resolveRecipients(identity: AgeIdentity, recipients: readonly string[] = []): AgeRecipientKey[] {
  const resolved: AgeRecipientKey[] = [identity.card.recipient];
  for (const recipient of parseExtraRecipients(identity.type, recipients)) {
    if (!resolved.some((r) => r.type === recipient.type && r.publicKey.equals(recipient.publicKey))) resolved.push(recipient);
  }
  return resolved;
}

/**
 * The same checks for an identity of `identityType` that may not exist yet:
 * upload runs them before it creates a key file, so bad input leaves no file.
 */
export function parseExtraRecipients(identityType: RecipientType, recipients: readonly string[] = []): AgeRecipientKey[] {
  if (recipients.length + 1 > MAX_RECIPIENTS) {
    throw new InvalidParamsError(`At most ${MAX_RECIPIENTS - 1} extra recipients can be given.`, 'recipients');
  }
  return recipients.map((text, index) => {
    let recipient: AgeRecipientKey;
    try {
      if (typeof text !== 'string') throw new AgeKeyFormatError('it is not a string');
      recipient = parseRecipientOrCard(text);
    } catch (err) {
      const why = err instanceof AgeKeyFormatError ? err.message : 'it is not a recipient';
      throw new InvalidParamsError(`Recipient ${index} is not an age recipient or cloudlocker card: ${why}.`, `recipients[${index}]`);
    }
    if ((recipient.type === 'mlkem768x25519') !== (identityType === 'mlkem768x25519')) {
      throw new InvalidParamsError(
        `Recipient ${index} is ${recipient.type === 'X25519' ? 'classical (X25519)' : 'post-quantum (mlkem768x25519)'} ` +
          `but your identity is ${identityType === 'X25519' ? 'classical' : 'post-quantum'}: age does not mix the two in one file.`,
        `recipients[${index}]`,
      );
    }
    return recipient;
  });
}

/** Seals one object: create one per upload (each has a fresh file key). */
export class AgeSealer extends AgePayloadSealer {
  /** The age header followed by the payload nonce: bytes 0..prefix.length of the object. */
  readonly prefix: Buffer;

  private constructor(prefix: Buffer, fileKey: Uint8Array, nonce: Uint8Array) {
    super(fileKey, nonce);
    this.prefix = prefix;
  }

  static create(options: AgeSealOptions): AgeSealer {
    const random = options.random ?? systemRandom;
    const recipients = resolveRecipients(options.identity, options.recipients);
    const fileKey = takeRandom(random, FILE_KEY_SIZE);
    try {
      const stanzas: Stanza[] = recipients.map((recipient) => wrapTo(recipient, fileKey, random));
      const slot = newSlotFor(options.identity.type, options.plaintextSize);
      if (slot !== undefined) stanzas.push(slot);
      stanzas.push(makeAuthorStanza(options.identity, fileKey, options.name));
      const nonce = takeRandom(random, PAYLOAD_NONCE_SIZE);
      return new AgeSealer(Buffer.concat([encodeHeader(stanzas, fileKey), nonce]), fileKey, nonce);
    } finally {
      fileKey.fill(0);
    }
  }

  /**
   * The sealer of an upload that was interrupted, from the prefix it wrote
   * (it holds no secret) and the uploader's identity; checks the header as a
   * reader would (stanza, MAC, author for `name`). The same caution as v1's
   * FileEncryptor.fromHeader: only never-released chunks, or the same
   * plaintext again, may be sealed with it.
   */
  static resume(identity: AgeIdentity, prefix: Uint8Array, name: string): AgeSealer {
    const { fileKey, header } = unlockHeader(prefix, (stanzas) => identity.unwrap(stanzas));
    try {
      verifyAuthor(header.stanzas, fileKey, { authors: [authorKeyOf(identity.card)], name });
      const nonce = payloadNonceOf(prefix, header);
      return new AgeSealer(Buffer.from(prefix.subarray(0, header.length + PAYLOAD_NONCE_SIZE)), fileKey, nonce);
    } finally {
      fileKey.fill(0);
    }
  }
}

/** What anyone can read from a prefix without a key. */
export interface AgeHeaderInfo {
  /** Age header plus payload nonce: where chunk 0 starts. */
  readonly prefixLength: number;
  /** Recipient stanzas and the author stanza (the header slot is not counted). */
  readonly stanzaCount: number;
  /** First argument of each stanza, in order (X25519, mlkem768x25519, scrypt, cloudlocker.dev/author, …). */
  readonly stanzaTypes: readonly string[];
  /** The card id in the author stanza, when there is exactly one well-formed one (not verified). */
  readonly authorCardId: string | undefined;
}

/**
 * Parses the prefix at the start of `bytes` without any key. Undefined when
 * more bytes are needed; HEADER_INVALID when it cannot be an age header.
 */
/** Recipients and author: recipient tags (format 14.2) and the header slot (14.1, padding) are not counted; the same count everywhere. */
function countedStanzas(stanzas: readonly Stanza[]): number {
  return stanzas.filter((s) => s.args[0] !== RECIPIENT_TAG_STANZA_TYPE && !isSlotStanza(s)).length;
}

export function describeAgePrefix(bytes: Uint8Array): AgeHeaderInfo | undefined {
  const header = parseHeaderPrefix(bytes);
  if (header === undefined || bytes.length < header.length + PAYLOAD_NONCE_SIZE) return undefined;
  return {
    prefixLength: header.length + PAYLOAD_NONCE_SIZE,
    // Recipients and author: recipient tags (format 14.2) and the header slot (14.1, padding) are not counted.
    stanzaCount: countedStanzas(header.stanzas),
    stanzaTypes: header.stanzas.map((s) => s.args[0]),
    authorCardId: authorCardIdOf(header.stanzas),
  };
}

/** Prefix length (age header + payload nonce) of `bytes`, or undefined when more bytes are needed. */
export function agePrefixLength(bytes: Uint8Array): number | undefined {
  const header = parseHeaderPrefix(bytes);
  return header === undefined ? undefined : header.length + PAYLOAD_NONCE_SIZE;
}

type Unwrap = (stanzas: readonly Stanza[]) => Buffer | null | Promise<Buffer | null>;

function payloadNonceOf(prefix: Uint8Array, header: ParsedHeader): Buffer {
  const nonce = prefix.subarray(header.length, header.length + PAYLOAD_NONCE_SIZE);
  if (nonce.length !== PAYLOAD_NONCE_SIZE) throw new AgeError('HEADER_INVALID', 'it ends before the end of its payload nonce');
  return Buffer.from(nonce);
}

function checkScryptAlone(header: ParsedHeader): void {
  if (header.stanzas.some((s) => s.args[0] === SCRYPT_STANZA_TYPE) && header.stanzas.length > 1) {
    throw new AgeError('HEADER_INVALID', 'a scrypt stanza is not the only stanza of its header');
  }
}

function verifyMac(header: ParsedHeader, fileKey: Buffer): void {
  if (!bytesEqual(headerMac(fileKey, header.macInput), header.mac)) {
    fileKey.fill(0);
    throw new AgeError('HEADER_MAC', 'the MAC does not match');
  }
}

/** Parse, unwrap, verify the MAC: the steps before the author (sync unwrap). */
function unlockHeader(prefix: Uint8Array, unwrap: (s: readonly Stanza[]) => Buffer | null): { fileKey: Buffer; header: ParsedHeader } {
  const header = parseHeader(prefix);
  checkScryptAlone(header);
  const fileKey = unwrap(header.stanzas);
  if (fileKey === null) throw new AgeError('NO_STANZA', 'none of its stanzas opens with this identity');
  verifyMac(header, fileKey);
  return { fileKey, header };
}

/** Parse, unwrap (maybe async: scrypt), verify the MAC. */
export async function unlockAgeHeader(prefix: Uint8Array, unwrap: Unwrap): Promise<{ fileKey: Buffer; header: ParsedHeader }> {
  const header = parseHeader(prefix);
  checkScryptAlone(header);
  const fileKey = await unwrap(header.stanzas);
  if (fileKey === null) throw new AgeError('NO_STANZA', 'none of its stanzas opens with this identity or passphrase');
  verifyMac(header, fileKey);
  return { fileKey, header };
}

export interface AgeOpenOptions {
  readonly identity: AgeIdentity;
  /** The object name asked for: the author must have signed this name. */
  readonly name: string;
  /** Trusted authors; default: the identity's own card. */
  readonly authors?: readonly AuthorKey[];
  /** Accept a file without an author stanza (a plain age file made elsewhere). */
  readonly acceptUnauthored?: boolean;
}

/** Opens one object's chunks once its header passed every check. */
export class AgeOpener extends AgePayloadOpener {
  readonly prefixLength: number;
  readonly stanzaCount: number;
  /** The verified author's card id; undefined for an accepted unauthored file. */
  readonly authorCardId: string | undefined;

  private constructor(fileKey: Uint8Array, nonce: Uint8Array, prefixLength: number, stanzaCount: number, authorCardId: string | undefined) {
    super(fileKey, nonce);
    this.prefixLength = prefixLength;
    this.stanzaCount = stanzaCount;
    this.authorCardId = authorCardId;
  }

  /**
   * Checks, in this order: header syntax (HEADER_INVALID), a stanza for the
   * identity (NO_STANZA), the header MAC (HEADER_MAC), then the author
   * (AUTHOR_MISSING, AUTHOR_INVALID, AUTHOR_UNKNOWN, WRONG_NAME). `prefix`
   * must hold at least the header and the payload nonce.
   */
  static open(prefix: Uint8Array, options: AgeOpenOptions): AgeOpener {
    const { fileKey, header } = unlockHeader(prefix, (stanzas) => options.identity.unwrap(stanzas));
    try {
      const authorCardId = verifyAuthor(header.stanzas, fileKey, {
        authors: options.authors ?? [authorKeyOf(options.identity.card)],
        name: options.name,
        acceptUnauthored: options.acceptUnauthored,
      });
      const nonce = payloadNonceOf(prefix, header);
      return new AgeOpener(fileKey, nonce, header.length + PAYLOAD_NONCE_SIZE, countedStanzas(header.stanzas), authorCardId);
    } finally {
      fileKey.fill(0);
    }
  }

  /**
   * Opens a plain age file with a passphrase (scrypt): no author check, as
   * an scrypt stanza must stand alone. Used for passphrase-protected
   * identity files and for the CCTV vectors.
   */
  static async openWithPassphrase(prefix: Uint8Array, passphrase: string): Promise<AgeOpener> {
    const { fileKey, header } = await unlockAgeHeader(prefix, (stanzas) => unwrapScrypt(passphrase, stanzas));
    try {
      return new AgeOpener(fileKey, payloadNonceOf(prefix, header), header.length + PAYLOAD_NONCE_SIZE, countedStanzas(header.stanzas), undefined);
    } finally {
      fileKey.fill(0);
    }
  }

  /** Opens with a file key recovered elsewhere (the header is already authenticated by the caller). */
  static fromFileKey(fileKey: Uint8Array, prefix: Uint8Array, header: ParsedHeader): AgeOpener {
    return new AgeOpener(fileKey, payloadNonceOf(prefix, header), header.length + PAYLOAD_NONCE_SIZE, countedStanzas(header.stanzas), undefined);
  }
}

export { AUTHOR_STANZA_TYPE };
