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
 */
import { ed25519 } from '@noble/curves/ed25519.js';
import { x25519 } from './primitives.js';

const ED25519_PUBLIC_KEY_SIZE = 32;
const X25519_PUBLIC_KEY_SIZE = 32;
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
  return undefined;
}
