/**
 * Passphrase protection of a key file's master key: scrypt turns the
 * passphrase into a key-encryption key, which wraps the master key with
 * AES-256-GCM. The scrypt parameters travel in the file so that they can be
 * raised later without a format change; readers accept them only within
 * bounds, so that a crafted file cannot make them allocate gigabytes or spin
 * for minutes.
 */
import { scrypt } from 'node:crypto';
import { GcmAuthenticationError, gcmOpen, gcmSeal, GCM_NONCE_SIZE, GCM_TAG_SIZE } from './aes-gcm.js';
import { keyInvalidError } from './crypto-errors.js';
import { MASTER_KEY_SIZE } from './v1/format.js';
import { takeRandom, type RandomSource } from './random.js';

export interface ScryptParams {
  readonly N: number;
  readonly r: number;
  readonly p: number;
}

/** What createKeyFile writes: about 100 ms and 32 MiB here. */
export const DEFAULT_SCRYPT_PARAMS: ScryptParams = { N: 2 ** 15, r: 8, p: 1 };

/** The range a reader accepts (docs/format.md, "Passphrase protection"). */
export const SCRYPT_LIMITS = {
  minN: 2 ** 15,
  maxN: 2 ** 20,
  maxR: 32,
  maxP: 16,
  /** 128 * N * r bytes of scrypt working memory. */
  maxMemory: 2 ** 30,
  /** N * r * p, proportional to running time. */
  maxWork: 2 ** 25,
} as const;

export const WRAP_SALT_SIZE = 32;
/** Additional authenticated data of the wrapping, for domain separation. */
export const WRAP_AAD = Buffer.from('cloudlocker-key v1', 'ascii');

/** The JSON object stored as "wrappedKey". Binary fields are base64. */
export interface WrappedKeyJson {
  kdf: 'scrypt';
  N: number;
  r: number;
  p: number;
  salt: string;
  nonce: string;
  ciphertext: string;
}

export interface WrappedKey extends ScryptParams {
  readonly salt: Buffer;
  readonly nonce: Buffer;
  /** Wrapped key || GCM tag (48 bytes). */
  readonly ciphertext: Buffer;
}

export const WRAPPED_CIPHERTEXT_SIZE = MASTER_KEY_SIZE + GCM_TAG_SIZE;

export function scryptParamsAcceptable({ N, r, p }: ScryptParams): boolean {
  const integers = [N, r, p].every((value) => Number.isSafeInteger(value) && value >= 1);
  return (
    integers &&
    (N & (N - 1)) === 0 &&
    N >= SCRYPT_LIMITS.minN &&
    N <= SCRYPT_LIMITS.maxN &&
    r <= SCRYPT_LIMITS.maxR &&
    p <= SCRYPT_LIMITS.maxP &&
    128 * N * r <= SCRYPT_LIMITS.maxMemory &&
    N * r * p <= SCRYPT_LIMITS.maxWork
  );
}

/** UTF-8 of the NFC form, so the same passphrase typed on different systems gives the same bytes. */
function passphraseBytes(passphrase: string): Buffer {
  return Buffer.from(passphrase.normalize('NFC'), 'utf8');
}

function deriveWrappingKey(passphrase: string, salt: Buffer, params: ScryptParams): Promise<Buffer> {
  const secret = passphraseBytes(passphrase);
  return new Promise<Buffer>((resolve, reject) => {
    // Node's default maxmem (32 MiB) is exactly 128 * 2^15 * 8 and rejects
    // N = 2^15; allow what the parameters need plus room for scrypt's extras.
    const maxmem = 128 * params.N * params.r + 128 * params.r * params.p + 1024 * 1024;
    scrypt(secret, salt, 32, { N: params.N, r: params.r, p: params.p, maxmem }, (err, key) => {
      secret.fill(0);
      if (err) reject(err);
      else resolve(key);
    });
  });
}

/** Wraps the master key under the passphrase. */
export async function wrapKey(
  master: Uint8Array,
  passphrase: string,
  random: RandomSource,
  params: ScryptParams = DEFAULT_SCRYPT_PARAMS,
): Promise<WrappedKeyJson> {
  if (!scryptParamsAcceptable(params)) throw new RangeError('scrypt parameters outside the accepted range');
  const salt = takeRandom(random, WRAP_SALT_SIZE);
  const nonce = takeRandom(random, GCM_NONCE_SIZE);
  const wrappingKey = await deriveWrappingKey(passphrase, salt, params);
  try {
    const ciphertext = gcmSeal(wrappingKey, nonce, master, { aad: WRAP_AAD });
    return {
      kdf: 'scrypt',
      N: params.N,
      r: params.r,
      p: params.p,
      salt: salt.toString('base64'),
      nonce: nonce.toString('base64'),
      ciphertext: ciphertext.toString('base64'),
    };
  } finally {
    wrappingKey.fill(0);
  }
}

/** Unwraps; KEY_INVALID when the passphrase is wrong or the wrapping was altered. */
export async function unwrapKey(wrapped: WrappedKey, passphrase: string): Promise<Buffer> {
  const wrappingKey = await deriveWrappingKey(passphrase, wrapped.salt, wrapped);
  try {
    const sealed = wrapped.ciphertext;
    const tagStart = sealed.length - GCM_TAG_SIZE;
    return gcmOpen(wrappingKey, wrapped.nonce, sealed.subarray(0, tagStart), sealed.subarray(tagStart), {
      aad: WRAP_AAD,
    });
  } catch (err) {
    if (err instanceof GcmAuthenticationError) {
      throw keyInvalidError('the passphrase is wrong, or the key file was altered.', { reason: 'wrong-passphrase' });
    }
    throw err;
  } finally {
    wrappingKey.fill(0);
  }
}
