/**
 * The one place that calls Node's AES-256-GCM. It pins the parameters the
 * format relies on — 32-byte key, 12-byte nonce, 16-byte tag — because Node
 * on its own accepts other IV lengths and, unless told the tag length, 4-,
 * 8- and 12-byte tags (see shared pitfalls). It also never hands out
 * plaintext before the tag has been checked: decipher.update() returns
 * unauthenticated bytes, which stay local until final() succeeds.
 */
import { createCipheriv, createDecipheriv, type KeyObject } from 'node:crypto';

export const GCM_KEY_SIZE = 32;
export const GCM_NONCE_SIZE = 12;
export const GCM_TAG_SIZE = 16;

const ALGORITHM = 'aes-256-gcm';
const OPTIONS = { authTagLength: GCM_TAG_SIZE } as const;

/** A 32-byte key as bytes, or as a secret KeyObject (cheaper to reuse). */
export type GcmKey = KeyObject | Uint8Array;

/** The tag did not verify: wrong key, wrong nonce or altered data. */
export class GcmAuthenticationError extends Error {
  override readonly name = 'GcmAuthenticationError';
  constructor() {
    super('AES-GCM authentication failed');
  }
}

export interface GcmOptions {
  /** Additional authenticated data. */
  aad?: Uint8Array;
  /** Write the result here instead of allocating. */
  out?: Uint8Array;
  outOffset?: number;
}

function checkKey(key: GcmKey): void {
  const size = key instanceof Uint8Array ? key.length : key.symmetricKeySize;
  if (size !== GCM_KEY_SIZE) throw new RangeError(`AES-256-GCM needs a ${GCM_KEY_SIZE}-byte key, got ${size}`);
}

function checkNonce(nonce: Uint8Array): void {
  if (nonce.length !== GCM_NONCE_SIZE) {
    throw new RangeError(`AES-256-GCM here takes a ${GCM_NONCE_SIZE}-byte nonce, got ${nonce.length}`);
  }
}

function target(length: number, options: GcmOptions): { buffer: Uint8Array; offset: number } {
  const offset = options.outOffset ?? 0;
  if (options.out === undefined) return { buffer: Buffer.allocUnsafe(length), offset: 0 };
  if (!Number.isSafeInteger(offset) || offset < 0 || offset + length > options.out.length) {
    throw new RangeError(`output buffer too small: need ${length} bytes at offset ${offset}`);
  }
  return { buffer: options.out, offset };
}

/**
 * Why update() is asked for a latin1 string, whose bytes are the output's,
 * rather than a Buffer: Node allocates each Buffer it returns outside the
 * JavaScript heap, and V8 counts those bytes against the heap's limit until
 * a collection frees them. At 64 KiB per chunk that garbage, not the heap,
 * reached the limit every ~20 MB of a transfer: ~50 full (mark-compact)
 * collections per GiB, whose marking cost about three times the CPU of the
 * encryption itself (perf). A string of 64 KiB is allocated in the young
 * generation instead and freed by the next cheap scavenge, at the cost of
 * one more copy. (A string cannot be zeroed: a chunk that fails to
 * authenticate leaves its unverified plaintext in the heap until collected,
 * never in a buffer anyone is handed.)
 */
function copyOut(bytes: string, buffer: Uint8Array, offset: number): number {
  const target = Buffer.isBuffer(buffer) ? buffer : Buffer.from(buffer.buffer, buffer.byteOffset, buffer.byteLength);
  return target.write(bytes, offset, 'latin1');
}

function view(buffer: Uint8Array, offset: number, length: number): Buffer {
  return Buffer.from(buffer.buffer, buffer.byteOffset + offset, length);
}

/** Encrypts; returns ciphertext || 16-byte tag (a view of `out` when given). */
export function gcmSeal(key: GcmKey, nonce: Uint8Array, plaintext: Uint8Array, options: GcmOptions = {}): Buffer {
  checkKey(key);
  checkNonce(nonce);
  const length = plaintext.length + GCM_TAG_SIZE;
  const { buffer, offset } = target(length, options);
  const cipher = createCipheriv(ALGORITHM, key, nonce, OPTIONS);
  if (options.aad !== undefined) cipher.setAAD(options.aad);
  const written = copyOut(cipher.update(plaintext, undefined, 'latin1'), buffer, offset);
  cipher.final();
  buffer.set(cipher.getAuthTag(), offset + written);
  return view(buffer, offset, length);
}

/**
 * Decrypts and verifies. Returns the plaintext (a view of `out` when given)
 * only after the tag verified; on failure throws GcmAuthenticationError and
 * leaves `out` untouched.
 */
export function gcmOpen(
  key: GcmKey,
  nonce: Uint8Array,
  ciphertext: Uint8Array,
  tag: Uint8Array,
  options: GcmOptions = {},
): Buffer {
  checkKey(key);
  checkNonce(nonce);
  if (tag.length !== GCM_TAG_SIZE) {
    throw new RangeError(`AES-256-GCM here takes a ${GCM_TAG_SIZE}-byte tag, got ${tag.length}`);
  }
  // Check the output space before decrypting, so that a too-small buffer is
  // reported as the caller's mistake rather than as an authentication failure.
  const out = options.out === undefined ? undefined : target(ciphertext.length, options);
  const decipher = createDecipheriv(ALGORITHM, key, nonce, OPTIONS);
  decipher.setAuthTag(tag);
  if (options.aad !== undefined) decipher.setAAD(options.aad);
  const unverified = decipher.update(ciphertext, undefined, 'latin1');
  try {
    decipher.final();
  } catch {
    throw new GcmAuthenticationError();
  }
  const { buffer, offset } = out ?? { buffer: Buffer.allocUnsafe(ciphertext.length), offset: 0 };
  copyOut(unverified, buffer, offset);
  return view(buffer, offset, ciphertext.length);
}
