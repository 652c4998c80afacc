/**
 * Identity files (format v2 key files): an age identity file, as age-keygen
 * writes it, or that file encrypted to a passphrase with age's scrypt
 * recipient and ASCII-armored (what `age-keygen | age -p -a` makes; `age -d -i`
 * asks for the passphrase). A v1 key file (JSON) is told apart by its first
 * non-blank character, `{`, and keeps working through the v1 functions.
 *
 * Written with the v1 key-file mechanism (src/crypto/key-file.ts): atomic,
 * 0600, never over an existing file.
 */
import nodePath from 'node:path';
import { armor } from 'age-encryption';
import { CloudlockerError, InvalidParamsError } from '../../errors.js';
import { keyInvalidError } from '../crypto-errors.js';
import { keyFileBytesToText, parseKeyFile, pathIsTaken, readKeyFileBytes, writeNewFile, type MasterKey } from '../key-file.js';
import { systemRandom, takeRandom, type RandomSource } from '../random.js';
import { AgeError, isAgeError } from './errors.js';
import { AGE_MAGIC, encodeHeader } from './header.js';
import { AgeIdentity, AgeKeyFormatError } from './identity.js';
import { AgeOpener } from './file.js';
import { AgePayloadSealer, PAYLOAD_NONCE_SIZE } from './payload.js';
import { DEFAULT_SCRYPT_LOG_N, FILE_KEY_SIZE, passphraseIsWellFormed, wrapScrypt, type RecipientType } from './stanzas.js';
import { openPayload } from './whole.js';

const ARMOR_BEGIN = '-----BEGIN AGE ENCRYPTED FILE-----';
const BINARY_AGE_START = 'age-encryption.org/v1';
const BOM = '\uFEFF';

export interface CreateIdentityFileOptions {
  /** X25519 (default) or the post-quantum hybrid mlkem768x25519. */
  readonly type?: RecipientType;
  /** Encrypt the identity file to this passphrase (age scrypt, armored). */
  readonly passphrase?: string;
  /** scrypt work factor log2(N); default 18 (age's). Lower only in tests. */
  readonly scryptLogN?: number;
  readonly random?: RandomSource;
  readonly now?: () => Date;
}

export interface IdentityFileInfo {
  readonly format: 'age' | 'v1';
  readonly passphraseProtected: boolean;
}

/** RFC 3339 in UTC to the second, as age-keygen writes (`2006-01-02T15:04:05Z`). */
function createdStamp(date: Date): string {
  return date.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** The text of an unencrypted identity file. */
export function identityFileText(identity: AgeIdentity, created: Date): string {
  return `# created: ${createdStamp(created)}\n# public key: ${identity.recipient}\n${identity.encodeSecret()}\n`;
}

/**
 * Parses the text of an unencrypted identity file: lines ending in LF (a CR
 * before it is dropped), blank lines and lines starting with `#` ignored,
 * exactly one identity line (AGE-SECRET-KEY-1… or AGE-SECRET-KEY-PQ-1…).
 * A `# public key:` comment, when present, must match the identity.
 */
export function parseIdentityFileText(text: string): AgeIdentity {
  const body = text.startsWith(BOM) ? text.slice(1) : text;
  const lines = body.split('\n').map((line) => (line.endsWith('\r') ? line.slice(0, -1) : line));
  const keys = lines.filter((line) => line.trim() !== '' && !line.startsWith('#'));
  if (keys.length === 0) throw keyInvalidError('it holds no age identity (AGE-SECRET-KEY-1…) line.');
  if (keys.length > 1) throw keyInvalidError('it holds more than one identity line; cloudlocker uses files with exactly one.');
  const [line] = keys;
  if (!line.startsWith('AGE-SECRET-KEY-')) throw keyInvalidError('a line is neither a comment nor an age identity (AGE-SECRET-KEY-1…).');
  let identity: AgeIdentity;
  try {
    identity = AgeIdentity.parse(line);
  } catch (err) {
    const why = err instanceof AgeKeyFormatError ? err.message : 'it cannot be decoded';
    throw keyInvalidError(`its identity line is not a valid age identity: ${why}.`);
  }
  for (const comment of lines) {
    const match = /^# public key: (\S+)\s*$/.exec(comment);
    if (match !== null && match[1] !== identity.recipient) {
      throw keyInvalidError('its "# public key:" comment does not match its identity: the file was edited or damaged.');
    }
  }
  return identity;
}

function describeText(text: string): IdentityFileInfo {
  const start = (text.startsWith(BOM) ? text.slice(1) : text).trimStart();
  if (start.startsWith('{')) return { format: 'v1', passphraseProtected: /"wrappedKey"\s*:/.test(start) };
  if (start.startsWith(ARMOR_BEGIN)) return { format: 'age', passphraseProtected: true };
  // A binary one (age -p without -a) reaches this text reader only through
  // parseAnyKeyFile/describeAnyKeyFile: readAnyKeyFile reads bytes first.
  if (start.startsWith(BINARY_AGE_START)) return { format: 'age', passphraseProtected: true };
  return { format: 'age', passphraseProtected: false };
}

/** Encrypts identity file text to a passphrase: an armored age file with one scrypt stanza. */
export async function encryptIdentityText(text: string, passphrase: string, options: { random?: RandomSource; logN?: number } = {}): Promise<string> {
  const random = options.random ?? systemRandom;
  const fileKey = takeRandom(random, FILE_KEY_SIZE);
  try {
    const stanza = await wrapScrypt(passphrase, fileKey, random, options.logN ?? DEFAULT_SCRYPT_LOG_N);
    const nonce = takeRandom(random, PAYLOAD_NONCE_SIZE);
    const sealer = new AgePayloadSealer(fileKey, nonce);
    const plaintext = Buffer.from(text, 'utf8');
    // An identity file is far below one chunk: one final chunk.
    const chunk = sealer.encryptChunk(0, plaintext, true);
    plaintext.fill(0);
    return armor.encode(Buffer.concat([encodeHeader([stanza], fileKey), nonce, chunk]));
  } finally {
    fileKey.fill(0);
  }
}

export async function decryptIdentityText(text: string, passphrase: string): Promise<string> {
  let file: Uint8Array;
  try {
    file = armor.decode(text.startsWith(BOM) ? text.slice(1) : text);
  } catch {
    throw keyInvalidError('its armor (-----BEGIN AGE ENCRYPTED FILE-----) is damaged.');
  }
  return decryptIdentityFile(file, passphrase);
}

/** The identity file inside a passphrase-protected (binary) age file. */
async function decryptIdentityFile(file: Uint8Array, passphrase: string): Promise<string> {
  let plaintext: Buffer;
  try {
    plaintext = openPayload(await AgeOpener.openWithPassphrase(file, passphrase), file);
  } catch (err) {
    if (isAgeError(err, 'NO_STANZA')) {
      throw keyInvalidError('the passphrase is wrong, or the file is not encrypted to a passphrase.', { passphraseWrong: true });
    }
    if (err instanceof AgeError) throw keyInvalidError(`it is damaged (${err.ageReason.toLowerCase().replace('_', ' ')}).`);
    throw err;
  }
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(plaintext);
  } catch {
    throw keyInvalidError('its decrypted content is not an identity file.');
  } finally {
    plaintext.fill(0);
  }
}

export type AnyKey = { readonly format: 'age'; readonly identity: AgeIdentity } | { readonly format: 'v1'; readonly key: MasterKey };

/**
 * The key in a key file's text, whichever format: a v1 JSON key file, an
 * age identity file, or a passphrase-protected (armored) one. A passphrase
 * is required for a protected file and ignored for an unprotected one, as in v1.
 */
export async function parseAnyKeyFile(text: string, options: { passphrase?: string } = {}): Promise<AnyKey> {
  const start = text.startsWith(BOM) ? text.slice(1) : text;
  // Straight to the binary reader, not back through parseAnyKeyFileBytes: text that starts with the
  // version line but not with the whole magic (cut short, CRLF line ends) would bounce between the two
  // readers until the stack overflowed. The binary reader refuses it as a damaged header.
  if (start.startsWith(BINARY_AGE_START)) return parseBinaryKeyFile(Buffer.from(start, 'utf8'), options);
  const info = describeText(text);
  if (info.format === 'v1') return { format: 'v1', key: await parseKeyFile(text, options) };
  if (!info.passphraseProtected) return { format: 'age', identity: parseIdentityFileText(text) };
  const passphrase = checkedPassphrase(options.passphrase);
  return { format: 'age', identity: parseIdentityFileText(await decryptIdentityText(text, passphrase)) };
}

function checkedPassphrase(passphrase: string | undefined): string {
  if (passphrase === undefined || passphrase === '') {
    throw keyInvalidError('it is protected by a passphrase: provide the passphrase.', { passphraseRequired: true });
  }
  if (!passphraseIsWellFormed(passphrase)) throw keyInvalidError('the passphrase is not valid Unicode text.');
  return passphrase;
}

/** Format and protection of a key file's text, without a passphrase. */
export function describeAnyKeyFile(text: string): IdentityFileInfo {
  return describeText(text);
}

function startsWithBinaryAge(bytes: Uint8Array): boolean {
  return bytes.length >= AGE_MAGIC.length && AGE_MAGIC.equals(bytes.subarray(0, AGE_MAGIC.length));
}

/**
 * The key in a key file's bytes: a binary passphrase-protected identity
 * (`age -p` without `-a`) is told apart by its first bytes before any text
 * decoding; everything else must be UTF-8 text (parseAnyKeyFile).
 */
export async function parseAnyKeyFileBytes(bytes: Uint8Array, options: { passphrase?: string } = {}): Promise<AnyKey> {
  if (!startsWithBinaryAge(bytes)) return parseAnyKeyFile(keyFileBytesToText(bytes), options);
  return parseBinaryKeyFile(bytes, options);
}

/** A binary passphrase-protected identity (or bytes that start like one). */
async function parseBinaryKeyFile(bytes: Uint8Array, options: { passphrase?: string }): Promise<AnyKey> {
  const passphrase = checkedPassphrase(options.passphrase);
  return { format: 'age', identity: parseIdentityFileText(await decryptIdentityFile(bytes, passphrase)) };
}

/** Reads a key file of either format (NOT_FOUND, PERMISSION_DENIED, KEY_INVALID as v1). */
export async function readAnyKeyFile(path: string, options: { passphrase?: string } = {}): Promise<AnyKey> {
  const bytes = await readKeyFileBytes(path);
  try {
    return await parseAnyKeyFileBytes(bytes, options);
  } finally {
    bytes.fill(0);
  }
}

export async function readIdentityFile(path: string, options: { passphrase?: string } = {}): Promise<AgeIdentity> {
  const key = await readAnyKeyFile(path, options);
  if (key.format !== 'age') throw keyInvalidError('it is a v1 key file, not an age identity.');
  return key.identity;
}

/**
 * Creates an identity file with a new random identity. ALREADY_EXISTS (the
 * existing file untouched) when the path is taken.
 */
export async function createIdentityFile(
  path: string,
  options: CreateIdentityFileOptions = {},
): Promise<{ path: string; identity: AgeIdentity; recipient: string; card: string; cardId: string }> {
  const target = nodePath.resolve(path);
  const { passphrase } = options;
  if (passphrase !== undefined && passphrase === '') {
    throw new InvalidParamsError('The passphrase must not be empty: omit it for a key file without a passphrase.', 'passphrase');
  }
  if (passphrase !== undefined && !passphraseIsWellFormed(passphrase)) {
    throw new InvalidParamsError('The passphrase is not valid Unicode text.', 'passphrase');
  }
  if (await pathIsTaken(target)) {
    throw new CloudlockerError('ALREADY_EXISTS', 'A file already exists at the key file path; it was left untouched: choose another path.');
  }
  const identity = AgeIdentity.generate(options.type ?? 'X25519', options.random);
  const text = identityFileText(identity, (options.now ?? (() => new Date()))());
  const contents = passphrase === undefined ? text : await encryptIdentityText(text, passphrase, { random: options.random, logN: options.scryptLogN });
  await writeNewFile(target, contents);
  return { path: target, identity, recipient: identity.recipient, card: identity.card.card, cardId: identity.card.cardId };
}
