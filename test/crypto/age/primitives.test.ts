/**
 * age's primitives one by one, against Node's own crypto and RFC 5869's test
 * vectors: what a caller (the stanzas, the header MAC, the payload) relies on.
 * A light file on purpose: it is the test list of the crypto-age-primitives-unit
 * mutation screen (stryker.config.mjs), re-run for every mutant.
 */
import { createCipheriv, createHash, createHmac, generateKeyPairSync, hkdfSync, diffieHellman, createPrivateKey, createPublicKey, sign } from 'node:crypto';
import { describe, expect, it } from '@jest/globals';
import {
  bytesEqual,
  chachaOpen,
  chachaSeal,
  ChachaAuthenticationError,
  ed25519PrivateKey,
  ed25519PublicKeyOf,
  ed25519Sign,
  ed25519Verify,
  hkdf,
  hkdfExpand,
  hkdfExtract,
  hmacSha256,
  x25519,
  x25519PrivateKey,
  x25519PublicKeyOf,
} from '../../../src/crypto/age/primitives.js';

const hex = (text: string): Buffer => Buffer.from(text, 'hex');
/** Deterministic test bytes: SHA-256 of a label, cut or repeated to `size`. */
function bytesOf(label: string, size = 32): Buffer {
  const out = Buffer.alloc(size);
  for (let i = 0; i * 32 < size; i++) createHash('sha256').update(`${label}/${i}`).digest().copy(out, i * 32);
  return out;
}

describe('HKDF and HMAC (RFC 5869)', () => {
  // RFC 5869 A.1 (SHA-256, basic test case).
  const ikm = hex('0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b');
  const salt = hex('000102030405060708090a0b0c');
  const info = hex('f0f1f2f3f4f5f6f7f8f9');
  const prk = hex('077709362c2e32df0ddc3f0dc47bba6390b6c73bb50f9c3122ec844ad7c2b3e5');
  const okm = hex('3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865');

  it('extracts and expands as RFC 5869 A.1 (a 42-byte output: two blocks, cut)', () => {
    expect(hkdfExtract(salt, ikm)).toEqual(prk);
    expect(hkdfExpand(prk, info, 42)).toEqual(okm);
    expect(hkdfExpand(prk, info, 32)).toEqual(okm.subarray(0, 32));
    expect(hkdf(ikm, salt, info, 42)).toEqual(okm);
  });

  it('treats an absent salt as 32 zero bytes (RFC 5869 A.3)', () => {
    expect(hkdfExtract(undefined, ikm)).toEqual(hex('19ef24a32c717b167f33a91d6f648bdf96596776afdb6377ac434c1c293ccb04'));
  });

  it('reads a string info as its UTF-8 bytes', () => {
    expect(hkdf(ikm, salt, 'age-encryption.org/v1/X25519')).toEqual(Buffer.from(hkdfSync('sha256', ikm, salt, Buffer.from('age-encryption.org/v1/X25519'), 32)));
  });

  it('MACs the concatenation of its parts', () => {
    const key = bytesOf('mac key');
    expect(hmacSha256(key, Buffer.from('ab'), Buffer.from('c'))).toEqual(createHmac('sha256', key).update('abc').digest());
  });

  it('compares bytes: equal, different content, different length', () => {
    expect(bytesEqual(Buffer.from('abc'), Buffer.from('abc'))).toBe(true);
    expect(bytesEqual(Buffer.from('abc'), Buffer.from('abd'))).toBe(false);
    expect(bytesEqual(Buffer.from('abc'), Buffer.from('abcd'))).toBe(false);
  });
});

describe('ChaCha20-Poly1305', () => {
  const key = bytesOf('chacha key');
  const nonce = bytesOf('chacha nonce', 12);
  const plaintext = Buffer.from('the file key, sixteen bytes or more');

  it('seals as Node does (ciphertext || 16-byte tag) and opens its own output', () => {
    const cipher = createCipheriv('chacha20-poly1305', key, nonce, { authTagLength: 16 });
    const expected = Buffer.concat([cipher.update(plaintext), cipher.final(), cipher.getAuthTag()]);
    const sealed = chachaSeal(key, nonce, plaintext);
    expect(sealed).toEqual(expected);
    expect(chachaOpen(key, nonce, sealed)).toEqual(plaintext);
  });

  it('opens an empty plaintext (a bare 16-byte tag)', () => {
    const sealed = chachaSeal(key, nonce, Buffer.alloc(0));
    expect(sealed.length).toBe(16);
    expect(chachaOpen(key, nonce, sealed)).toEqual(Buffer.alloc(0));
  });

  it('refuses a changed ciphertext, tag or key, and input shorter than a tag, as ChachaAuthenticationError', () => {
    const sealed = chachaSeal(key, nonce, plaintext);
    for (const at of [0, sealed.length - 1]) {
      const damaged = Buffer.from(sealed);
      damaged[at] ^= 1;
      expect(() => chachaOpen(key, nonce, damaged)).toThrow(ChachaAuthenticationError);
    }
    expect(() => chachaOpen(bytesOf('another key'), nonce, sealed)).toThrow(ChachaAuthenticationError);
    expect(() => chachaOpen(key, nonce, sealed.subarray(0, 15))).toThrow(ChachaAuthenticationError);
    const error = (() => {
      try {
        chachaOpen(key, nonce, sealed.subarray(0, 15));
      } catch (err) {
        return err as Error;
      }
      return undefined;
    })();
    expect(error?.name).toBe('ChachaAuthenticationError');
    expect(error?.message).toBe('ChaCha20-Poly1305 authentication failed');
  });

  it('refuses a key or nonce of the wrong size with its own message', () => {
    expect(() => chachaSeal(key.subarray(0, 16), nonce, plaintext)).toThrow(new RangeError('ChaCha20-Poly1305 needs a 32-byte key, got 16'));
    expect(() => chachaSeal(key, nonce.subarray(0, 8), plaintext)).toThrow(new RangeError('ChaCha20-Poly1305 needs a 12-byte nonce, got 8'));
    expect(() => chachaOpen(key.subarray(0, 16), nonce, chachaSeal(key, nonce, plaintext))).toThrow(RangeError);
  });

  it('seals and opens into a caller buffer (Buffer or Uint8Array) at an offset, or at 0 when none is given', () => {
    const sealed = chachaSeal(key, nonce, plaintext);
    const out = Buffer.alloc(sealed.length + 8, 0xee);
    const view = chachaSeal(key, nonce, plaintext, { out, outOffset: 5 });
    expect(view).toEqual(sealed);
    expect(out.subarray(5, 5 + sealed.length)).toEqual(sealed);
    expect(out[4]).toBe(0xee);

    const plain = new Uint8Array(plaintext.length);
    const opened = chachaOpen(key, nonce, sealed, { out: plain });
    expect(Buffer.from(plain)).toEqual(plaintext);
    expect(opened).toEqual(plaintext);
  });

  it('refuses a caller buffer too small, a negative or fractional offset, and leaves it untouched when the tag fails', () => {
    const sealed = chachaSeal(key, nonce, plaintext);
    const small = Buffer.alloc(sealed.length - 1);
    expect(() => chachaSeal(key, nonce, plaintext, { out: small })).toThrow(
      new RangeError(`output buffer too small: need ${sealed.length} bytes at offset 0`),
    );
    const exact = Buffer.alloc(sealed.length);
    expect(() => chachaSeal(key, nonce, plaintext, { out: exact, outOffset: 1 })).toThrow(RangeError);
    expect(() => chachaSeal(key, nonce, plaintext, { out: exact, outOffset: -1 })).toThrow(RangeError);
    expect(() => chachaSeal(key, nonce, plaintext, { out: exact, outOffset: 0.5 })).toThrow(RangeError);
    expect(chachaSeal(key, nonce, plaintext, { out: exact, outOffset: 0 })).toEqual(sealed);
    expect(() => chachaOpen(key, nonce, sealed, { out: Buffer.alloc(plaintext.length - 1) })).toThrow(RangeError);

    const damaged = Buffer.from(sealed);
    damaged[0] ^= 1;
    const out = Buffer.alloc(plaintext.length, 0xaa);
    expect(() => chachaOpen(key, nonce, damaged, { out })).toThrow(ChachaAuthenticationError);
    expect(out).toEqual(Buffer.alloc(plaintext.length, 0xaa));
  });
});

describe('X25519 and Ed25519', () => {
  it('agrees with Node on the public key and the shared secret', () => {
    const alice = bytesOf('alice');
    const bob = bytesOf('bob');
    const nodeKey = createPrivateKey({ key: { kty: 'OKP', crv: 'X25519', d: alice.toString('base64url'), x: '' }, format: 'jwk' });
    const nodePublic = (createPublicKey(nodeKey).export({ format: 'jwk' }) as { x: string }).x;
    expect(x25519PublicKeyOf(alice).toString('base64url')).toBe(nodePublic);
    expect(x25519PublicKeyOf(x25519PrivateKey(alice))).toEqual(x25519PublicKeyOf(alice));
    expect(x25519(alice, x25519PublicKeyOf(bob))).toEqual(x25519(x25519PrivateKey(bob), x25519PublicKeyOf(alice)));
  });

  it('returns a shared secret that has zero bytes in it (only an all-zero one is refused)', () => {
    // The first of a fixed series of scalar pairs whose shared secret holds a zero byte (~1 in 8).
    let found = false;
    for (let i = 0; i < 200 && !found; i++) {
      const a = bytesOf(`zero-byte a ${i}`);
      const b = bytesOf(`zero-byte b ${i}`);
      const shared = diffieHellman({ privateKey: x25519PrivateKey(a), publicKey: createPublicKey(x25519PrivateKey(b)) });
      if (!shared.includes(0)) continue;
      found = true;
      expect(x25519(a, x25519PublicKeyOf(b))).toEqual(shared);
    }
    expect(found).toBe(true);
  });

  it('refuses low-order points (age requires it) and keys of the wrong size, with its own messages', () => {
    const scalar = bytesOf('scalar');
    // The all-zero point and the point of order 1 (u = 1): X25519 gives all zeros.
    for (const point of [Buffer.alloc(32), hex('0100000000000000000000000000000000000000000000000000000000000000')]) {
      expect(() => x25519(scalar, point)).toThrow(new RangeError('X25519 with a low-order point'));
    }
    expect(() => x25519(scalar, Buffer.alloc(31, 9))).toThrow(new RangeError('an X25519 point is 32 bytes'));
    expect(() => x25519PrivateKey(Buffer.alloc(31, 9))).toThrow(new RangeError('an X25519 scalar is 32 bytes'));
    expect(() => x25519PublicKeyOf(Buffer.alloc(33, 9))).toThrow(new RangeError('an X25519 scalar is 32 bytes'));
    expect(() => ed25519PrivateKey(Buffer.alloc(31, 9))).toThrow(new RangeError('an Ed25519 seed is 32 bytes'));
  });

  it('signs as Node does and verifies only the right message, key and signature', () => {
    const seed = bytesOf('signer');
    const signer = ed25519PrivateKey(seed);
    const message = Buffer.from('cloudlocker.dev/v2/author/signature\n...');
    const signature = ed25519Sign(signer, message);
    expect(signature).toEqual(sign(null, message, signer));
    const publicKey = ed25519PublicKeyOf(signer);
    expect(ed25519Verify(publicKey, message, signature)).toBe(true);
    expect(ed25519Verify(publicKey, Buffer.from('another message'), signature)).toBe(false);
    const otherPublic = ed25519PublicKeyOf(generateKeyPairSync('ed25519').privateKey);
    expect(ed25519Verify(otherPublic, message, signature)).toBe(false);
    const damaged = Buffer.from(signature);
    damaged[10] ^= 1;
    expect(ed25519Verify(publicKey, message, damaged)).toBe(false);
    // Wrong sizes are a plain "no", never an exception (the author check reads stored bytes).
    expect(ed25519Verify(publicKey.subarray(0, 31), message, signature)).toBe(false);
    expect(ed25519Verify(publicKey, message, signature.subarray(0, 63))).toBe(false);
    expect(ed25519Verify(publicKey, message, Buffer.concat([signature, Buffer.alloc(1)]))).toBe(false);
  });
});
