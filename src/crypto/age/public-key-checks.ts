/**
 * Checks on public keys that arrive from outside (cards, recipients): the
 * ones a signature or a key agreement must never be trusted with.
 *
 * Ed25519 signing keys (docs/format.md, "Public card"; docs/security.md):
 * Node 20's `verify` (OpenSSL) accepts an all-zero signature on a good share
 * of messages when the public key is a small-order point (for example
 * `ed ff…ff 7f`, y = p, a non-canonical encoding of y = 0). A card carrying
 * such a key would let anyone, the store included, forge files "authored" by
 * that card. So a signing key is accepted only when it is
 *   - the canonical encoding of a curve point (y < p, no "negative zero"),
 *     as RFC 8032 section 5.1.3 requires of a decoder;
 *   - not of small order (the eight points of order 1, 2, 4 or 8);
 *   - torsion-free (in the prime-order subgroup), which also refuses
 *     mixed-order keys (a good point plus a small-order one).
 * A derived key (ours, from a seed) always passes: it is [s]B.
 *
 * The point arithmetic is @noble/curves' (audited; the library age-encryption
 * already uses), not a hand-kept list of bad encodings: strict decoding
 * (`Point.fromBytes(bytes, false)`), `isSmallOrder()`, `isTorsionFree()`.
 * The torsion check is a full scalar multiplication in JavaScript (a few
 * milliseconds), and the contact book is re-read and re-parsed on every
 * call, so keys that passed are remembered (bounded).
 *
 * X25519 recipients: a low-order point makes every shared secret all zeros,
 * which age requires a sender to refuse. The check runs X25519 with a fixed
 * scalar through the same native primitive that wraps file keys
 * (primitives.ts `x25519`, which refuses an all-zero result): a clamped
 * scalar is a multiple of 8, so the result is zero exactly for the points of
 * order dividing 8 (on the curve or its twist), whatever the scalar.
 * An X25519 key must also be the canonical encoding of its u-coordinate
 * (u < p = 2^255 - 19 read as a 256-bit little-endian number, so the top bit
 * clear): every real public key is (it is an X25519 output). RFC 7748 section
 * 5 has the X25519 *function* mask the top bit and reduce u mod p, so a
 * non-canonical key gives the same shared secret as its canonical form; but
 * age hashes the recipient key *as written* into the wrap key's salt (and the
 * hybrid KEM into its combiner), while the owner's identity uses its own,
 * canonical, key: a file for such a key would silently not open for its
 * owner. age's Go code and typage accept any 32 bytes; refusing is ours.
 * (The ephemeral share inside a stored X25519 stanza is not checked: its
 * bytes are hashed as written on both sides, so any encoding opens, as in
 * age; docs/format.md section 15.)
 *
 * ML-KEM-768 encapsulation keys (the first 1184 bytes of a hybrid key):
 * FIPS 203 section 7.2 requires ML-KEM.Encaps to refuse a key that fails the
 * "modulus check", ByteEncode12(ByteDecode12(ek[0:1152])) == ek[0:1152],
 * i.e. every 12-bit coefficient of the encoded vector t-hat is below q = 3329.
 * @noble/post-quantum 0.5.4 has that check only inside `encapsulate`, not
 * exported, and there it never fires: its 12-bit decoding does not reduce
 * mod q, so the re-encoding always equals the input (test: "why at parse").
 * It encapsulates to such a key, and since ML-KEM hashes the key as written
 * the file would not open for the key's owner. So the check is written here
 * from FIPS 203 (Algorithm 6, ByteDecode12: each 3 bytes hold two 12-bit
 * coefficients, little-endian) and held by the tests to a bit-by-bit
 * decoding; it costs a loop over 1152 bytes and loads nothing.
 */
import { ed25519 } from '@noble/curves/ed25519.js';
import { x25519 } from './primitives.js';

const ED25519_PUBLIC_KEY_SIZE = 32;
const X25519_PUBLIC_KEY_SIZE = 32;
/** FIPS 203 ML-KEM-768: k = 3 polynomials of 256 12-bit coefficients (1152 bytes), then the 32-byte seed rho. */
export const MLKEM768_ENCAPSULATION_KEY_SIZE = 1184;
const MLKEM768_T_HAT_BYTES = 1152;
const MLKEM_Q = 3329;
/** Enough for a full contact book (MAX_CONTACTS) and the cards of a session's calls. */
const MAX_REMEMBERED = 4096;
const goodSigningKeys = new Set<string>();
/** Any fixed scalar does (see above); this one is not secret. */
const PROBE_SCALAR = Buffer.alloc(32, 0x5a);

/** Why `publicKey` must not be trusted as an Ed25519 signing key, or undefined when it may. */
export function ed25519PublicKeyProblem(publicKey: Uint8Array): string | undefined {
  if (publicKey.length !== ED25519_PUBLIC_KEY_SIZE) return `it is ${publicKey.length} bytes, not ${ED25519_PUBLIC_KEY_SIZE}`;
  const hex = Buffer.from(publicKey.buffer, publicKey.byteOffset, publicKey.byteLength).toString('hex');
  if (goodSigningKeys.has(hex)) return undefined;
  let point;
  try {
    point = ed25519.Point.fromBytes(publicKey, false);
  } catch {
    return 'it is not the canonical encoding of a curve point';
  }
  if (point.isSmallOrder()) return 'it is a small-order point (anyone could forge its signatures)';
  if (!point.isTorsionFree()) return 'it has a small-order component (a mixed-order point, not a real signing key)';
  if (goodSigningKeys.size >= MAX_REMEMBERED) goodSigningKeys.clear();
  goodSigningKeys.add(hex);
  return undefined;
}

/** Why `publicKey` must not be encrypted to as an X25519 recipient, or undefined when it may. */
export function x25519PublicKeyProblem(publicKey: Uint8Array): string | undefined {
  if (publicKey.length !== X25519_PUBLIC_KEY_SIZE) return `it is ${publicKey.length} bytes, not ${X25519_PUBLIC_KEY_SIZE}`;
  try {
    x25519(PROBE_SCALAR, publicKey);
  } catch (err) {
    // x25519 answers a low-order point (an all-zero or refused result) with a RangeError; anything else is not this key's fault.
    if (err instanceof RangeError) return 'it is a low-order point (every shared secret with it would be all zeros)';
    throw err;
  }
  // After the low-order test, so that the non-canonical encodings of low-order points are named as low order.
  if (((publicKey[31] as number) & 0x80) !== 0) {
    return 'it is not the canonical encoding of an X25519 key (its top bit is set; a file for it would not open with its owner\'s key)';
  }
  if (isAtLeastFieldPrime(publicKey)) {
    return 'it is not the canonical encoding of an X25519 key (its u-coordinate is 2^255 - 19 or more; a file for it would not open with its owner\'s key)';
  }
  return undefined;
}

/** Whether the 32 little-endian bytes, top bit clear, are p = 2^255 - 19 or more: 7f ff…ff, then the low byte ed or above. */
function isAtLeastFieldPrime(bytes: Uint8Array): boolean {
  if (bytes[31] !== 0x7f) return false;
  for (let i = 30; i >= 1; i--) if (bytes[i] !== 0xff) return false;
  return (bytes[0] as number) >= 0xed;
}

/**
 * Why `encapsulationKey` must not be encrypted to as an ML-KEM-768 key, or
 * undefined when it may: FIPS 203's modulus check (section 7.2), every
 * coefficient of t-hat below q. (The last 32 bytes, the seed rho, may be anything.)
 */
export function mlKem768EncapsulationKeyProblem(encapsulationKey: Uint8Array): string | undefined {
  if (encapsulationKey.length !== MLKEM768_ENCAPSULATION_KEY_SIZE) {
    return `it is ${encapsulationKey.length} bytes, not ${MLKEM768_ENCAPSULATION_KEY_SIZE}`;
  }
  for (let i = 0; i < MLKEM768_T_HAT_BYTES; i += 3) {
    const b0 = encapsulationKey[i] as number;
    const b1 = encapsulationKey[i + 1] as number;
    const b2 = encapsulationKey[i + 2] as number;
    const low = b0 | ((b1 & 0x0f) << 8);
    if (low >= MLKEM_Q) return modulusProblem((i / 3) * 2, low);
    const high = (b1 >> 4) | (b2 << 4);
    if (high >= MLKEM_Q) return modulusProblem((i / 3) * 2 + 1, high);
  }
  return undefined;
}

function modulusProblem(index: number, value: number): string {
  return (
    `it fails FIPS 203's modulus check (section 7.2): coefficient ${index % 256} of polynomial ${Math.floor(index / 256)} ` +
    `of its vector t-hat is ${value}, not below q = ${MLKEM_Q} (no real key holds such a value)`
  );
}
