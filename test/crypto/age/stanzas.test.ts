/**
 * The recipient stanzas (src/crypto/age/stanzas.ts) function by function:
 * X25519, the mlkem768x25519 hybrid and scrypt, wrapped and unwrapped, each
 * rebuilt here from Node's primitives as C2SP age.md and RFC 9180 (HPKE base
 * mode) spell them out, so that a changed label, salt, nonce or key schedule
 * fails here and not only in the vectors; and every refusal: which stanzas
 * are skipped, which are a header failure (HEADER_INVALID, with the message
 * users see) and which are "not for this identity" (null: try the next).
 */
import { createHmac, createPrivateKey, createPublicKey, diffieHellman, scryptSync, createCipheriv } from 'node:crypto';
import { describe, expect, test } from '@jest/globals';
import { MLKEM768X25519 } from '@noble/post-quantum/hybrid.js';
import { AgeError } from '../../../src/crypto/age/errors.js';
import type { Stanza } from '../../../src/crypto/age/header.js';
import {
  DEFAULT_SCRYPT_LOG_N,
  FILE_KEY_SIZE,
  HYBRID_PUBLIC_KEY_SIZE,
  MAX_SCRYPT_LOG_N,
  hybridPublicKeyOf,
  passphraseIsWellFormed,
  unwrapHybrid,
  unwrapScrypt,
  unwrapX25519,
  wrapHybrid,
  wrapScrypt,
  wrapX25519,
} from '../../../src/crypto/age/stanzas.js';
import { deterministicRandom, streamBytes } from '../../../tools/vectors/deterministic.js';

const FILE_KEY = Buffer.from('00112233445566778899aabbccddeeff', 'hex');
const OTHER_FILE_KEY = Buffer.from('ffeeddccbbaa99887766554433221100', 'hex');

// ---- Node's primitives, as the specifications write them ----

function b64(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('base64').replace(/=+$/, '');
}

function hmac(key: Uint8Array, ...parts: Uint8Array[]): Buffer {
  const mac = createHmac('sha256', key);
  for (const part of parts) mac.update(part);
  return mac.digest();
}

/** RFC 5869 extract (an absent salt is 32 zero bytes). */
function extract(salt: Uint8Array | undefined, ikm: Uint8Array): Buffer {
  return hmac(salt === undefined || salt.length === 0 ? Buffer.alloc(32) : salt, ikm);
}

/** RFC 5869 expand. */
function expand(prk: Uint8Array, info: Uint8Array, length: number): Buffer {
  const blocks: Buffer[] = [];
  let previous: Buffer = Buffer.alloc(0);
  for (let i = 1; blocks.length * 32 < length; i++) {
    previous = hmac(prk, previous, info, Buffer.from([i]));
    blocks.push(previous);
  }
  return Buffer.concat(blocks).subarray(0, length);
}

function chachaSeal(key: Uint8Array, nonce: Uint8Array, plaintext: Uint8Array): Buffer {
  const cipher = createCipheriv('chacha20-poly1305', key, nonce, { authTagLength: 16 });
  return Buffer.concat([cipher.update(plaintext), cipher.final(), cipher.getAuthTag()]);
}

function x25519Private(scalar: Uint8Array) {
  return createPrivateKey({ key: { kty: 'OKP', crv: 'X25519', d: Buffer.from(scalar).toString('base64url'), x: '' }, format: 'jwk' });
}

function x25519Public(scalar: Uint8Array): Buffer {
  return Buffer.from(createPublicKey(x25519Private(scalar)).export({ format: 'jwk' }).x as string, 'base64url');
}

function x25519Shared(scalar: Uint8Array, point: Uint8Array): Buffer {
  const publicKey = createPublicKey({ key: { kty: 'OKP', crv: 'X25519', x: Buffer.from(point).toString('base64url') }, format: 'jwk' });
  return diffieHellman({ privateKey: x25519Private(scalar), publicKey });
}

/** The X25519 stanza body C2SP age.md defines for this ephemeral scalar, recipient and file key. */
function expectedX25519Body(ephemeral: Uint8Array, recipient: Uint8Array, fileKey: Uint8Array): Buffer {
  const share = x25519Public(ephemeral);
  const shared = x25519Shared(ephemeral, recipient);
  const key = expand(extract(Buffer.concat([share, recipient]), shared), Buffer.from('age-encryption.org/v1/X25519'), 32);
  return chachaSeal(key, Buffer.alloc(12), fileKey);
}

/** RFC 9180 base mode, KEM 0x647a (MLKEM768-X25519), HKDF-SHA256, ChaCha20-Poly1305: key and nonce. */
function hpke(sharedSecret: Uint8Array, info: string): { key: Buffer; nonce: Buffer } {
  const suite = Buffer.from('HPKE\x64\x7a\x00\x01\x00\x03', 'latin1');
  const labeledExtract = (salt: Uint8Array | undefined, label: string, ikm: Uint8Array) =>
    extract(salt, Buffer.concat([Buffer.from('HPKE-v1'), suite, Buffer.from(label), ikm]));
  const labeledExpand = (prk: Uint8Array, label: string, ctx: Uint8Array, length: number) =>
    expand(prk, Buffer.concat([Buffer.from([0, length]), Buffer.from('HPKE-v1'), suite, Buffer.from(label), ctx]), length);
  const context = Buffer.concat([
    Buffer.from([0]),
    labeledExtract(undefined, 'psk_id_hash', Buffer.alloc(0)),
    labeledExtract(undefined, 'info_hash', Buffer.from(info)),
  ]);
  const secret = labeledExtract(sharedSecret, 'secret', Buffer.alloc(0));
  return { key: labeledExpand(secret, 'key', context, 32), nonce: labeledExpand(secret, 'base_nonce', context, 12) };
}

const HEADER_INVALID_PREFIX = 'The stored file is not a valid age file or was altered: ';

/** "REASON: detail" of an AgeError (the detail: its message without the reason's fixed prefix). */
function described(err: unknown): string {
  if (!(err instanceof AgeError)) throw err;
  const detail = err.message.startsWith(HEADER_INVALID_PREFIX) ? err.message.slice(HEADER_INVALID_PREFIX.length) : err.message;
  return `${err.ageReason}: ${detail}`;
}

function headerFailure(run: () => unknown): string {
  try {
    run();
  } catch (err) {
    return described(err);
  }
  return 'no error';
}

async function headerFailureAsync(run: () => Promise<unknown>): Promise<string> {
  try {
    await run();
  } catch (err) {
    return described(err);
  }
  return 'no error';
}

// ---- X25519 ----

const aliceSecret = streamBytes('stanzas alice', 32);
const alicePublic = x25519Public(aliceSecret);
const bobSecret = streamBytes('stanzas bob', 32);
const bobPublic = x25519Public(bobSecret);

describe('X25519 stanzas', () => {
  test('wrap: "X25519 <ephemeral share>", the body C2SP age.md defines (HKDF salt share||recipient, its label, zero nonce)', () => {
    const stanza = wrapX25519(alicePublic, FILE_KEY, deterministicRandom('x25519 wrap'));
    const ephemeral = streamBytes('x25519 wrap', 32);
    expect(stanza.args).toEqual(['X25519', b64(x25519Public(ephemeral))]);
    expect(stanza.body.equals(expectedX25519Body(ephemeral, alicePublic, FILE_KEY))).toBe(true);
    expect(unwrapX25519(aliceSecret, [stanza])?.equals(FILE_KEY)).toBe(true);
  });

  test('wrap zeroes the ephemeral scalar it drew (the random bytes it was handed)', () => {
    const drawn: Buffer[] = [];
    const random = (size: number) => {
      const bytes = streamBytes('x25519 zero', size);
      drawn.push(bytes);
      return bytes;
    };
    const stanza = wrapX25519(alicePublic, FILE_KEY, random);
    expect(drawn).toHaveLength(1);
    expect(drawn[0].every((byte) => byte === 0)).toBe(true);
    expect(stanza.args[1]).toBe(b64(x25519Public(streamBytes('x25519 zero', 32))));
  });

  test('a file key that is not 16 bytes is the caller\'s mistake (RangeError), for every stanza type', async () => {
    for (const size of [0, 15, 17, 32]) {
      expect(() => wrapX25519(alicePublic, Buffer.alloc(size), deterministicRandom('r'))).toThrow(new RangeError('an age file key is 16 bytes'));
      expect(() => wrapHybrid(hybridPublicKeyOf(streamBytes('pq', 32)), Buffer.alloc(size), deterministicRandom('r'))).toThrow(
        new RangeError('an age file key is 16 bytes'),
      );
      await expect(wrapScrypt('pass', Buffer.alloc(size), deterministicRandom('r'), 1)).rejects.toThrow(new RangeError('an age file key is 16 bytes'));
    }
    expect(FILE_KEY_SIZE).toBe(16);
  });

  test('unwrap: other stanza types are skipped; the first stanza that opens gives the file key; none: null', () => {
    const forBob = wrapX25519(bobPublic, OTHER_FILE_KEY, deterministicRandom('b'));
    const forAlice = wrapX25519(alicePublic, FILE_KEY, deterministicRandom('a'));
    const forAliceToo = wrapX25519(alicePublic, OTHER_FILE_KEY, deterministicRandom('a2'));
    const foreign: Stanza = { args: ['scrypt', 'not even base64!', 'x'], body: Buffer.alloc(3) };
    const tag: Stanza = { args: ['x25519', b64(Buffer.alloc(32, 9))], body: Buffer.alloc(32) };
    expect(unwrapX25519(aliceSecret, [foreign, tag, forBob, forAlice, forAliceToo])?.toString('hex')).toBe(FILE_KEY.toString('hex'));
    expect(unwrapX25519(aliceSecret, [forAliceToo, forAlice])?.toString('hex')).toBe(OTHER_FILE_KEY.toString('hex'));
    expect(unwrapX25519(bobSecret, [forAlice, forBob])?.toString('hex')).toBe(OTHER_FILE_KEY.toString('hex'));
    expect(unwrapX25519(aliceSecret, [forBob])).toBeNull();
    expect(unwrapX25519(aliceSecret, [foreign, tag])).toBeNull();
    expect(unwrapX25519(aliceSecret, [])).toBeNull();
  });

  test('unwrap derives with its own public key: a body sealed with the share alone as salt does not open', () => {
    const ephemeral = streamBytes('salt', 32);
    const share = x25519Public(ephemeral);
    const shared = x25519Shared(ephemeral, alicePublic);
    const wrongSalt = expand(extract(share, shared), Buffer.from('age-encryption.org/v1/X25519'), 32);
    const stanza: Stanza = { args: ['X25519', b64(share)], body: chachaSeal(wrongSalt, Buffer.alloc(12), FILE_KEY) };
    expect(unwrapX25519(aliceSecret, [stanza])).toBeNull();
    const right: Stanza = { args: ['X25519', b64(share)], body: expectedX25519Body(ephemeral, alicePublic, FILE_KEY) };
    expect(unwrapX25519(aliceSecret, [right])?.equals(FILE_KEY)).toBe(true);
  });

  test('a malformed X25519 stanza is a header failure, also after a stanza that opens is ahead of it in the list', () => {
    const good = wrapX25519(alicePublic, FILE_KEY, deterministicRandom('good'));
    const malformed = 'HEADER_INVALID: a X25519 stanza is malformed';
    const cases: Stanza[] = [
      { args: ['X25519'], body: good.body },
      { args: ['X25519', good.args[1], 'extra'], body: good.body },
      { args: ['X25519', `${good.args[1]}=`], body: good.body },
      { args: ['X25519', b64(Buffer.alloc(31, 9))], body: good.body },
      { args: ['X25519', b64(Buffer.alloc(33, 9))], body: good.body },
      { args: ['X25519', good.args[1]], body: good.body.subarray(0, 31) },
      { args: ['X25519', good.args[1]], body: Buffer.concat([good.body, Buffer.alloc(1)]) },
      // A low-order share (all zero; u = 1): X25519 gives the all-zero secret, refused.
      { args: ['X25519', b64(Buffer.alloc(32))], body: good.body },
      { args: ['X25519', b64(Buffer.concat([Buffer.from([1]), Buffer.alloc(31)]))], body: good.body },
    ];
    for (const stanza of cases) {
      expect(headerFailure(() => unwrapX25519(aliceSecret, [stanza]))).toBe(malformed);
      // Reached before the good one: refused, not skipped.
      expect(headerFailure(() => unwrapX25519(aliceSecret, [stanza, good]))).toBe(malformed);
    }
    // A well-formed stanza for someone else is not a failure: the next one is tried.
    expect(unwrapX25519(aliceSecret, [wrapX25519(bobPublic, FILE_KEY, deterministicRandom('bob')), good])?.equals(FILE_KEY)).toBe(true);
  });
});

// ---- mlkem768x25519 ----

const pqSeed = streamBytes('stanzas pq', 32);
const pqPublic = hybridPublicKeyOf(pqSeed);
const pqOtherSeed = streamBytes('stanzas pq other', 32);

describe('mlkem768x25519 stanzas', () => {
  test('the public key is ML-KEM-768+X25519 of the seed (1216 bytes)', () => {
    expect(pqPublic.equals(Buffer.from(MLKEM768X25519.getPublicKey(pqSeed)))).toBe(true);
    expect(pqPublic).toHaveLength(HYBRID_PUBLIC_KEY_SIZE);
    expect(HYBRID_PUBLIC_KEY_SIZE).toBe(1216);
  });

  test('wrap: "mlkem768x25519 <encapsulation>" from 64 bytes of randomness, the body sealed under RFC 9180 base mode with age\'s info string', () => {
    const drawn: Buffer[] = [];
    const random = (size: number) => {
      const bytes = streamBytes('pq wrap', size);
      drawn.push(bytes);
      return bytes;
    };
    const stanza = wrapHybrid(pqPublic, FILE_KEY, random);
    expect(drawn.map((bytes) => bytes.length)).toEqual([64]);
    // The randomness was zeroed once used.
    expect(drawn[0].every((byte) => byte === 0)).toBe(true);
    const { cipherText, sharedSecret } = MLKEM768X25519.encapsulate(pqPublic, streamBytes('pq wrap', 64));
    expect(stanza.args).toEqual(['mlkem768x25519', b64(cipherText)]);
    const { key, nonce } = hpke(sharedSecret, 'age-encryption.org/mlkem768x25519');
    expect(stanza.body.equals(chachaSeal(key, nonce, FILE_KEY))).toBe(true);
    expect(unwrapHybrid(pqSeed, [stanza])?.equals(FILE_KEY)).toBe(true);
  });

  test('unwrap: other types skipped, the first that opens wins, another recipient\'s stanza is "not mine" (null)', () => {
    const mine = wrapHybrid(pqPublic, FILE_KEY, deterministicRandom('pq 1'));
    const mineToo = wrapHybrid(pqPublic, OTHER_FILE_KEY, deterministicRandom('pq 2'));
    const theirs = wrapHybrid(hybridPublicKeyOf(pqOtherSeed), OTHER_FILE_KEY, deterministicRandom('pq 3'));
    const classic = wrapX25519(alicePublic, OTHER_FILE_KEY, deterministicRandom('x'));
    expect(unwrapHybrid(pqSeed, [classic, theirs, mine, mineToo])?.toString('hex')).toBe(FILE_KEY.toString('hex'));
    expect(unwrapHybrid(pqSeed, [mineToo, mine])?.toString('hex')).toBe(OTHER_FILE_KEY.toString('hex'));
    expect(unwrapHybrid(pqSeed, [theirs])).toBeNull();
    expect(unwrapHybrid(pqSeed, [classic])).toBeNull();
    expect(unwrapHybrid(pqSeed, [])).toBeNull();
    // A body sealed under the right key but the sequence-0 nonce replaced by zeros does not open.
    const { cipherText, sharedSecret } = MLKEM768X25519.encapsulate(pqPublic, streamBytes('pq nonce', 64));
    const { key } = hpke(sharedSecret, 'age-encryption.org/mlkem768x25519');
    expect(unwrapHybrid(pqSeed, [{ args: ['mlkem768x25519', b64(cipherText)], body: chachaSeal(key, Buffer.alloc(12), FILE_KEY) }])).toBeNull();
  });

  test('a malformed hybrid stanza is a header failure, also ahead of one that opens', () => {
    const good = wrapHybrid(pqPublic, FILE_KEY, deterministicRandom('pq good'));
    const encapsulation = Buffer.from(good.args[1], 'base64');
    const malformed = 'HEADER_INVALID: a mlkem768x25519 stanza is malformed';
    const cases: Stanza[] = [
      { args: ['mlkem768x25519'], body: good.body },
      { args: ['mlkem768x25519', good.args[1], 'extra'], body: good.body },
      { args: ['mlkem768x25519', `${good.args[1]}=`], body: good.body },
      { args: ['mlkem768x25519', b64(encapsulation.subarray(0, 1119))], body: good.body },
      { args: ['mlkem768x25519', b64(Buffer.concat([encapsulation, Buffer.alloc(1)]))], body: good.body },
      { args: ['mlkem768x25519', good.args[1]], body: good.body.subarray(0, 31) },
      { args: ['mlkem768x25519', good.args[1]], body: Buffer.concat([good.body, Buffer.alloc(1)]) },
    ];
    for (const stanza of cases) {
      expect(headerFailure(() => unwrapHybrid(pqSeed, [stanza]))).toBe(malformed);
      expect(headerFailure(() => unwrapHybrid(pqSeed, [stanza, good]))).toBe(malformed);
    }
  });
});

// ---- scrypt ----

function expectedScryptBody(passphrase: string, salt: Buffer, logN: number, fileKey: Uint8Array): Buffer {
  const key = scryptSync(Buffer.from(passphrase, 'utf8'), Buffer.concat([Buffer.from('age-encryption.org/v1/scrypt'), salt]), 32, {
    N: 2 ** logN,
    r: 8,
    p: 1,
    maxmem: 2 ** 30,
  });
  return chachaSeal(key, Buffer.alloc(12), fileKey);
}

describe('scrypt stanzas', () => {
  test('passphrases are their UTF-8 bytes; a lone surrogate is not well-formed', () => {
    for (const text of ['', 'plain', 'naïve é', '日本語', '😀']) expect(passphraseIsWellFormed(text)).toBe(true);
    for (const text of ['\uD800', 'a\uDC00b', '😀'.slice(0, 1)]) expect(passphraseIsWellFormed(text)).toBe(false);
  });

  test('wrap: "scrypt <salt> <log2 N>", the body under scrypt(passphrase, label||salt, N, r=8, p=1) with a zero nonce; unwrap opens it', async () => {
    const passphrase = 'correct horse ✓';
    const stanza = await wrapScrypt(passphrase, FILE_KEY, deterministicRandom('scrypt wrap'), 10);
    const salt = streamBytes('scrypt wrap', 16);
    expect(stanza.args).toEqual(['scrypt', b64(salt), '10']);
    expect(stanza.body.equals(expectedScryptBody(passphrase, salt, 10, FILE_KEY))).toBe(true);
    expect((await unwrapScrypt(passphrase, [stanza]))?.equals(FILE_KEY)).toBe(true);
    expect(await unwrapScrypt('correct horse', [stanza])).toBeNull();
  });

  test('the default work factor is 2^18 (age\'s), the highest read 2^20', () => {
    // That scrypt is given the memory these need is checked without running it, in stanzas-zeroing.test.ts.
    expect(DEFAULT_SCRYPT_LOG_N).toBe(18);
    expect(MAX_SCRYPT_LOG_N).toBe(20);
  });

  test('wrap refuses a work factor outside 1..20 or not an integer, before drawing anything', async () => {
    for (const logN of [0, -1, 21, 1.5, Number.NaN, Number.POSITIVE_INFINITY]) {
      let drawn = 0;
      const random = (size: number) => {
        drawn += size;
        return Buffer.alloc(size);
      };
      await expect(wrapScrypt('p', FILE_KEY, random, logN)).rejects.toThrow(new RangeError(`scrypt work factor out of range: ${logN}`));
      expect(drawn).toBe(0);
    }
    // The bounds themselves are accepted.
    const low = await wrapScrypt('p', FILE_KEY, deterministicRandom('low'), 1);
    expect(low.args[2]).toBe('1');
  });

  test('unwrap: a scrypt stanza must be the only stanza of its header', async () => {
    const stanza = await wrapScrypt('p', FILE_KEY, deterministicRandom('alone'), 2);
    const other = wrapX25519(alicePublic, FILE_KEY, deterministicRandom('o'));
    const notAlone = 'HEADER_INVALID: a scrypt stanza is not the only stanza of its header';
    expect(await headerFailureAsync(() => unwrapScrypt('p', [other, stanza]))).toBe(notAlone);
    expect(await headerFailureAsync(() => unwrapScrypt('p', [stanza, other]))).toBe(notAlone);
    // No scrypt stanza: nothing to refuse, nothing opens.
    expect(await unwrapScrypt('p', [other])).toBeNull();
    expect(await unwrapScrypt('p', [other, wrapX25519(bobPublic, FILE_KEY, deterministicRandom('o2'))])).toBeNull();
    expect(await unwrapScrypt('p', [])).toBeNull();
  });

  test('unwrap: a malformed scrypt stanza is a header failure', async () => {
    const good = await wrapScrypt('p', FILE_KEY, deterministicRandom('malformed'), 2);
    const malformed = 'HEADER_INVALID: a scrypt stanza is malformed';
    const cases: Stanza[] = [
      { args: ['scrypt', good.args[1]], body: good.body },
      { args: ['scrypt', good.args[1], '2', 'extra'], body: good.body },
      // The work factor: decimal, no leading zero, no sign, no space.
      { args: ['scrypt', good.args[1], '02'], body: good.body },
      { args: ['scrypt', good.args[1], '0'], body: good.body },
      { args: ['scrypt', good.args[1], '+2'], body: good.body },
      { args: ['scrypt', good.args[1], '2x'], body: good.body },
      { args: ['scrypt', good.args[1], 'x2'], body: good.body },
      { args: ['scrypt', good.args[1], ''], body: good.body },
      // The salt: canonical base64 of 16 bytes.
      { args: ['scrypt', `${good.args[1]}=`, '2'], body: good.body },
      { args: ['scrypt', b64(Buffer.alloc(15, 1)), '2'], body: good.body },
      { args: ['scrypt', b64(Buffer.alloc(17, 1)), '2'], body: good.body },
      // The body: 32 bytes.
      { args: good.args, body: good.body.subarray(0, 31) },
      { args: good.args, body: Buffer.concat([good.body, Buffer.alloc(1)]) },
    ];
    for (const stanza of cases) expect(await headerFailureAsync(() => unwrapScrypt('p', [stanza]))).toBe(malformed);
    // Work factors with more digits are still parsed as numbers (and then refused as too high).
    expect((await unwrapScrypt('p', [{ args: ['scrypt', good.args[1], '2'], body: good.body }]))?.equals(FILE_KEY)).toBe(true);
  });

  test('unwrap refuses a work factor above 2^20 before running scrypt, naming it (cut to 4 digits)', async () => {
    const good = await wrapScrypt('p', FILE_KEY, deterministicRandom('high'), 2);
    for (const [arg, shown] of [
      ['21', '21'],
      ['64', '64'],
      ['123456789', '1234'],
    ]) {
      expect(await headerFailureAsync(() => unwrapScrypt('p', [{ args: ['scrypt', good.args[1], arg], body: good.body }]))).toBe(
        `HEADER_INVALID: its scrypt work factor (2^${shown}) is above the 2^20 this reader allows`,
      );
    }
  });

  test('concurrent scrypt runs (one at a time underneath) each give their own answer; a wrong passphrase does not stop the next', async () => {
    const a = await wrapScrypt('a', FILE_KEY, deterministicRandom('qa'), 4);
    const b = await wrapScrypt('b', OTHER_FILE_KEY, deterministicRandom('qb'), 4);
    const results = await Promise.all([unwrapScrypt('a', [a]), unwrapScrypt('wrong', [b]), unwrapScrypt('b', [b]), wrapScrypt('c', FILE_KEY, deterministicRandom('qc'), 3)]);
    expect(results[0]?.equals(FILE_KEY)).toBe(true);
    expect(results[1]).toBeNull();
    expect(results[2]?.equals(OTHER_FILE_KEY)).toBe(true);
    expect((await unwrapScrypt('c', [results[3] as Stanza]))?.equals(FILE_KEY)).toBe(true);
  });
});
