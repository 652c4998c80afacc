/**
 * What an identity file's reading leaves behind: the decrypted identity text
 * of a passphrase-protected key file (openPayload's output) and the key
 * file's bytes as read (readKeyFileBytes' output) are zero once the call
 * returns or throws. Seen through jest's ESM module mocks of whole.js and
 * key-file.js, replaced in this file only by pass-through wrappers that keep
 * what they return (as stanzas-zeroing.test.ts does for the stanzas' secrets).
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, jest, test } from '@jest/globals';
import { armor } from 'age-encryption';
import * as realKeyFile from '../../../src/crypto/key-file.js';
import * as realWhole from '../../../src/crypto/age/whole.js';
import { encodeHeader } from '../../../src/crypto/age/header.js';
import { AgePayloadSealer } from '../../../src/crypto/age/payload.js';
import { wrapScrypt } from '../../../src/crypto/age/stanzas.js';
import type * as IdentityFile from '../../../src/crypto/age/identity-file.js';
import type * as Identity from '../../../src/crypto/age/identity.js';
import { CloudlockerError } from '../../../src/errors.js';
import { deterministicRandom } from '../../../tools/vectors/deterministic.js';

const decrypted: Buffer[] = [];
const read: Buffer[] = [];

// The real modules come from the static imports above (a dynamic import here would get these mocks).
jest.unstable_mockModule('../../../src/crypto/age/whole.js', () => ({
  ...realWhole,
  openPayload: (...args: Parameters<typeof realWhole.openPayload>) => {
    const out = realWhole.openPayload(...args);
    decrypted.push(out);
    return out;
  },
}));
jest.unstable_mockModule('../../../src/crypto/key-file.js', () => ({
  ...realKeyFile,
  readKeyFileBytes: async (file: string) => {
    const bytes = await realKeyFile.readKeyFileBytes(file);
    read.push(bytes);
    return bytes;
  },
}));

let identityFile: typeof IdentityFile;
let identityModule: typeof Identity;
let dir: string;
let counter = 0;
const fresh = () => path.join(dir, `key-${++counter}.txt`);

beforeAll(async () => {
  identityFile = await import('../../../src/crypto/age/identity-file.js');
  identityModule = await import('../../../src/crypto/age/identity.js');
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'cloudlocker-identity-zeroing-'));
});
afterAll(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});
beforeEach(() => {
  decrypted.length = 0;
  read.length = 0;
});

/** A binary age file holding `plaintext` under one scrypt stanza for `passphrase` (logN 2: fast). */
async function protectedBytes(plaintext: Buffer, passphrase: string): Promise<Buffer> {
  const random = deterministicRandom('zeroing protected bytes');
  const fileKey = random(16);
  const stanza = await wrapScrypt(passphrase, fileKey, random, 2);
  const nonce = random(16);
  const chunk = new AgePayloadSealer(fileKey, nonce).encryptChunk(0, plaintext, true);
  return Buffer.concat([encodeHeader([stanza], fileKey), nonce, chunk]);
}

async function keyInvalid(run: () => Promise<unknown>): Promise<string> {
  try {
    await run();
  } catch (err) {
    if (err instanceof CloudlockerError && err.reason === 'KEY_INVALID') return err.message;
    throw err;
  }
  throw new Error('expected KEY_INVALID');
}

/** Every kept buffer was seen (non-empty) and is all zeros now. */
function expectAllZero(buffers: Buffer[], count: number): void {
  expect(buffers).toHaveLength(count);
  for (const buffer of buffers) {
    expect(buffer.length).toBeGreaterThan(0);
    expect(buffer.every((byte) => byte === 0)).toBe(true);
  }
}

describe('the decrypted identity text of a protected key file', () => {
  test('is zero after the identity is read, armored (text) or binary (bytes)', async () => {
    const identity = identityModule.AgeIdentity.generate('X25519', deterministicRandom('zeroing identity'));
    const text = identityFile.identityFileText(identity, new Date(0));
    const binary = await protectedBytes(Buffer.from(text), 'p');

    const fromText = await identityFile.parseAnyKeyFile(armor.encode(binary), { passphrase: 'p' });
    expect(fromText.format === 'age' && fromText.identity.recipient).toBe(identity.recipient);
    expectAllZero(decrypted, 1);

    decrypted.length = 0;
    const fromBytes = await identityFile.parseAnyKeyFileBytes(binary, { passphrase: 'p' });
    expect(fromBytes.format === 'age' && fromBytes.identity.recipient).toBe(identity.recipient);
    expectAllZero(decrypted, 1);
  });

  test('is zero when it is refused: not UTF-8, or not an identity file', async () => {
    const notUtf8 = await protectedBytes(Buffer.from([0x41, 0xff, 0xfe, 0x41]), 'p');
    expect(await keyInvalid(() => identityFile.parseAnyKeyFileBytes(notUtf8, { passphrase: 'p' }))).toContain('its decrypted content is not an identity file.');
    expectAllZero(decrypted, 1);

    decrypted.length = 0;
    const notIdentity = await protectedBytes(Buffer.from('hello, not an identity\n'), 'p');
    expect(await keyInvalid(() => identityFile.decryptIdentityText(armor.encode(notIdentity), 'p').then((t) => identityFile.parseIdentityFileText(t)))).toContain(
      'a line is neither a comment nor an age identity',
    );
    expectAllZero(decrypted, 1);
  });
});

describe("a key file's bytes as read", () => {
  test('are zero after readAnyKeyFile and readIdentityFile return (plain and protected identity files)', async () => {
    const plain = fresh();
    const created = await identityFile.createIdentityFile(plain, { random: deterministicRandom('zeroing plain') });
    expect((await identityFile.readIdentityFile(plain)).recipient).toBe(created.recipient);
    expectAllZero(read, 1);

    read.length = 0;
    const locked = fresh();
    const protectedFile = await identityFile.createIdentityFile(locked, { passphrase: 'p', scryptLogN: 2, random: deterministicRandom('zeroing locked') });
    const key = await identityFile.readAnyKeyFile(locked, { passphrase: 'p' });
    expect(key.format === 'age' && key.identity.recipient).toBe(protectedFile.recipient);
    expectAllZero(read, 1);
  });

  test('are zero when the key file is refused (not a key file, no passphrase, wrong passphrase)', async () => {
    const garbage = fresh();
    await fs.writeFile(garbage, 'hello, not a key file\n');
    await keyInvalid(() => identityFile.readAnyKeyFile(garbage));
    expectAllZero(read, 1);

    read.length = 0;
    const locked = fresh();
    await identityFile.createIdentityFile(locked, { passphrase: 'right', scryptLogN: 2, random: deterministicRandom('zeroing wrong') });
    expect(await keyInvalid(() => identityFile.readAnyKeyFile(locked))).toContain('provide the passphrase');
    expect(await keyInvalid(() => identityFile.readAnyKeyFile(locked, { passphrase: 'wrong' }))).toContain('the passphrase is wrong');
    expectAllZero(read, 2);
  });
});
