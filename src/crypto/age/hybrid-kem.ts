/**
 * The ML-KEM-768 + X25519 hybrid KEM of age's mlkem768x25519 recipient type,
 * byte for byte the KEM of @noble/post-quantum 0.5.4's `ml_kem768_x25519`
 * (its `MLKEM768X25519`), with the X25519 half on Node's native X25519.
 *
 * Why: noble's X25519 is BigInt JavaScript. In a fresh server it cost ~80 ms
 * of CPU the first time (its tables) and ~6 ms per call after, on every
 * hybrid key-file load (the identity derives its public key) and every file
 * sealed to a hybrid recipient (the encapsulation), where Node's X25519 (the
 * one primitives.ts already uses for the X25519 recipient type) takes ~0.1 ms
 * (docs/benchmarks.md, pq9).
 *
 * How, without writing the cryptography: noble builds `ml_kem768_x25519`
 * from exported generic pieces, `combineKEMS(32, 32, expandSeedXof(shake256),
 * combiner, ml_kem768, ecdhKem(x25519))`. This is the same call with the same
 * pieces except two: `ecdhKem` is given an adapter whose keygen,
 * getPublicKey and getSharedSecret are primitives.ts's native X25519, and the
 * SHAKE256 seed expansion and the SHA3-256 combiner are Node's (OpenSSL's)
 * hashes rather than @noble/hashes' (one copy fewer in the bundle; same
 * functions). The combiner is noble's one line: SHA3-256(ss_mlkem || ss_x25519
 * || ct_x25519 || pk_x25519 || "\.//^\"). The tests hold getPublicKey,
 * encapsulate and decapsulate to noble's MLKEM768X25519 for many random
 * seeds and randomness, each side decapsulating the other's ciphertexts,
 * and the CCTV hybrid vectors must pass unchanged.
 *
 * Refusals are unchanged: a low-order X25519 point (an all-zero shared
 * secret) throws in primitives.ts's x25519 as in noble's (both as an Error
 * that stanzas.ts turns into a malformed stanza).
 *
 * The combiner also zeroes the two shared secrets it hashed (noble's own
 * decapsulation leaves them to the collector; its encapsulation zeroes them
 * after the combiner, which is then a second zeroing).
 *
 * Built at the first use, not at import: in the bundle these libraries are
 * lazily loaded stand-ins (tools/bundle.ts), and a start must not load them.
 */
import { createHash, createHmac, randomBytes } from 'node:crypto';
import { combineKEMS, ecdhKem, type Combiner, type ExpandSeed } from '@noble/post-quantum/hybrid.js';
import { ml_kem768 } from '@noble/post-quantum/ml-kem.js';
import type { KEM } from '@noble/post-quantum/utils.js';
import { x25519, x25519PublicKeyOf } from './primitives.js';

const X25519_SIZE = 32;
/** noble's label, as its source spells it: '\\.//^\\', the six characters \.//^\ */
const COMBINER_LABEL = Buffer.from('\\.//^\\', 'latin1');

/** SHAKE256(seed) to `length` bytes: what noble's `expandSeedXof(shake256)` returns. */
const expandSeed: ExpandSeed = (seed, length) => createHash('shake256', { outputLength: length }).update(seed).digest();

/** noble's ml_kem768_x25519 combiner (hybrid.js), on Node's SHA3-256; then zeroes the two shared secrets. */
const combiner: Combiner = (publicKeys, cipherTexts, sharedSecrets) => {
  const [mlKemSecret, x25519Secret] = sharedSecrets as [Uint8Array, Uint8Array];
  const combined = createHash('sha3-256')
    .update(mlKemSecret)
    .update(x25519Secret)
    .update(cipherTexts[1] as Uint8Array)
    .update(publicKeys[1] as Uint8Array)
    .update(COMBINER_LABEL)
    .digest();
  mlKemSecret.fill(0);
  x25519Secret.fill(0);
  return combined;
};

function checkedScalar(bytes: Uint8Array | undefined): Uint8Array {
  if (bytes === undefined || bytes.length !== X25519_SIZE) throw new RangeError('an X25519 seed is 32 bytes');
  return bytes;
}

/**
 * What `ecdhKem` reads of a curve (noble's montgomery x25519): lengths,
 * keygen (the seed *is* the secret key, clamped inside X25519, as noble's),
 * getPublicKey and getSharedSecret, here all native.
 */
const nativeX25519Curve = {
  lengths: { secretKey: X25519_SIZE, publicKey: X25519_SIZE, seed: X25519_SIZE },
  keygen(seed?: Uint8Array): { secretKey: Uint8Array; publicKey: Uint8Array } {
    const secretKey = checkedScalar(seed);
    return { secretKey, publicKey: x25519PublicKeyOf(secretKey) };
  },
  getPublicKey: (secretKey: Uint8Array): Uint8Array => x25519PublicKeyOf(checkedScalar(secretKey)),
  getSharedSecret: (secretKey: Uint8Array, publicKey: Uint8Array): Uint8Array => x25519(checkedScalar(secretKey), publicKey),
};

let kem: KEM | undefined;

/** The hybrid KEM (getPublicKey(seed), encapsulate(publicKey, randomness), decapsulate(cipherText, seed)). */
export function hybridKem(): KEM {
  kem ??= combineKEMS(
    32,
    32,
    expandSeed,
    combiner,
    ml_kem768,
    // The adapter has what ecdhKem uses of noble's MontgomeryECDH, not its other members.
    ecdhKem(nativeX25519Curve as unknown as Parameters<typeof ecdhKem>[0]),
  );
  return kem;
}

/**
 * Public keys derived from identity secrets, so that a hybrid key file
 * loaded request after request (every upload or download that names a key
 * path) derives its public key (an ML-KEM-768 key generation) once per
 * server life. Keyed by HMAC-SHA-256, under a key drawn at random for this
 * process, of a domain string and the secret: neither the secret nor a
 * value that outlives the process or can be recomputed outside it. The
 * values are public keys. At most HYBRID_PUBLIC_KEYS_REMEMBERED, the oldest
 * out first. A wiped identity leaves its entry (it holds nothing secret), but
 * a lock of the service's identity forgets them all, key included
 * (forgetHybridPublicKeys), so that after a lock the memory no longer says
 * which identities were used.
 */
export const HYBRID_PUBLIC_KEYS_REMEMBERED = 64;
const MEMO_DOMAIN = 'cloudlocker.dev/v2/hybrid-public-key-memo\n';
let memoKey: Buffer | undefined;
const publicKeysBySecret = new Map<string, Buffer>();
let derivations = 0;

function memoId(seed: Uint8Array): string {
  memoKey ??= randomBytes(32);
  return createHmac('sha256', memoKey).update(MEMO_DOMAIN).update(seed).digest('base64');
}

/** The hybrid public key (1216 bytes) of a 32-byte identity seed; a fresh copy each call. */
export function hybridPublicKeyOfSeed(seed: Uint8Array): Buffer {
  const id = memoId(seed);
  const kept = publicKeysBySecret.get(id);
  if (kept !== undefined) return Buffer.from(kept);
  const publicKey = Buffer.from(hybridKem().getPublicKey(seed));
  derivations++;
  if (publicKeysBySecret.size >= HYBRID_PUBLIC_KEYS_REMEMBERED) publicKeysBySecret.delete(publicKeysBySecret.keys().next().value as string);
  publicKeysBySecret.set(id, Buffer.from(publicKey));
  return publicKey;
}

/**
 * Forgets every remembered public key and the memo's HMAC key (a new one is
 * drawn at the next use): called when the service's identity is locked
 * (src/users/identity-session.ts). The next load of a hybrid key file
 * derives its public key again.
 */
export function forgetHybridPublicKeys(): void {
  publicKeysBySecret.clear();
  memoKey?.fill(0);
  memoKey = undefined;
}

/** How many public keys are remembered, and how many were derived so far (tests: the memo is used and bounded). */
export function hybridPublicKeyMemoStats(): { remembered: number; derivations: number } {
  return { remembered: publicKeysBySecret.size, derivations };
}
