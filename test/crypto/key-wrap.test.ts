/**
 * The passphrase wrapping of a key file's master key (src/crypto/key-wrap.ts),
 * below the key-file layer: the bounds a reader puts on the scrypt
 * parameters a file carries (a crafted file must not make it allocate
 * gigabytes or spin for minutes), and the wrapping itself rebuilt from
 * Node's primitives, so that the KDF input, the salt, the nonce and the
 * associated data are each pinned.
 */
import { createCipheriv, scryptSync } from 'node:crypto';
import { describe, expect, test } from '@jest/globals';
import { CloudlockerError } from '../../src/errors.js';
import {
  DEFAULT_SCRYPT_PARAMS,
  SCRYPT_LIMITS,
  scryptParamsAcceptable,
  unwrapKey,
  WRAP_AAD,
  wrapKey,
  type ScryptParams,
  type WrappedKeyJson,
} from '../../src/crypto/key-wrap.js';
import { deterministicRandom } from '../../tools/vectors/deterministic.js';

/** Cheapest parameters a reader accepts: N at its minimum, r = p = 1 (4 MiB, a few ms). */
const CHEAP: ScryptParams = { N: 2 ** 15, r: 1, p: 1 };
const MASTER = Buffer.from('00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff', 'hex');

function parsed(json: WrappedKeyJson) {
  return {
    N: json.N,
    r: json.r,
    p: json.p,
    salt: Buffer.from(json.salt, 'base64'),
    nonce: Buffer.from(json.nonce, 'base64'),
    ciphertext: Buffer.from(json.ciphertext, 'base64'),
  };
}

describe('scryptParamsAcceptable: the bounds on what a file may ask for', () => {
  test('the limits are the documented ones', () => {
    expect(SCRYPT_LIMITS).toEqual({ minN: 2 ** 15, maxN: 2 ** 20, maxR: 32, maxP: 16, maxMemory: 2 ** 30, maxWork: 2 ** 25 });
    expect(scryptParamsAcceptable(DEFAULT_SCRYPT_PARAMS)).toBe(true);
  });

  test.each([
    ['the cheapest (N minimal, r = p = 1)', { N: 2 ** 15, r: 1, p: 1 }],
    ['N at its maximum', { N: 2 ** 20, r: 1, p: 1 }],
    ['r at its maximum', { N: 2 ** 15, r: 32, p: 1 }],
    ['p at its maximum', { N: 2 ** 15, r: 8, p: 16 }],
    ['memory exactly at its limit (128 * 2^20 * 8 = 1 GiB)', { N: 2 ** 20, r: 8, p: 1 }],
    ['work exactly at its limit (2^20 * 8 * 4 = 2^25)', { N: 2 ** 20, r: 8, p: 4 }],
  ])('accepts %s', (_label, params) => {
    expect(scryptParamsAcceptable(params)).toBe(true);
  });

  test.each([
    ['N below the minimum', { N: 2 ** 14, r: 8, p: 1 }],
    ['N above the maximum', { N: 2 ** 21, r: 1, p: 1 }],
    ['N not a power of two', { N: 3 * 2 ** 14, r: 1, p: 1 }],
    ['N one more than a power of two', { N: 2 ** 15 + 1, r: 1, p: 1 }],
    ['r above its maximum', { N: 2 ** 15, r: 33, p: 1 }],
    ['p above its maximum', { N: 2 ** 15, r: 1, p: 17 }],
    ['memory over 1 GiB (r = 9 at N = 2^20), every other bound kept', { N: 2 ** 20, r: 9, p: 1 }],
    ['work over 2^25 (p = 5 at N = 2^20, r = 8), every other bound kept', { N: 2 ** 20, r: 8, p: 5 }],
    ['r = 0', { N: 2 ** 15, r: 0, p: 1 }],
    ['p = 0', { N: 2 ** 15, r: 1, p: 0 }],
    ['a negative r', { N: 2 ** 15, r: -8, p: 1 }],
    ['a fractional r', { N: 2 ** 15, r: 1.5, p: 1 }],
    ['a fractional p', { N: 2 ** 15, r: 1, p: 1.5 }],
    ['a fractional N', { N: 2 ** 15 + 0.5, r: 1, p: 1 }],
    ['NaN', { N: Number.NaN, r: 1, p: 1 }],
    ['an N past the safe integers', { N: 2 ** 60, r: 1, p: 1 }],
  ])('refuses %s', (_label, params) => {
    expect(scryptParamsAcceptable(params)).toBe(false);
  });
});

describe('wrapKey / unwrapKey', () => {
  test('the wrapping is scrypt(NFC UTF-8 passphrase, salt) then AES-256-GCM with the domain AAD, salt drawn before nonce', async () => {
    const passphrase = 'cafe\u0301 \u{1F511}';
    const wrapped = await wrapKey(MASTER, passphrase, deterministicRandom('key-wrap test'), CHEAP);
    const expectedRandom = deterministicRandom('key-wrap test');
    const salt = expectedRandom(32);
    const nonce = expectedRandom(12);
    expect(wrapped).toMatchObject({ kdf: 'scrypt', N: CHEAP.N, r: CHEAP.r, p: CHEAP.p, salt: salt.toString('base64'), nonce: nonce.toString('base64') });
    expect(Object.keys(wrapped).sort()).toEqual(['N', 'ciphertext', 'kdf', 'nonce', 'p', 'r', 'salt']);

    expect(WRAP_AAD.toString('latin1')).toBe('cloudlocker-key v1');
    const kek = scryptSync(Buffer.from('caf\u00e9 \u{1F511}', 'utf8'), salt, 32, { N: CHEAP.N, r: CHEAP.r, p: CHEAP.p, maxmem: 64 * 1024 * 1024 });
    const cipher = createCipheriv('aes-256-gcm', kek, nonce, { authTagLength: 16 });
    cipher.setAAD(Buffer.from('cloudlocker-key v1', 'ascii'));
    const expected = Buffer.concat([cipher.update(MASTER), cipher.final(), cipher.getAuthTag()]);
    expect(wrapped.ciphertext).toBe(expected.toString('base64'));

    expect(await unwrapKey(parsed(wrapped), passphrase)).toEqual(MASTER);
  });

  test('the default parameters wrap and unwrap (scrypt is given the memory they need)', async () => {
    const wrapped = await wrapKey(MASTER, 'pass', deterministicRandom('defaults'));
    expect(wrapped).toMatchObject(DEFAULT_SCRYPT_PARAMS);
    expect(await unwrapKey(parsed(wrapped), 'pass')).toEqual(MASTER);
  });

  test('parameters with r and p above 1 are used as given', async () => {
    const params = { N: 2 ** 15, r: 2, p: 2 };
    const wrapped = await wrapKey(MASTER, 'pass', deterministicRandom('r2p2'), params);
    const { salt, nonce, ciphertext } = parsed(wrapped);
    const kek = scryptSync(Buffer.from('pass'), salt, 32, { ...params, maxmem: 64 * 1024 * 1024 });
    const cipher = createCipheriv('aes-256-gcm', kek, nonce, { authTagLength: 16 });
    cipher.setAAD(WRAP_AAD);
    expect(ciphertext).toEqual(Buffer.concat([cipher.update(MASTER), cipher.final(), cipher.getAuthTag()]));
  });

  test('wrapKey refuses parameters a reader would refuse, before drawing any randomness', async () => {
    let drawn = 0;
    const counting = (size: number) => {
      drawn += size;
      return Buffer.alloc(size);
    };
    await expect(wrapKey(MASTER, 'pass', counting, { N: 2 ** 14, r: 8, p: 1 })).rejects.toThrow(
      new RangeError('scrypt parameters outside the accepted range'),
    );
    expect(drawn).toBe(0);
  });

  test.each([
    ['a wrong passphrase', (w: ReturnType<typeof parsed>) => w, 'xq7-guess'],
    ['another salt', (w: ReturnType<typeof parsed>) => ({ ...w, salt: Buffer.alloc(32, 1) }), 'right'],
    ['another nonce', (w: ReturnType<typeof parsed>) => ({ ...w, nonce: Buffer.alloc(12, 1) }), 'right'],
    ['a flipped tag byte', (w: ReturnType<typeof parsed>) => ({ ...w, ciphertext: flip(w.ciphertext, 47) }), 'right'],
    ['a flipped key byte', (w: ReturnType<typeof parsed>) => ({ ...w, ciphertext: flip(w.ciphertext, 0) }), 'right'],
  ])('%s is KEY_INVALID (wrong-passphrase), naming no secret', async (_label, alter, passphrase) => {
    const wrapped = parsed(await wrapKey(MASTER, 'right', deterministicRandom('tamper'), CHEAP));
    const error = await unwrapKey(alter(wrapped), passphrase).then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(error).toBeInstanceOf(CloudlockerError);
    expect(error).toMatchObject({ reason: 'KEY_INVALID', details: { reason: 'wrong-passphrase' } });
    expect((error as Error).message).toMatch(/the passphrase is wrong, or the key file was altered\./);
    expect((error as Error).message).not.toContain(passphrase);
  });

  test('a wrapping sealed without the domain AAD does not open', async () => {
    const wrapped = parsed(await wrapKey(MASTER, 'right', deterministicRandom('no aad'), CHEAP));
    const kek = scryptSync(Buffer.from('right'), wrapped.salt, 32, { ...CHEAP, maxmem: 64 * 1024 * 1024 });
    const cipher = createCipheriv('aes-256-gcm', kek, wrapped.nonce, { authTagLength: 16 });
    const withoutAad = Buffer.concat([cipher.update(MASTER), cipher.final(), cipher.getAuthTag()]);
    await expect(unwrapKey({ ...wrapped, ciphertext: withoutAad }, 'right')).rejects.toMatchObject({ reason: 'KEY_INVALID' });
  });

  test('a fault that is not an authentication failure is not reported as a wrong passphrase', async () => {
    const wrapped = parsed(await wrapKey(MASTER, 'right', deterministicRandom('short nonce'), CHEAP));
    const error = await unwrapKey({ ...wrapped, nonce: Buffer.alloc(11) }, 'right').then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(error).toBeInstanceOf(RangeError);
  });
});

function flip(bytes: Buffer, index: number): Buffer {
  const copy = Buffer.from(bytes);
  copy[index]! ^= 0x01;
  return copy;
}
