/**
 * The recipient stanzas we write and read (C2SP age.md):
 *
 *   X25519          -> X25519 <ephemeral share>         body: wrapped file key
 *   mlkem768x25519  -> mlkem768x25519 <encapsulation>   body: wrapped file key
 *   scrypt          -> scrypt <salt> <log2 N>           body: wrapped file key
 *
 * Unwrapping follows age's rules: a stanza of another type is skipped, a
 * stanza of the identity's type that is malformed is a header failure, and
 * one that does not decrypt is "not for this identity" (try the next).
 */
import { scrypt as scryptCallback, type KeyObject } from 'node:crypto';
import { AgeError } from './errors.js';
import { hybridKem, hybridPublicKeyOfSeed } from './hybrid-kem.js';
import { decodeBase64NoPad, encodeBase64NoPad, type Stanza } from './header.js';
import {
  ChachaAuthenticationError,
  chachaOpen,
  chachaSeal,
  hkdf,
  hkdfExpand,
  hkdfExtract,
  x25519,
  x25519PrivateKey,
  x25519PublicKeyOf,
} from './primitives.js';
import { takeRandom, type RandomSource } from '../random.js';

export const FILE_KEY_SIZE = 16;
export const X25519_STANZA_TYPE = 'X25519';
export const HYBRID_STANZA_TYPE = 'mlkem768x25519';
export const SCRYPT_STANZA_TYPE = 'scrypt';
export const HYBRID_PUBLIC_KEY_SIZE = 1216;
const HYBRID_ENCAPSULATION_SIZE = 1120;
const WRAPPED_FILE_KEY_SIZE = FILE_KEY_SIZE + 16;
const ZERO_NONCE = Buffer.alloc(12);
const X25519_LABEL = 'age-encryption.org/v1/X25519';
const HYBRID_LABEL = 'age-encryption.org/mlkem768x25519';
const SCRYPT_LABEL = 'age-encryption.org/v1/scrypt';

/** age's scrypt work factor for new passphrases (2^18: ~256 MiB, 1-2 s). */
export const DEFAULT_SCRYPT_LOG_N = 18;
/** Highest work factor read (2^20: 1 GiB for the moment it runs), as age-encryption. */
export const MAX_SCRYPT_LOG_N = 20;

export type RecipientType = 'X25519' | 'mlkem768x25519';

/** A public key files can be encrypted to. */
export interface AgeRecipientKey {
  readonly type: RecipientType;
  /** 32 bytes (X25519) or 1216 bytes (mlkem768x25519: ML-KEM-768 then X25519). */
  readonly publicKey: Buffer;
}

function malformed(type: string): AgeError {
  return new AgeError('HEADER_INVALID', `a ${type} stanza is malformed`);
}

function wrapFileKey(key: Uint8Array, fileKey: Uint8Array): Buffer {
  return chachaSeal(key, ZERO_NONCE, fileKey);
}

/** The file key, or null when the body does not open with `key`. */
function unwrapFileKey(key: Uint8Array, body: Uint8Array): Buffer | null {
  try {
    return chachaOpen(key, ZERO_NONCE, body);
  } catch (err) {
    if (err instanceof ChachaAuthenticationError) return null;
    throw err;
  }
}

function checkFileKey(fileKey: Uint8Array): void {
  if (fileKey.length !== FILE_KEY_SIZE) throw new RangeError(`an age file key is ${FILE_KEY_SIZE} bytes`);
}

// ---- X25519 ----

export function wrapX25519(recipient: Uint8Array, fileKey: Uint8Array, random: RandomSource): Stanza {
  checkFileKey(fileKey);
  const ephemeral = takeRandom(random, 32);
  // One KeyObject for both uses (each import of a key costs more than the X25519 itself).
  const ephemeralKey = x25519PrivateKey(ephemeral);
  ephemeral.fill(0);
  const share = x25519PublicKeyOf(ephemeralKey);
  const shared = x25519(ephemeralKey, recipient, true);
  const key = hkdf(shared, Buffer.concat([share, recipient]), X25519_LABEL);
  shared.fill(0);
  const body = wrapFileKey(key, fileKey);
  key.fill(0);
  return { args: [X25519_STANZA_TYPE, encodeBase64NoPad(share)], body };
}

/** An X25519 identity's secret as a KeyObject, with its public key: made once per identity, not once per file. */
export interface PreparedX25519 {
  readonly secretKey: KeyObject;
  readonly ownPublic: Buffer;
}

export function prepareX25519(secret: Uint8Array): PreparedX25519 {
  const secretKey = x25519PrivateKey(secret);
  return { secretKey, ownPublic: x25519PublicKeyOf(secretKey) };
}

export function unwrapX25519(secret: Uint8Array | PreparedX25519, stanzas: readonly Stanza[]): Buffer | null {
  const { secretKey, ownPublic } = secret instanceof Uint8Array ? prepareX25519(secret) : secret;
  for (const stanza of stanzas) {
    if (stanza.args[0] !== X25519_STANZA_TYPE) continue;
    if (stanza.args.length !== 2) throw malformed(X25519_STANZA_TYPE);
    const share = decodeBase64NoPad(stanza.args[1]);
    if (share === undefined || share.length !== 32 || stanza.body.length !== WRAPPED_FILE_KEY_SIZE) {
      throw malformed(X25519_STANZA_TYPE);
    }
    let shared: Buffer;
    try {
      shared = x25519(secretKey, share);
    } catch {
      throw malformed(X25519_STANZA_TYPE);
    }
    const key = hkdf(shared, Buffer.concat([share, ownPublic]), X25519_LABEL);
    shared.fill(0);
    const fileKey = unwrapFileKey(key, stanza.body);
    key.fill(0);
    if (fileKey !== null) return fileKey;
  }
  return null;
}

// ---- mlkem768x25519 (HPKE base mode, RFC 9180, as age's hybrid type) ----

const HPKE_KEM_MLKEM768X25519 = 0x647a;

function hpkeSuiteId(kemId: number): Buffer {
  // "HPKE" || KEM id || KDF id (HKDF-SHA-256 = 1) || AEAD id (ChaCha20-Poly1305 = 3)
  return Buffer.concat([Buffer.from('HPKE'), Buffer.from([kemId >> 8, kemId & 0xff, 0, 1, 0, 3])]);
}

function labeledExtract(suite: Buffer, salt: Uint8Array | undefined, label: string, ikm: Uint8Array): Buffer {
  return hkdfExtract(salt, Buffer.concat([Buffer.from('HPKE-v1'), suite, Buffer.from(label), ikm]));
}

function labeledExpand(suite: Buffer, prk: Uint8Array, label: string, info: Uint8Array, length: number): Buffer {
  const prefix = Buffer.from([length >> 8, length & 0xff]);
  return hkdfExpand(prk, Buffer.concat([prefix, Buffer.from('HPKE-v1'), suite, Buffer.from(label), info]), length);
}

/** HPKE key schedule, base mode, empty PSK: the AEAD key and (sequence 0) nonce. */
function hpkeKeyAndNonce(sharedSecret: Uint8Array, info: string): { key: Buffer; nonce: Buffer } {
  const suite = hpkeSuiteId(HPKE_KEM_MLKEM768X25519);
  const pskIdHash = labeledExtract(suite, undefined, 'psk_id_hash', Buffer.alloc(0));
  const infoHash = labeledExtract(suite, undefined, 'info_hash', Buffer.from(info));
  const context = Buffer.concat([Buffer.from([0]), pskIdHash, infoHash]);
  const secret = labeledExtract(suite, sharedSecret, 'secret', Buffer.alloc(0));
  const key = labeledExpand(suite, secret, 'key', context, 32);
  const nonce = labeledExpand(suite, secret, 'base_nonce', context, 12);
  secret.fill(0);
  return { key, nonce };
}

/** The hybrid recipient key of an identity seed (derived once per seed and server life: hybrid-kem.ts). */
export function hybridPublicKeyOf(seed: Uint8Array): Buffer {
  return hybridPublicKeyOfSeed(seed);
}

export function wrapHybrid(recipient: Uint8Array, fileKey: Uint8Array, random: RandomSource): Stanza {
  checkFileKey(fileKey);
  const kem = hybridKem();
  const randomness = takeRandom(random, kem.lengths.msgRand ?? 64);
  const { cipherText, sharedSecret } = kem.encapsulate(recipient, randomness);
  randomness.fill(0);
  const { key, nonce } = hpkeKeyAndNonce(sharedSecret, HYBRID_LABEL);
  sharedSecret.fill(0);
  const body = chachaSeal(key, nonce, fileKey);
  key.fill(0);
  return { args: [HYBRID_STANZA_TYPE, encodeBase64NoPad(cipherText)], body };
}

export function unwrapHybrid(seed: Uint8Array, stanzas: readonly Stanza[]): Buffer | null {
  for (const stanza of stanzas) {
    if (stanza.args[0] !== HYBRID_STANZA_TYPE) continue;
    if (stanza.args.length !== 2) throw malformed(HYBRID_STANZA_TYPE);
    const encapsulation = decodeBase64NoPad(stanza.args[1]);
    if (
      encapsulation === undefined ||
      encapsulation.length !== HYBRID_ENCAPSULATION_SIZE ||
      stanza.body.length !== WRAPPED_FILE_KEY_SIZE
    ) {
      throw malformed(HYBRID_STANZA_TYPE);
    }
    let sharedSecret: Uint8Array;
    try {
      sharedSecret = hybridKem().decapsulate(encapsulation, seed);
    } catch {
      throw malformed(HYBRID_STANZA_TYPE);
    }
    const { key, nonce } = hpkeKeyAndNonce(sharedSecret, HYBRID_LABEL);
    sharedSecret.fill(0);
    try {
      return chachaOpen(key, nonce, stanza.body);
    } catch (err) {
      if (!(err instanceof ChachaAuthenticationError)) throw err;
    } finally {
      key.fill(0);
    }
  }
  return null;
}

// ---- scrypt (passphrases; only ever the single stanza of its header) ----

/**
 * Passphrases are used as their UTF-8 bytes, exactly as typed (no Unicode
 * normalisation), because that is what age does: a file made with `age -p`
 * must open here and the reverse. A string that is not valid Unicode (a lone
 * surrogate) has no UTF-8 form and is refused by the caller.
 */
export function passphraseIsWellFormed(passphrase: string): boolean {
  return Buffer.from(passphrase, 'utf8').toString('utf8') === passphrase;
}

let kdfQueue: Promise<unknown> = Promise.resolve();

/**
 * scrypt in libuv's thread pool, one at a time: at 2^18 each run holds
 * 256 MiB, and two at once would double that (shared pitfalls).
 */
function scryptKey(passphrase: string, salt: Buffer, logN: number): Promise<Buffer> {
  const N = 2 ** logN;
  const maxmem = 128 * N * 8 + 64 * 1024 * 1024;
  const input = Buffer.concat([Buffer.from(SCRYPT_LABEL), salt]);
  const run = () =>
    new Promise<Buffer>((resolve, reject) => {
      scryptCallback(Buffer.from(passphrase, 'utf8'), input, 32, { N, r: 8, p: 1, maxmem }, (err, key) =>
        err === null ? resolve(key) : reject(err),
      );
    });
  const result = kdfQueue.then(run, run);
  kdfQueue = result.catch(() => undefined);
  return result;
}

export async function wrapScrypt(
  passphrase: string,
  fileKey: Uint8Array,
  random: RandomSource,
  logN: number = DEFAULT_SCRYPT_LOG_N,
): Promise<Stanza> {
  checkFileKey(fileKey);
  if (!Number.isInteger(logN) || logN < 1 || logN > MAX_SCRYPT_LOG_N) throw new RangeError(`scrypt work factor out of range: ${logN}`);
  const salt = takeRandom(random, 16);
  const key = await scryptKey(passphrase, salt, logN);
  const body = wrapFileKey(key, fileKey);
  key.fill(0);
  return { args: [SCRYPT_STANZA_TYPE, encodeBase64NoPad(salt), String(logN)], body };
}

/**
 * The file key under `passphrase`, or null when it does not open. Refuses,
 * as a header failure, a scrypt stanza that is not alone in its header, a
 * malformed one, or one whose work factor is above MAX_SCRYPT_LOG_N.
 */
export async function unwrapScrypt(passphrase: string, stanzas: readonly Stanza[]): Promise<Buffer | null> {
  for (const stanza of stanzas) {
    if (stanza.args[0] !== SCRYPT_STANZA_TYPE) continue;
    if (stanzas.length !== 1) throw new AgeError('HEADER_INVALID', 'a scrypt stanza is not the only stanza of its header');
    if (stanza.args.length !== 3 || !/^[1-9][0-9]*$/.test(stanza.args[2])) throw malformed(SCRYPT_STANZA_TYPE);
    const salt = decodeBase64NoPad(stanza.args[1]);
    if (salt === undefined || salt.length !== 16 || stanza.body.length !== WRAPPED_FILE_KEY_SIZE) {
      throw malformed(SCRYPT_STANZA_TYPE);
    }
    const logN = Number(stanza.args[2]);
    if (logN > MAX_SCRYPT_LOG_N) {
      throw new AgeError('HEADER_INVALID', `its scrypt work factor (2^${stanza.args[2].slice(0, 4)}) is above the 2^${MAX_SCRYPT_LOG_N} this reader allows`);
    }
    const key = await scryptKey(passphrase, salt, logN);
    const fileKey = unwrapFileKey(key, stanza.body);
    key.fill(0);
    if (fileKey !== null) return fileKey;
  }
  return null;
}
