/**
 * Key material the wrapping derives does not outlive its use: the passphrase
 * bytes and the key-encryption key scrypt returns are zeroed once the master
 * key is wrapped or unwrapped, also when unwrapping fails. Seen through
 * node:crypto's scrypt, replaced in this file only (jest's ESM module mock)
 * by one that keeps the buffers it is given and returns.
 */
import * as realCrypto from 'node:crypto';
import { beforeAll, describe, expect, jest, test } from '@jest/globals';
import type * as KeyWrap from '../../src/crypto/key-wrap.js';

type ScryptCallback = (err: Error | null, key: Buffer) => void;

const passphraseInputs: Buffer[] = [];
const derivedKeys: Buffer[] = [];

// The real module comes from the static import above (a dynamic import here would get this mock).
jest.unstable_mockModule('node:crypto', () => {
  const real = realCrypto;
  const scrypt = (password: Buffer, salt: Buffer, length: number, options: object, callback: ScryptCallback) => {
    passphraseInputs.push(password);
    real.scrypt(password, salt, length, options, (err, key) => {
      if (key !== undefined) derivedKeys.push(key);
      callback(err, key);
    });
  };
  return { ...real, default: { ...real, scrypt }, scrypt };
});

let keyWrap: typeof KeyWrap;
beforeAll(async () => {
  keyWrap = await import('../../src/crypto/key-wrap.js');
});

const MASTER = Buffer.alloc(32, 0x42);
const CHEAP = { N: 2 ** 15, r: 1, p: 1 };
const random = (size: number) => Buffer.alloc(size, 1);

function isZero(bytes: Buffer): boolean {
  return bytes.every((byte) => byte === 0);
}

function parsed(json: KeyWrap.WrappedKeyJson): KeyWrap.WrappedKey {
  return {
    N: json.N,
    r: json.r,
    p: json.p,
    salt: Buffer.from(json.salt, 'base64'),
    nonce: Buffer.from(json.nonce, 'base64'),
    ciphertext: Buffer.from(json.ciphertext, 'base64'),
  };
}

describe('key wrapping zeroes what it derived', () => {
  test('wrapKey: the passphrase bytes and the key-encryption key are zero afterwards', async () => {
    passphraseInputs.length = 0;
    derivedKeys.length = 0;
    const wrapped = await keyWrap.wrapKey(MASTER, 'a passphrase', random, CHEAP);
    expect(wrapped.kdf).toBe('scrypt');
    expect(passphraseInputs).toHaveLength(1);
    expect(derivedKeys).toHaveLength(1);
    expect(passphraseInputs[0]!.length).toBe('a passphrase'.length);
    expect(isZero(passphraseInputs[0]!)).toBe(true);
    expect(isZero(derivedKeys[0]!)).toBe(true);
  });

  test('unwrapKey: zeroed after success and after a wrong passphrase', async () => {
    const wrapped = parsed(await keyWrap.wrapKey(MASTER, 'a passphrase', random, CHEAP));
    passphraseInputs.length = 0;
    derivedKeys.length = 0;
    expect(await keyWrap.unwrapKey(wrapped, 'a passphrase')).toEqual(MASTER);
    await expect(keyWrap.unwrapKey(wrapped, 'not it')).rejects.toMatchObject({ reason: 'KEY_INVALID' });
    expect(derivedKeys).toHaveLength(2);
    expect(derivedKeys.map(isZero)).toEqual([true, true]);
    expect(passphraseInputs.map(isZero)).toEqual([true, true]);
  });
});
