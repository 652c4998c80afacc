/**
 * The AES-256-GCM wrapper every chunk and key wrapping goes through: checked
 * against Project Wycheproof, and against the parameter mistakes Node itself
 * would let through (short tags, other IV lengths).
 */
import { createCipheriv, createDecipheriv, createSecretKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, expect, test } from '@jest/globals';
import { GcmAuthenticationError, gcmOpen, gcmSeal } from '../../src/crypto/aes-gcm.js';

interface WycheproofTest {
  tcId: number;
  comment: string;
  key: string;
  iv: string;
  aad: string;
  msg: string;
  ct: string;
  tag: string;
  result: 'valid' | 'invalid';
}

const wycheproof = JSON.parse(
  readFileSync(new URL('../vectors/wycheproof-aes-gcm-256.json', import.meta.url), 'utf8'),
) as { keySize: number; ivSize: number; tagSize: number; tests: WycheproofTest[] };

const hex = (value: string) => Buffer.from(value, 'hex');
const key = Buffer.alloc(32, 7);
const nonce = Buffer.alloc(12, 9);

describe('Project Wycheproof AES-GCM, 256-bit keys, 96-bit IVs, 128-bit tags', () => {
  test('the shipped subset is that group and large enough', () => {
    expect([wycheproof.keySize, wycheproof.ivSize, wycheproof.tagSize]).toEqual([256, 96, 128]);
    expect(wycheproof.tests.length).toBeGreaterThanOrEqual(40);
    expect(wycheproof.tests.some((t) => t.result === 'invalid')).toBe(true);
  });

  test.each(wycheproof.tests.map((t) => [t.tcId, t.comment || t.result, t] as const))(
    'tcId %i (%s)',
    (_id, _comment, t) => {
      const sealed = Buffer.concat([hex(t.ct), hex(t.tag)]);
      const aad = hex(t.aad);
      if (t.result === 'valid') {
        expect(gcmSeal(hex(t.key), hex(t.iv), hex(t.msg), { aad }).equals(sealed)).toBe(true);
        expect(gcmOpen(hex(t.key), hex(t.iv), hex(t.ct), hex(t.tag), { aad }).equals(hex(t.msg))).toBe(true);
      } else {
        const out = Buffer.alloc(t.ct.length / 2, 0xaa);
        expect(() => gcmOpen(hex(t.key), hex(t.iv), hex(t.ct), hex(t.tag), { aad, out })).toThrow(
          GcmAuthenticationError,
        );
        expect(out.every((byte) => byte === 0xaa)).toBe(true);
      }
    },
  );
});

describe('parameter checks', () => {
  const sealed = gcmSeal(key, nonce, Buffer.from('hello'));
  const ciphertext = sealed.subarray(0, 5);
  const tag = sealed.subarray(5);

  test.each([0, 4, 8, 12, 15, 17])('refuses a %i-byte tag', (length) => {
    const wrongTag = length <= 16 ? tag.subarray(0, length) : Buffer.concat([tag, Buffer.alloc(length - 16)]);
    expect(() => gcmOpen(key, nonce, ciphertext, wrongTag)).toThrow(RangeError);
  });

  test('Node itself would accept a truncated tag without authTagLength, which is why the wrapper pins it', () => {
    const encrypt = createCipheriv('aes-256-gcm', key, nonce);
    const ct = Buffer.concat([encrypt.update('hello'), encrypt.final()]);
    const truncated = encrypt.getAuthTag().subarray(0, 4);
    const lax = createDecipheriv('aes-256-gcm', key, nonce);
    lax.setAuthTag(truncated);
    expect(Buffer.concat([lax.update(ct), lax.final()]).toString()).toBe('hello');
    const strict = createDecipheriv('aes-256-gcm', key, nonce, { authTagLength: 16 });
    expect(() => strict.setAuthTag(truncated)).toThrow();
  });

  test.each([0, 8, 11, 13, 16])('refuses a %i-byte nonce', (length) => {
    expect(() => gcmSeal(key, Buffer.alloc(length), Buffer.from('x'))).toThrow(RangeError);
    expect(() => gcmOpen(key, Buffer.alloc(length), ciphertext, tag)).toThrow(RangeError);
  });

  test.each([16, 24, 31, 33])('refuses a %i-byte key', (length) => {
    expect(() => gcmSeal(Buffer.alloc(length), nonce, Buffer.from('x'))).toThrow(RangeError);
    expect(() => gcmOpen(createSecretKey(Buffer.alloc(length)), nonce, ciphertext, tag)).toThrow(RangeError);
  });

  test('writes into a given buffer at an offset, and refuses one that is too small', () => {
    const out = Buffer.alloc(40, 0xee);
    const written = gcmSeal(key, nonce, Buffer.from('hello'), { out, outOffset: 3 });
    expect(written.equals(sealed)).toBe(true);
    expect(out.subarray(3, 3 + sealed.length).equals(sealed)).toBe(true);
    expect(out[2]).toBe(0xee);
    expect(out[3 + sealed.length]).toBe(0xee);
    expect(() => gcmSeal(key, nonce, Buffer.from('hello'), { out: Buffer.alloc(20) })).toThrow(RangeError);
    expect(() => gcmOpen(key, nonce, ciphertext, tag, { out: Buffer.alloc(4) })).toThrow(RangeError);
    const plain = Buffer.alloc(8);
    gcmOpen(key, nonce, ciphertext, tag, { out: plain, outOffset: 2 });
    expect(plain.subarray(2, 7).toString()).toBe('hello');
  });

  test('names each refusal (key, nonce, tag sizes; output space) in its message', () => {
    expect(() => gcmSeal(Buffer.alloc(16), nonce, Buffer.from('x'))).toThrow('AES-256-GCM needs a 32-byte key, got 16');
    expect(() => gcmSeal(key, Buffer.alloc(8), Buffer.from('x'))).toThrow('AES-256-GCM here takes a 12-byte nonce, got 8');
    expect(() => gcmOpen(key, nonce, ciphertext, tag.subarray(0, 12))).toThrow('AES-256-GCM here takes a 16-byte tag, got 12');
    expect(() => gcmSeal(key, nonce, Buffer.from('hello'), { out: Buffer.alloc(20) })).toThrow(
      'output buffer too small: need 21 bytes at offset 0',
    );
  });

  test.each([
    ['too small', { out: Buffer.alloc(4) }, 'need 5 bytes at offset 0'],
    ['too small past the offset', { out: Buffer.alloc(8), outOffset: 4 }, 'need 5 bytes at offset 4'],
    ['a negative offset', { out: Buffer.alloc(8), outOffset: -1 }, 'need 5 bytes at offset -1'],
    ['a fractional offset', { out: Buffer.alloc(8), outOffset: 0.5 }, 'need 5 bytes at offset 0.5'],
  ])('an output buffer %s is the caller\'s mistake, said before any decryption (even with a bad tag)', (_label, options, message) => {
    const bad = Buffer.from(tag);
    bad[0] ^= 1;
    for (const t of [tag, bad]) {
      expect(() => gcmOpen(key, nonce, ciphertext, t, options)).toThrow(`output buffer too small: ${message}`);
    }
    expect(() => gcmSeal(key, nonce, Buffer.alloc(0), options)).toThrow(/^output buffer too small/);
  });

  test('an authentication failure is a GcmAuthenticationError by name and message, with nothing of the input', () => {
    const bad = Buffer.from(tag);
    bad[0] ^= 1;
    let caught: unknown;
    try {
      gcmOpen(key, nonce, ciphertext, bad);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(GcmAuthenticationError);
    expect((caught as Error).name).toBe('GcmAuthenticationError');
    expect((caught as Error).message).toBe('AES-GCM authentication failed');
  });

  test('a failed open leaves the output buffer untouched', () => {
    const out = Buffer.alloc(5, 0x55);
    const bad = Buffer.from(tag);
    bad[0] ^= 1;
    expect(() => gcmOpen(key, nonce, ciphertext, bad, { out })).toThrow(GcmAuthenticationError);
    expect(out.equals(Buffer.alloc(5, 0x55))).toBe(true);
  });
});
