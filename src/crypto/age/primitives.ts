/**
 * The primitives age needs, from Node's own crypto (native code) where Node
 * has them: HKDF-SHA-256, HMAC-SHA-256, ChaCha20-Poly1305, X25519, Ed25519.
 * ML-KEM-768 (for the hybrid recipient type) is not in Node 20: it comes from
 * @noble/post-quantum, the library age-encryption itself uses.
 */
import {
  createCipheriv,
  createDecipheriv,
  createHmac,
  createPrivateKey,
  createPublicKey,
  diffieHellman,
  hkdfSync,
  sign,
  timingSafeEqual,
  verify,
  type KeyObject,
} from 'node:crypto';

export const CHACHA_KEY_SIZE = 32;
export const CHACHA_NONCE_SIZE = 12;
export const CHACHA_TAG_SIZE = 16;

export function hkdf(ikm: Uint8Array, salt: Uint8Array, info: string | Uint8Array, length = 32): Buffer {
  return Buffer.from(hkdfSync('sha256', ikm, salt, typeof info === 'string' ? Buffer.from(info, 'utf8') : info, length));
}

export function hmacSha256(key: Uint8Array, ...parts: Uint8Array[]): Buffer {
  const mac = createHmac('sha256', key);
  for (const part of parts) mac.update(part);
  return mac.digest();
}

/** HKDF-Extract (RFC 5869): HMAC(salt, ikm); an absent salt is 32 zero bytes. */
export function hkdfExtract(salt: Uint8Array | undefined, ikm: Uint8Array): Buffer {
  return hmacSha256(salt ?? Buffer.alloc(32), ikm);
}

/** HKDF-Expand (RFC 5869). */
export function hkdfExpand(prk: Uint8Array, info: Uint8Array, length: number): Buffer {
  const blocks: Buffer[] = [];
  let previous: Buffer = Buffer.alloc(0);
  for (let counter = 1; blocks.length * 32 < length; counter++) {
    previous = hmacSha256(prk, previous, info, Buffer.from([counter]));
    blocks.push(previous);
  }
  return Buffer.concat(blocks).subarray(0, length);
}

export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

/** The ChaCha20-Poly1305 tag did not verify. */
export class ChachaAuthenticationError extends Error {
  override readonly name = 'ChachaAuthenticationError';
  constructor() {
    super('ChaCha20-Poly1305 authentication failed');
  }
}

const CHACHA = 'chacha20-poly1305';
const CHACHA_OPTIONS = { authTagLength: CHACHA_TAG_SIZE } as const;

function checkChacha(key: KeyObject | Uint8Array, nonce: Uint8Array): void {
  const size = key instanceof Uint8Array ? key.length : key.symmetricKeySize;
  if (size !== CHACHA_KEY_SIZE) throw new RangeError(`ChaCha20-Poly1305 needs a 32-byte key, got ${size}`);
  if (nonce.length !== CHACHA_NONCE_SIZE) throw new RangeError(`ChaCha20-Poly1305 needs a 12-byte nonce, got ${nonce.length}`);
}

export interface SealTarget {
  out?: Uint8Array;
  outOffset?: number;
}

function place(length: number, target: SealTarget): { buffer: Buffer; offset: number } {
  const offset = target.outOffset ?? 0;
  if (target.out === undefined) return { buffer: Buffer.allocUnsafe(length), offset: 0 };
  if (!Number.isSafeInteger(offset) || offset < 0 || offset + length > target.out.length) {
    throw new RangeError(`output buffer too small: need ${length} bytes at offset ${offset}`);
  }
  const out = target.out;
  return { buffer: Buffer.isBuffer(out) ? out : Buffer.from(out.buffer, out.byteOffset, out.byteLength), offset };
}

/**
 * Encrypts; returns ciphertext || 16-byte tag (a view of `out` when given).
 * update() is asked for a latin1 string for the same reason as in the v1
 * AES-GCM wrapper (src/crypto/aes-gcm.ts): a young-generation string instead
 * of an off-heap Buffer per chunk keeps full garbage collections away.
 */
export function chachaSeal(key: KeyObject | Uint8Array, nonce: Uint8Array, plaintext: Uint8Array, target: SealTarget = {}): Buffer {
  checkChacha(key, nonce);
  const length = plaintext.length + CHACHA_TAG_SIZE;
  const { buffer, offset } = place(length, target);
  const cipher = createCipheriv(CHACHA, key, nonce, CHACHA_OPTIONS);
  const written = buffer.write(cipher.update(plaintext, undefined, 'latin1'), offset, 'latin1');
  cipher.final();
  buffer.set(cipher.getAuthTag(), offset + written);
  return buffer.subarray(offset, offset + length);
}

/**
 * Decrypts `sealed` (ciphertext || tag). Returns the plaintext only after the
 * tag verified; on failure throws ChachaAuthenticationError and `out` is untouched.
 *
 * The latin1 string looks like one copy too many, and it is not the Buffer
 * it seems to replace: Node's update() allocates its off-heap output Buffer
 * either way and makes the string from it. What the string buys is timing:
 * 64 KiB of young generation per chunk makes V8 scavenge every few chunks,
 * and each scavenge frees the few dead output Buffers at once, in memory
 * that malloc hands straight back. Asked for the Buffer itself (copied into
 * `out`), the cipher ran 19 % fewer instructions per chunk in isolation, but
 * a real download then let dead Buffers pile up to V8's external-memory
 * limits: ~40 mark-compacts per GiB instead of none, about twice the
 * server's CPU, ~100 000 page faults per GiB on the JavaScript thread
 * instead of a few thousand, peak RSS 137-145 MiB instead of 108-113
 * (docs/benchmarks.md, dl8).
 */
export function chachaOpen(key: KeyObject | Uint8Array, nonce: Uint8Array, sealed: Uint8Array, target: SealTarget = {}): Buffer {
  checkChacha(key, nonce);
  if (sealed.length < CHACHA_TAG_SIZE) throw new ChachaAuthenticationError();
  const length = sealed.length - CHACHA_TAG_SIZE;
  const out = target.out === undefined ? undefined : place(length, target);
  const decipher = createDecipheriv(CHACHA, key, nonce, CHACHA_OPTIONS);
  decipher.setAuthTag(sealed.subarray(length));
  const unverified = decipher.update(sealed.subarray(0, length), undefined, 'latin1');
  try {
    decipher.final();
  } catch {
    throw new ChachaAuthenticationError();
  }
  const { buffer, offset } = out ?? { buffer: Buffer.allocUnsafe(length), offset: 0 };
  buffer.write(unverified, offset, 'latin1');
  return buffer.subarray(offset, offset + length);
}

// Raw 32-byte keys go in and out of Node's KeyObjects as JWK (RFC 8037 OKP):
// Node builds those straight from the raw bytes (EVP_PKEY_new_raw_*), while the
// PKCS#8 / SPKI DER forms go through OpenSSL 3's generic decoders and encoders,
// about ten times slower (~1 ms per private key on the bench machine). With one
// key import and one export per stored or opened file, that was the largest
// single CPU cost of a folder of small files (see docs/benchmarks.md).
type OkpCurve = 'X25519' | 'Ed25519';

/** The bytes of `raw` as base64url, without first copying them into another Buffer. */
function base64urlOf(raw: Uint8Array): string {
  return Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength).toString('base64url');
}

function okpPrivateKey(curve: OkpCurve, raw: Uint8Array): KeyObject {
  // For a private key Node reads only d (x must be a string, and is not used).
  // The JWK string is one more copy of the secret that cannot be wiped, as the
  // PKCS#8 Buffer it replaces was (nothing zeroed that either).
  return createPrivateKey({ key: { kty: 'OKP', crv: curve, d: base64urlOf(raw), x: '' }, format: 'jwk' });
}

function okpPublicKey(curve: OkpCurve, raw: Uint8Array): KeyObject {
  return createPublicKey({ key: { kty: 'OKP', crv: curve, x: base64urlOf(raw) }, format: 'jwk' });
}

/**
 * Public keys that come back file after file (the recipient every file of a
 * folder is sealed to, the author whose signature every file carries), kept
 * as KeyObjects: importing one is dearer than the X25519 or the verify
 * itself. Public values only; at most PUBLIC_KEYS_KEPT, the oldest out first.
 */
const PUBLIC_KEYS_KEPT = 32;
const publicKeys = new Map<string, KeyObject>();

function reusedPublicKey(curve: OkpCurve, raw: Uint8Array): KeyObject {
  const id = `${curve}:${base64urlOf(raw)}`;
  const kept = publicKeys.get(id);
  if (kept !== undefined) return kept;
  const key = okpPublicKey(curve, raw);
  if (publicKeys.size >= PUBLIC_KEYS_KEPT) publicKeys.delete(publicKeys.keys().next().value as string);
  publicKeys.set(id, key);
  return key;
}

/**
 * The raw public key of a private (or public) OKP KeyObject. A private key is
 * first reduced to its public half: its own JWK export would carry the
 * secret (d) along, a copy of the identity's secret in a string per file.
 */
function rawPublic(key: KeyObject): Buffer {
  const publicKey = key.type === 'private' ? createPublicKey(key) : key;
  const { x, d } = publicKey.export({ format: 'jwk' });
  if (d !== undefined) throw new Error('a public key export carried a private part');
  if (typeof x !== 'string') throw new Error('the key has no public part');
  return Buffer.from(x, 'base64url');
}

export function x25519PrivateKey(scalar: Uint8Array): KeyObject {
  if (scalar.length !== 32) throw new RangeError('an X25519 scalar is 32 bytes');
  return okpPrivateKey('X25519', scalar);
}

export function x25519PublicKeyOf(scalar: Uint8Array | KeyObject): Buffer {
  return rawPublic(scalar instanceof Uint8Array ? x25519PrivateKey(scalar) : scalar);
}

/**
 * X25519(scalar, point). Throws when the result is all zeros (a low-order
 * point), as age requires; Node itself refuses such a point in most builds.
 */
export function x25519(scalar: Uint8Array | KeyObject, point: Uint8Array, pointRecurs = false): Buffer {
  if (point.length !== 32) throw new RangeError('an X25519 point is 32 bytes');
  const privateKey = scalar instanceof Uint8Array ? x25519PrivateKey(scalar) : scalar;
  // pointRecurs: a recipient's key (kept); a one-time share is not worth keeping.
  const publicKey = pointRecurs ? reusedPublicKey('X25519', point) : okpPublicKey('X25519', point);
  let shared: Buffer;
  try {
    shared = diffieHellman({ privateKey, publicKey });
  } catch {
    throw new RangeError('X25519 with a low-order point');
  }
  if (shared.every((byte) => byte === 0)) throw new RangeError('X25519 with a low-order point');
  return shared;
}

export function ed25519PrivateKey(seed: Uint8Array): KeyObject {
  if (seed.length !== 32) throw new RangeError('an Ed25519 seed is 32 bytes');
  return okpPrivateKey('Ed25519', seed);
}

export function ed25519PublicKeyOf(privateKey: KeyObject): Buffer {
  return rawPublic(privateKey);
}

export function ed25519Sign(privateKey: KeyObject, message: Uint8Array): Buffer {
  return sign(null, message, privateKey);
}

export function ed25519Verify(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
  if (publicKey.length !== 32 || signature.length !== 64) return false;
  try {
    return verify(null, message, reusedPublicKey('Ed25519', publicKey), signature);
  } catch {
    return false;
  }
}
