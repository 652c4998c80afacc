/**
 * The secrets a recipient stanza derives do not outlive its wrapping or
 * unwrapping: the X25519 shared secret and wrapping key, the hybrid KEM's
 * shared secret, the HPKE secret and key, the scrypt key. Seen through the
 * primitives (primitives.js, node:crypto's scrypt), replaced in this file
 * only (jest's ESM module mock) by pass-through wrappers that keep what they
 * return. The hybrid KEM (hybrid-kem.ts) is seen through them too: its
 * X25519 half is primitives.js's x25519, and its combined shared secret is
 * the salt of the HPKE extract; its ML-KEM half's secret is what
 * @noble/post-quantum/ml-kem.js's ml_kem768.decapsulate returns (mocked the
 * same way; only decapsulation: encapsulation's is zeroed by noble's
 * combineKEMS too). (Nonces, hashes of public data and the file key
 * returned to the caller are not secrets of the stanza and are not zeroed.)
 */
import * as realCrypto from 'node:crypto';
import * as realMlKem from '@noble/post-quantum/ml-kem.js';
import { beforeAll, describe, expect, jest, test } from '@jest/globals';
import * as realPrimitives from '../../../src/crypto/age/primitives.js';
import type * as Stanzas from '../../../src/crypto/age/stanzas.js';
import { deterministicRandom, streamBytes } from '../../../tools/vectors/deterministic.js';

interface Derived {
  what: string;
  bytes: Uint8Array;
}
const derived: Derived[] = [];
const keep = <T extends Uint8Array>(what: string, bytes: T): T => {
  derived.push({ what, bytes });
  return bytes;
};

// The real modules come from the static imports above (a dynamic import here would get these mocks).
jest.unstable_mockModule('../../../src/crypto/age/primitives.js', () => ({
  ...realPrimitives,
  x25519: (scalar: Parameters<typeof realPrimitives.x25519>[0], point: Uint8Array) => keep('x25519 shared secret', realPrimitives.x25519(scalar, point)),
  hkdf: (...args: Parameters<typeof realPrimitives.hkdf>) => keep('X25519 wrapping key', realPrimitives.hkdf(...args)),
  hkdfExtract: (salt: Uint8Array | undefined, ikm: Uint8Array) => {
    const prk = realPrimitives.hkdfExtract(salt, ikm);
    // Only the extract keyed with the KEM's shared secret is secret (the others hash public labels).
    if (salt === undefined) return prk;
    // That salt is the hybrid KEM's shared secret itself (HPKE's LabeledExtract(shared_secret, "secret", "")).
    keep('KEM shared secret', salt);
    return keep('HPKE secret', prk);
  },
  hkdfExpand: (prk: Uint8Array, info: Uint8Array, length: number) => {
    const out = realPrimitives.hkdfExpand(prk, info, length);
    // The 32-byte output is the AEAD key; the 12-byte one the (public) base nonce.
    return length === 32 ? keep('HPKE key', out) : out;
  },
}));
// ML-KEM-768's own shared secret, as its decapsulation returns it: hybrid-kem.ts's combiner is the only thing that
// zeroes it (noble's combineKEMS hands it to the combiner and keeps no other reference).
jest.unstable_mockModule('@noble/post-quantum/ml-kem.js', () => ({
  ...realMlKem,
  ml_kem768: {
    ...realMlKem.ml_kem768,
    decapsulate: (...args: Parameters<typeof realMlKem.ml_kem768.decapsulate>) => keep('ML-KEM shared secret', realMlKem.ml_kem768.decapsulate(...args)),
  },
}));
type ScryptCallback = (err: Error | null, key: Buffer) => void;
interface ScryptOptions {
  N: number;
  r: number;
  p: number;
  maxmem: number;
}
/** When set, scrypt is not run: its options are recorded and a stand-in key is returned. */
let scryptStandIn: ScryptOptions[] | undefined;
jest.unstable_mockModule('node:crypto', () => {
  const real = realCrypto;
  const scrypt = (password: Buffer, salt: Buffer, length: number, options: ScryptOptions, callback: ScryptCallback) => {
    if (scryptStandIn !== undefined) {
      scryptStandIn.push(options);
      setImmediate(() => callback(null, keep('scrypt key', Buffer.alloc(length, 7))));
      return;
    }
    real.scrypt(password, salt, length, options, (err, key) => {
      if (key !== undefined) keep('scrypt key', key);
      callback(err, key);
    });
  };
  return { ...real, default: { ...real, scrypt }, scrypt };
});

let stanzas: typeof Stanzas;
beforeAll(async () => {
  stanzas = await import('../../../src/crypto/age/stanzas.js');
});

const FILE_KEY = Buffer.alloc(16, 0x42);
const xSecret = streamBytes('zeroing x', 32);
const pqSeed = streamBytes('zeroing pq', 32);

/** What was derived while `run` ran, checked zero afterwards. */
async function derivedDuring(run: () => unknown): Promise<{ kinds: string[]; notZero: string[] }> {
  derived.length = 0;
  await run();
  return {
    kinds: [...new Set(derived.map((entry) => entry.what))].sort(),
    notZero: derived.filter((entry) => !entry.bytes.every((byte) => byte === 0)).map((entry) => entry.what),
  };
}

describe('recipient stanzas zero what they derived', () => {
  test('X25519: the shared secret and the wrapping key, when wrapping, unwrapping, and when a stanza is not ours', async () => {
    const recipient = realPrimitives.x25519PublicKeyOf(xSecret);
    let stanza: ReturnType<typeof stanzas.wrapX25519> | undefined;
    expect(await derivedDuring(() => (stanza = stanzas.wrapX25519(recipient, FILE_KEY, deterministicRandom('zx'))))).toEqual({
      kinds: ['X25519 wrapping key', 'x25519 shared secret'],
      notZero: [],
    });
    const other = stanzas.wrapX25519(realPrimitives.x25519PublicKeyOf(streamBytes('other', 32)), FILE_KEY, deterministicRandom('zo'));
    let opened: Buffer | null = null;
    expect(await derivedDuring(() => (opened = stanzas.unwrapX25519(xSecret, [other, stanza!])))).toEqual({
      kinds: ['X25519 wrapping key', 'x25519 shared secret'],
      notZero: [],
    });
    expect(derived).toHaveLength(4);
    expect(opened!.equals(FILE_KEY)).toBe(true);
  });

  test('mlkem768x25519: the KEM shared secret, its ML-KEM half (when unwrapping) and X25519 half, the HPKE secret and key, when wrapping, unwrapping, and when a stanza is not ours', async () => {
    const recipient = stanzas.hybridPublicKeyOf(pqSeed);
    let stanza: ReturnType<typeof stanzas.wrapHybrid> | undefined;
    expect(await derivedDuring(() => (stanza = stanzas.wrapHybrid(recipient, FILE_KEY, deterministicRandom('zp'))))).toEqual({
      kinds: ['HPKE key', 'HPKE secret', 'KEM shared secret', 'x25519 shared secret'],
      notZero: [],
    });
    const other = stanzas.wrapHybrid(stanzas.hybridPublicKeyOf(streamBytes('other pq', 32)), FILE_KEY, deterministicRandom('zq'));
    let opened: Buffer | null = null;
    expect(await derivedDuring(() => (opened = stanzas.unwrapHybrid(pqSeed, [other, stanza!])))).toEqual({
      kinds: ['HPKE key', 'HPKE secret', 'KEM shared secret', 'ML-KEM shared secret', 'x25519 shared secret'],
      notZero: [],
    });
    // Per stanza: the ML-KEM and X25519 halves' secrets, the KEM's, the HPKE secret and key.
    expect(derived).toHaveLength(10);
    expect(derived.filter((entry) => entry.what === 'ML-KEM shared secret').map((entry) => entry.bytes.length)).toEqual([32, 32]);
    expect(opened!.equals(FILE_KEY)).toBe(true);
  });

  test('scrypt: the derived key, when wrapping, unwrapping, and with a wrong passphrase', async () => {
    let stanza: Awaited<ReturnType<typeof stanzas.wrapScrypt>> | undefined;
    expect(await derivedDuring(async () => (stanza = await stanzas.wrapScrypt('pass', FILE_KEY, deterministicRandom('zs'), 2)))).toEqual({
      kinds: ['scrypt key'],
      notZero: [],
    });
    expect(await derivedDuring(async () => expect((await stanzas.unwrapScrypt('pass', [stanza!]))?.equals(FILE_KEY)).toBe(true))).toEqual({
      kinds: ['scrypt key'],
      notZero: [],
    });
    expect(await derivedDuring(async () => expect(await stanzas.unwrapScrypt('wrong', [stanza!])).toBeNull())).toEqual({
      kinds: ['scrypt key'],
      notZero: [],
    });
  });

  test('work factors up to 2^20 are read and go to scrypt as N = 2^logN, r = 8, p = 1, with the memory they need (not run here: 1 GiB)', async () => {
    const stanza = await stanzas.wrapScrypt('pass', FILE_KEY, deterministicRandom('high'), 2);
    scryptStandIn = [];
    try {
      for (const logN of [18, 19, 20]) {
        // The stand-in key does not open the body: "not for this passphrase", after scrypt ran at 2^logN.
        expect(await stanzas.unwrapScrypt('pass', [{ args: ['scrypt', stanza.args[1], String(logN)], body: stanza.body }])).toBeNull();
      }
      await stanzas.wrapScrypt('pass', FILE_KEY, deterministicRandom('high'), 20);
      expect(scryptStandIn.map(({ N, r, p }) => ({ N, r, p }))).toEqual([
        { N: 2 ** 18, r: 8, p: 1 },
        { N: 2 ** 19, r: 8, p: 1 },
        { N: 2 ** 20, r: 8, p: 1 },
        { N: 2 ** 20, r: 8, p: 1 },
      ]);
      // Node refuses to run when (about) 128 * N * r exceeds maxmem.
      for (const { N, r, maxmem } of scryptStandIn) expect(maxmem).toBeGreaterThanOrEqual(128 * N * r + 1024 * r);
    } finally {
      scryptStandIn = undefined;
    }
  });
});
