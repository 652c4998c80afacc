/**
 * The file key a passphrase unwraps does not outlive AgeOpener.openWithPassphrase
 * (file.ts): it is zero once the opener exists, and also when the prefix then
 * turns out to end before its payload nonce. Seen through stanzas.js's
 * unwrapScrypt, replaced in this file only (jest's ESM module mock) by one that
 * keeps the buffers it returns. Written in issue 18's fifth pass (branch
 * mut-file2) for the emptied `finally` of openWithPassphrase.
 */
import * as realStanzas from '../../../src/crypto/age/stanzas.js';
import { beforeAll, describe, expect, jest, test } from '@jest/globals';
import type * as File from '../../../src/crypto/age/file.js';
import { encodeHeader, type Stanza } from '../../../src/crypto/age/header.js';
import { AgePayloadSealer, PAYLOAD_NONCE_SIZE } from '../../../src/crypto/age/payload.js';
import { deterministicRandom } from '../../../tools/vectors/deterministic.js';

const unwrapped: Buffer[] = [];

// The real module comes from the static import above (a dynamic import here would get this mock).
jest.unstable_mockModule('../../../src/crypto/age/stanzas.js', () => ({
  ...realStanzas,
  unwrapScrypt: async (passphrase: string, stanzas: readonly Stanza[]) => {
    const fileKey = await realStanzas.unwrapScrypt(passphrase, stanzas);
    if (fileKey !== null) unwrapped.push(fileKey);
    return fileKey;
  },
}));

let file: typeof File;
beforeAll(async () => {
  file = await import('../../../src/crypto/age/file.js');
});

const isZero = (bytes: Buffer) => bytes.every((byte) => byte === 0);

async function passphraseFile(): Promise<{ whole: Buffer; headerLength: number }> {
  const fileKey = deterministicRandom('pz-file-key')(16);
  const stanza = await realStanzas.wrapScrypt('correct horse', fileKey, deterministicRandom('pz-salt'), 2);
  const header = encodeHeader([stanza], fileKey);
  const nonce = Buffer.alloc(PAYLOAD_NONCE_SIZE, 9);
  const chunk = new AgePayloadSealer(fileKey, nonce).encryptChunk(0, Buffer.from('by passphrase'), true);
  return { whole: Buffer.concat([header, nonce, chunk]), headerLength: header.length };
}

describe('openWithPassphrase zeroes the file key scrypt unwrapped', () => {
  test('after a successful open (the opener still decrypts)', async () => {
    const { whole } = await passphraseFile();
    unwrapped.length = 0;
    const opener = await file.AgeOpener.openWithPassphrase(whole, 'correct horse');
    expect(unwrapped).toHaveLength(1);
    expect(unwrapped[0]!.length).toBe(16);
    expect(isZero(unwrapped[0]!)).toBe(true);
    expect(opener.decryptChunk(0, whole.subarray(opener.prefixLength), true).toString()).toBe('by passphrase');
  });

  test('after a failure past the MAC: the prefix ends before its payload nonce', async () => {
    const { whole, headerLength } = await passphraseFile();
    unwrapped.length = 0;
    await expect(file.AgeOpener.openWithPassphrase(whole.subarray(0, headerLength + 3), 'correct horse')).rejects.toMatchObject({
      ageReason: 'HEADER_INVALID',
      message: expect.stringContaining('it ends before the end of its payload nonce'),
    });
    expect(unwrapped).toHaveLength(1);
    expect(isZero(unwrapped[0]!)).toBe(true);
  });
});
