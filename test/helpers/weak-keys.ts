/**
 * Public keys no card may carry, from published lists (not derived from the
 * code under test), and a forger that uses one the way a malicious store would.
 *
 * Ed25519: libsodium's `ge25519_has_small_order()` blocklist
 * (jedisct1/libsodium, src/libsodium/crypto_core/ed25519/ref10/ed25519_ref10.c).
 * libsodium compares with the sign bit (bit 255) cleared, so each of its seven
 * entries stands for two encodings; both are listed. Together: the eight
 * small-order points (orders 1, 2, 4, 8) in canonical form, and the
 * non-canonical encodings of small-order points (y = p, y = p + 1, and the
 * "negative zero" x of the two points with x = 0). The same set is in
 * "Taming the many EdDSAs" (Chalkias, Garillot, Nikolaenko, 2020), table of
 * small-order points, and in @noble/curves' ED25519_TORSION_SUBGROUP.
 *
 * X25519: libsodium's `has_small_order()` blocklist
 * (src/libsodium/crypto_scalarmult/curve25519/ref10/x25519_ref10.c), the u
 * coordinates of order 1, 2, 4, 8 on Curve25519 and its twist and their
 * encodings >= p; X25519 ignores the top bit (RFC 7748 section 5), so each is
 * listed with it set too.
 */
import { verify, createPublicKey } from 'node:crypto';
import { authorCommitment, authorMessage, authorNameTag, AUTHOR_STANZA_TYPE } from '../../src/crypto/age/author.js';
import { encodeHeader } from '../../src/crypto/age/header.js';
import { makeCard, wrapTo, type AgeCard } from '../../src/crypto/age/identity.js';
import { AgePayloadSealer, AGE_CHUNK_SIZE } from '../../src/crypto/age/payload.js';
import type { AgeRecipientKey } from '../../src/crypto/age/stanzas.js';
import { systemRandom } from '../../src/crypto/random.js';

const LIBSODIUM_ED25519_SMALL_ORDER = [
  '0000000000000000000000000000000000000000000000000000000000000000', // 0 (order 4)
  '0100000000000000000000000000000000000000000000000000000000000000', // 1 (order 1)
  '26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05', // order 8
  'c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a', // order 8
  'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f', // p-1 (order 2)
  'edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f', // p (=0, order 4)
  'eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f', // p+1 (=1, order 1)
];

const LIBSODIUM_X25519_SMALL_ORDER = [
  '0000000000000000000000000000000000000000000000000000000000000000', // 0 (order 4)
  '0100000000000000000000000000000000000000000000000000000000000000', // 1 (order 1)
  'e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800', // order 8
  '5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157', // order 8
  'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f', // p-1 (order 2)
  'edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f', // p (=0, order 4)
  'eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f', // p+1 (=1, order 1)
];

function withSignBit(hex: string): Buffer[] {
  const clear = Buffer.from(hex, 'hex');
  const set = Buffer.from(clear);
  set[31] |= 0x80;
  return [clear, set];
}

/** The 14 Ed25519 encodings of small-order points (canonical or not). */
export const ED25519_SMALL_ORDER_KEYS: readonly Buffer[] = LIBSODIUM_ED25519_SMALL_ORDER.flatMap(withSignBit);
/** The 14 X25519 encodings of low-order points. */
export const X25519_LOW_ORDER_KEYS: readonly Buffer[] = LIBSODIUM_X25519_SMALL_ORDER.flatMap(withSignBit);
/** The key the issue was found with: y = p, a non-canonical encoding of a point of order 4. */
export const ED25519_Y_EQUALS_P = Buffer.from('edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f', 'hex');

/** `key` (32 bytes of X25519) with its top bit set: X25519 ignores the bit (RFC 7748 section 5), a real key never has it. */
export function withX25519TopBit(key: Uint8Array): Buffer {
  const out = Buffer.from(key);
  out[31] = (out[31] as number) | 0x80;
  return out;
}

/**
 * An ML-KEM-768 encapsulation key (or a hybrid key starting with one) with
 * coefficient `index` (0..767) of its vector t-hat set to `value` (0..4095):
 * bytes 0..1151 hold the coefficients two per 3 bytes, little-endian (FIPS 203,
 * ByteEncode12). A value of 3329 (q) or more fails FIPS 203's modulus check.
 */
export function withMlKemCoefficient(key: Uint8Array, index: number, value: number): Buffer {
  const out = Buffer.from(key);
  const at = Math.floor(index / 2) * 3;
  if (index % 2 === 0) {
    out[at] = value & 0xff;
    out[at + 1] = ((out[at + 1] as number) & 0xf0) | (value >> 8);
  } else {
    out[at + 1] = ((out[at + 1] as number) & 0x0f) | ((value & 0x0f) << 4);
    out[at + 2] = value >> 4;
  }
  return out;
}

/** Node's own Ed25519 verify (OpenSSL), as the product used it before the key checks. */
export function nodeAcceptsSignature(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
  try {
    const key = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: Buffer.from(publicKey).toString('base64url') }, format: 'jwk' });
    return verify(null, message, key, signature);
  } catch {
    return false;
  }
}

/** A card with any signing key, built without parseCard's checks (what an attacker hands out). */
export function cardWithSigningKey(recipient: AgeRecipientKey, signingPublicKey: Buffer): AgeCard {
  return makeCard(recipient, signingPublicKey);
}

/**
 * An age object for `reader` under `name` whose author stanza names `card`
 * and carries an all-zero signature, retried with fresh file keys until
 * Node's verify accepts that signature for the card's key (for y = p about
 * one message in three does). Nobody holding a private key was involved.
 */
export function forgeZeroSignatureObject(reader: AgeRecipientKey, card: AgeCard, name: string, content: Buffer): Buffer {
  const zeroSignature = Buffer.alloc(64);
  for (let attempt = 0; attempt < 1000; attempt++) {
    const fileKey = systemRandom(16);
    const nameTag = authorNameTag(fileKey, name);
    const message = authorMessage(card.cardId, authorCommitment(fileKey), nameTag);
    if (!nodeAcceptsSignature(card.signingPublicKey, message, zeroSignature)) continue;
    const author = { args: [AUTHOR_STANZA_TYPE, card.cardId], body: Buffer.concat([nameTag, zeroSignature]) };
    const header = encodeHeader([wrapTo(reader, fileKey, systemRandom), author], fileKey);
    const nonce = systemRandom(16);
    const sealer = new AgePayloadSealer(fileKey, nonce);
    const chunks: Buffer[] = [];
    const count = Math.max(1, Math.ceil(content.length / AGE_CHUNK_SIZE));
    for (let i = 0; i < count; i++) {
      chunks.push(Buffer.from(sealer.encryptChunk(i, content.subarray(i * AGE_CHUNK_SIZE, (i + 1) * AGE_CHUNK_SIZE), i === count - 1)));
    }
    return Buffer.concat([header, nonce, ...chunks]);
  }
  throw new Error('Node never accepted the all-zero signature: the forgery this test relies on no longer works');
}
