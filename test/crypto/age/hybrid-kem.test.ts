/**
 * The hybrid KEM with native X25519 (src/crypto/age/hybrid-kem.ts) is byte
 * for byte @noble/post-quantum's MLKEM768X25519 (the reference, as
 * age-encryption uses it): the same public key for a seed, the same
 * ciphertext and shared secret for the same randomness, and each side opens
 * the other's ciphertexts; low-order X25519 points are refused by both.
 * Then the public-key memo: the derivation's key, per secret, bounded.
 */
import { randomBytes } from 'node:crypto';
import { describe, expect, test } from '@jest/globals';
import { MLKEM768X25519 } from '@noble/post-quantum/hybrid.js';
import {
  HYBRID_PUBLIC_KEYS_REMEMBERED,
  hybridKem,
  hybridPublicKeyOfSeed,
  hybridPublicKeyMemoStats,
} from '../../../src/crypto/age/hybrid-kem.js';
import { streamBytes } from '../../../tools/vectors/deterministic.js';

const CASES = 40;
const MLKEM_CIPHERTEXT_SIZE = 1088;
const MLKEM_PUBLIC_KEY_SIZE = 1184;

/** Random cases, reproducible (streamBytes) and fresh (randomBytes) mixed, so a failure can be replayed and new ground is covered each run. */
function caseBytes(label: string, index: number, length: number): Buffer {
  return index % 2 === 0 ? streamBytes(`hybrid-kem ${label} ${index}`, length) : randomBytes(length);
}

const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString('hex');

describe('the native-X25519 hybrid KEM equals noble\'s MLKEM768X25519', () => {
  const kem = hybridKem();

  test('its lengths are noble\'s', () => {
    expect(kem.lengths).toEqual(MLKEM768X25519.lengths);
  });

  test(`getPublicKey: the same 1216 bytes for ${CASES} seeds`, () => {
    for (let i = 0; i < CASES; i++) {
      const seed = caseBytes('seed', i, 32);
      const before = Buffer.from(seed);
      const ours = kem.getPublicKey(seed);
      expect(ours).toHaveLength(1216);
      expect(hex(ours)).toBe(hex(MLKEM768X25519.getPublicKey(Buffer.from(seed))));
      expect(seed.equals(before)).toBe(true);
    }
  });

  test(`encapsulate: the same ciphertext and shared secret for the same randomness, ${CASES} cases; each side decapsulates the other's`, () => {
    for (let i = 0; i < CASES; i++) {
      const seed = caseBytes('recipient', i, 32);
      const publicKey = MLKEM768X25519.getPublicKey(seed);
      const randomness = caseBytes('randomness', i, 64);
      // Each gets its own copy: both zero the X25519 part of the randomness they were given.
      const ours = kem.encapsulate(publicKey, Buffer.from(randomness));
      const theirs = MLKEM768X25519.encapsulate(publicKey, Buffer.from(randomness));
      expect(hex(ours.cipherText)).toBe(hex(theirs.cipherText));
      expect(hex(ours.sharedSecret)).toBe(hex(theirs.sharedSecret));
      expect(ours.sharedSecret).toHaveLength(32);
      // Fresh randomness, not shared: the two KEMs open each other's ciphertexts.
      const mine = kem.encapsulate(publicKey, randomBytes(64));
      const nobles = MLKEM768X25519.encapsulate(publicKey, randomBytes(64));
      expect(hex(MLKEM768X25519.decapsulate(mine.cipherText, seed))).toBe(hex(mine.sharedSecret));
      expect(hex(kem.decapsulate(nobles.cipherText, seed))).toBe(hex(nobles.sharedSecret));
      expect(hex(kem.decapsulate(mine.cipherText, seed))).toBe(hex(mine.sharedSecret));
    }
  });

  test('decapsulate with the wrong seed: both give the same (implicitly rejected) secret, not the sender\'s', () => {
    const publicKey = MLKEM768X25519.getPublicKey(streamBytes('right', 32));
    const { cipherText, sharedSecret } = MLKEM768X25519.encapsulate(publicKey, streamBytes('r', 64));
    const wrong = streamBytes('wrong', 32);
    const ours = kem.decapsulate(cipherText, wrong);
    expect(hex(ours)).toBe(hex(MLKEM768X25519.decapsulate(cipherText, wrong)));
    expect(hex(ours)).not.toBe(hex(sharedSecret));
  });

  test(`random X25519 halves (twist points; bit 255 set in a quarter; non-canonical ones are in the fixed cases below) give noble's results, ${CASES} cases`, () => {
    for (let i = 0; i < CASES; i++) {
      const publicKey = Buffer.from(MLKEM768X25519.getPublicKey(caseBytes('mlkem half', i, 32)));
      const x = caseBytes('x25519 half', i, 32);
      if (i % 4 === 0) x[31] = (x[31] as number) | 0x80;
      x.copy(publicKey, MLKEM_PUBLIC_KEY_SIZE);
      const randomness = caseBytes('twist randomness', i, 64);
      let theirs: { cipherText: Uint8Array; sharedSecret: Uint8Array } | Error;
      try {
        theirs = MLKEM768X25519.encapsulate(publicKey, Buffer.from(randomness));
      } catch (err) {
        theirs = err as Error;
      }
      if (theirs instanceof Error) {
        expect(() => kem.encapsulate(publicKey, Buffer.from(randomness))).toThrow();
        continue;
      }
      const ours = kem.encapsulate(publicKey, Buffer.from(randomness));
      expect(hex(ours.cipherText)).toBe(hex(theirs.cipherText));
      expect(hex(ours.sharedSecret)).toBe(hex(theirs.sharedSecret));
    }
  });

  // Fixed X25519 halves the random cases above almost never reach: the non-canonical encodings u = p … 2^255-1
  // (p = 2^255-19; u >= p is taken mod p by RFC 7748's decodeUCoordinate) and the low values u = 0..39, each also
  // with bit 255 set (which X25519 ignores). Every one must give noble's result: the same bytes, or both refuse.
  const P25519 = 2n ** 255n - 19n;
  const littleEndian32 = (value: bigint): Buffer => {
    const out = Buffer.alloc(32);
    for (let i = 0, v = value; i < 32; i++, v >>= 8n) out[i] = Number(v & 0xffn);
    return out;
  };
  const fixedHalves = [
    ...Array.from({ length: 19 }, (_, k) => ({ name: `u = p+${k}`, u: P25519 + BigInt(k) })), // p+18 = 2^255-1
    ...Array.from({ length: 40 }, (_, k) => ({ name: `u = ${k}`, u: BigInt(k) })),
  ].flatMap(({ name, u }) => [
    { name, bytes: littleEndian32(u) },
    { name: `${name} with bit 255`, bytes: littleEndian32(u | (1n << 255n)) },
  ]);
  /** The outcome as comparable text: the bytes it returned, or that it threw. */
  const outcomeOf = (run: () => Uint8Array[]): string => {
    try {
      return run().map(hex).join(' ');
    } catch {
      return 'refused';
    }
  };

  test(`fixed X25519 halves (non-canonical u = p..2^255-1, u = 0..39, each with and without bit 255: ${fixedHalves.length}) in a ciphertext: decapsulate gives noble's result`, () => {
    const seed = streamBytes('fixed halves owner', 32);
    const { cipherText } = MLKEM768X25519.encapsulate(MLKEM768X25519.getPublicKey(seed), streamBytes('fixed halves', 64));
    const outcomes: string[] = [];
    for (const { name, bytes } of fixedHalves) {
      const bad = Buffer.concat([Buffer.from(cipherText).subarray(0, MLKEM_CIPHERTEXT_SIZE), bytes]);
      const ours = outcomeOf(() => [kem.decapsulate(bad, seed)]);
      expect(`${name}: ${ours}`).toBe(`${name}: ${outcomeOf(() => [MLKEM768X25519.decapsulate(Buffer.from(bad), seed)])}`);
      outcomes.push(ours);
    }
    // Not a comparison of two refusals: most of them open (only u ≡ 0, 1, p-1 mod p are low order here).
    expect(outcomes.filter((outcome) => outcome === 'refused').length).toBeLessThan(10);
  });

  test(`fixed X25519 halves (the same ${fixedHalves.length}) as a recipient's X25519 half: encapsulate gives noble's ciphertext and secret`, () => {
    const mlKemHalf = Buffer.from(MLKEM768X25519.getPublicKey(streamBytes('fixed halves recipient', 32))).subarray(0, MLKEM_PUBLIC_KEY_SIZE);
    const outcomes: string[] = [];
    for (const [i, { name, bytes }] of fixedHalves.entries()) {
      const publicKey = Buffer.concat([mlKemHalf, bytes]);
      const randomness = streamBytes(`fixed halves randomness ${i}`, 64);
      const ours = outcomeOf(() => {
        const { cipherText, sharedSecret } = kem.encapsulate(publicKey, Buffer.from(randomness));
        return [cipherText, sharedSecret];
      });
      const theirs = outcomeOf(() => {
        const { cipherText, sharedSecret } = MLKEM768X25519.encapsulate(Buffer.from(publicKey), Buffer.from(randomness));
        return [cipherText, sharedSecret];
      });
      expect(`${name}: ${ours}`).toBe(`${name}: ${theirs}`);
      outcomes.push(ours);
    }
    expect(outcomes.filter((outcome) => outcome === 'refused').length).toBeLessThan(10);
  });

  // Points of order dividing 8 on the curve or its twist (u = 0, 1, p-1, and the two of order 8), and a non-canonical encoding of 0 (u = p).
  const lowOrder = [
    '0000000000000000000000000000000000000000000000000000000000000000',
    '0100000000000000000000000000000000000000000000000000000000000000',
    'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
    'e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800',
    '5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157',
    'edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
  ];

  test.each(lowOrder)('a low-order X25519 share %s in a ciphertext is refused by both', (point) => {
    const seed = streamBytes('low order owner', 32);
    const publicKey = MLKEM768X25519.getPublicKey(seed);
    const { cipherText } = MLKEM768X25519.encapsulate(publicKey, streamBytes('low order', 64));
    const bad = Buffer.concat([Buffer.from(cipherText).subarray(0, MLKEM_CIPHERTEXT_SIZE), Buffer.from(point, 'hex')]);
    expect(() => MLKEM768X25519.decapsulate(bad, seed)).toThrow();
    expect(() => kem.decapsulate(bad, seed)).toThrow();
  });

  test.each(lowOrder)('encapsulating to a low-order X25519 half %s is refused by both', (point) => {
    const publicKey = Buffer.concat([Buffer.from(MLKEM768X25519.getPublicKey(streamBytes('low order half', 32))).subarray(0, MLKEM_PUBLIC_KEY_SIZE), Buffer.from(point, 'hex')]);
    expect(() => MLKEM768X25519.encapsulate(publicKey, streamBytes('lo', 64))).toThrow();
    expect(() => kem.encapsulate(publicKey, streamBytes('lo', 64))).toThrow();
  });

  test('wrong lengths are refused', () => {
    const seed = streamBytes('lengths', 32);
    const publicKey = kem.getPublicKey(seed);
    expect(() => kem.getPublicKey(seed.subarray(0, 31))).toThrow();
    expect(() => kem.encapsulate(publicKey.subarray(0, 1215), randomBytes(64))).toThrow();
    expect(() => kem.encapsulate(publicKey, randomBytes(63))).toThrow();
    const { cipherText } = kem.encapsulate(publicKey, randomBytes(64));
    expect(() => kem.decapsulate(cipherText.subarray(0, 1119), seed)).toThrow();
  });
});

describe('the hybrid public key is derived once per secret (bounded memo)', () => {
  test('the memo returns the derivation\'s key, the same on the second call, and a copy each time', () => {
    const seed = streamBytes('memo one', 32);
    const before = hybridPublicKeyMemoStats().derivations;
    const first = hybridPublicKeyOfSeed(seed);
    expect(hex(first)).toBe(hex(MLKEM768X25519.getPublicKey(seed)));
    expect(hybridPublicKeyMemoStats().derivations).toBe(before + 1);
    first.fill(0); // a caller changing its copy does not change what the memo hands out
    const second = hybridPublicKeyOfSeed(seed);
    expect(hybridPublicKeyMemoStats().derivations).toBe(before + 1);
    expect(hex(second)).toBe(hex(MLKEM768X25519.getPublicKey(seed)));
    expect(second).not.toBe(first);
  });

  test('a different secret gets a different key (its own, not a remembered one)', () => {
    const a = streamBytes('memo a', 32);
    const b = Buffer.from(a);
    b[0] = (b[0] as number) ^ 1;
    const keyA = hybridPublicKeyOfSeed(a);
    const keyB = hybridPublicKeyOfSeed(b);
    expect(keyA.equals(keyB)).toBe(false);
    expect(hex(keyB)).toBe(hex(MLKEM768X25519.getPublicKey(b)));
    expect(hex(hybridPublicKeyOfSeed(a))).toBe(hex(MLKEM768X25519.getPublicKey(a)));
  });

  test(`bounded: at most ${HYBRID_PUBLIC_KEYS_REMEMBERED} keys, and a key that fell out is derived again, correctly`, () => {
    const seeds = Array.from({ length: HYBRID_PUBLIC_KEYS_REMEMBERED + 8 }, (_, i) => streamBytes(`memo bound ${i}`, 32));
    const keys = seeds.map((seed) => hybridPublicKeyOfSeed(seed));
    expect(hybridPublicKeyMemoStats().remembered).toBe(HYBRID_PUBLIC_KEYS_REMEMBERED);
    // The newest is still remembered; the oldest fell out and is derived again.
    const before = hybridPublicKeyMemoStats().derivations;
    expect(hex(hybridPublicKeyOfSeed(seeds.at(-1)!))).toBe(hex(keys.at(-1)!));
    expect(hybridPublicKeyMemoStats().derivations).toBe(before);
    expect(hex(hybridPublicKeyOfSeed(seeds[0]!))).toBe(hex(keys[0]!));
    expect(hybridPublicKeyMemoStats().derivations).toBe(before + 1);
    expect(hex(keys[0]!)).toBe(hex(MLKEM768X25519.getPublicKey(seeds[0]!)));
    expect(hybridPublicKeyMemoStats().remembered).toBe(HYBRID_PUBLIC_KEYS_REMEMBERED);
  });
});
