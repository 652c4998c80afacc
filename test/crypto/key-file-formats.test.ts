/**
 * Which key file means which format, what a loaded key seals and opens with
 * (src/crypto/key-file-formats.ts), the v1 master key handle
 * (src/crypto/master-key.ts) and takeRandom's size check (src/crypto/random.ts),
 * function by function. Fast: unprotected key files, or scrypt at 2^2 for an
 * age identity file (the one protected v1 key file uses the default 2^15).
 * Written for the crypto-key-file-formats mutation module (issue 18).
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { inspect } from 'node:util';
import {
  createNewKeyFile,
  keyFileCredentials,
  keyFileEncryption,
  loadKeyFile,
  publicFacts,
  refuseMalformedName,
  refuseRecipientsForNewKey,
  type LoadedKey,
} from '../../src/crypto/key-file-formats.js';
import { generateMasterKey, importMasterKey, isMasterKey, masterKeyBytes, type MasterKey } from '../../src/crypto/master-key.js';
import { systemRandom, takeRandom } from '../../src/crypto/random.js';
import { deriveKeyId } from '../../src/crypto/v1/kdf.js';
import { createKeyFile } from '../../src/crypto/key-file.js';
import { createIdentityFile } from '../../src/crypto/age/identity-file.js';
import { AgeIdentity } from '../../src/crypto/age/identity.js';
import type { AuthorKey } from '../../src/crypto/age/author.js';
import { InvalidParamsError } from '../../src/errors.js';
import { catchReasonAsync } from './helpers.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'cl-key-file-formats-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

let counter = 0;
function freshPath(name: string): string {
  counter += 1;
  return path.join(dir, `${counter}-${name}`);
}

function catchInvalidParams(action: () => unknown): InvalidParamsError {
  let caught: unknown;
  try {
    action();
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(InvalidParamsError);
  return caught as InvalidParamsError;
}

function fixedBytes(seed: number): Buffer {
  return Buffer.from(Array.from({ length: 32 }, (_, i) => (seed + i * 7) & 0xff));
}

function v1Loaded(key: MasterKey): LoadedKey {
  return { format: 'v1', keyId: key.keyId, key };
}

function ageLoaded(identity: AgeIdentity): LoadedKey {
  return { format: 'age', keyId: identity.card.cardId, identity, card: identity.card };
}

const LONE_SURROGATE = 'a\uD800b';

describe('takeRandom (random.ts)', () => {
  it('returns the very buffer the source gave when it is a Buffer of the size asked', () => {
    const given = Buffer.alloc(5, 7);
    const asked: number[] = [];
    const taken = takeRandom((size) => {
      asked.push(size);
      return given;
    }, 5);
    expect(taken).toBe(given);
    expect(asked).toEqual([5]);
  });

  it('refuses a source that returns fewer or more bytes, saying how many', () => {
    expect(() => takeRandom(() => Buffer.alloc(3), 4)).toThrow(new TypeError('random source returned 3 instead of 4 bytes'));
    expect(() => takeRandom(() => Buffer.alloc(5), 4)).toThrow(new TypeError('random source returned 5 instead of 4 bytes'));
    expect(() => takeRandom(() => Buffer.alloc(0), 1)).toThrow(TypeError);
  });

  it('refuses a source that returns something other than a Buffer, even of the right length, naming its type', () => {
    expect(() => takeRandom(() => new Uint8Array(4) as Buffer, 4)).toThrow(new TypeError('random source returned object instead of 4 bytes'));
    expect(() => takeRandom(() => 'abcd' as unknown as Buffer, 4)).toThrow(new TypeError('random source returned string instead of 4 bytes'));
    expect(() => takeRandom(() => undefined as unknown as Buffer, 4)).toThrow(new TypeError('random source returned undefined instead of 4 bytes'));
  });

  it('systemRandom gives fresh Buffers of the size asked', () => {
    const a = systemRandom(32);
    const b = systemRandom(32);
    expect(Buffer.isBuffer(a)).toBe(true);
    expect(a).toHaveLength(32);
    expect(a.equals(b)).toBe(false);
    expect(takeRandom(systemRandom, 12)).toHaveLength(12);
  });
});

describe('the master key handle (master-key.ts)', () => {
  it('imports exactly 32 bytes, Buffer or Uint8Array, and names the key by its derived key id', () => {
    const bytes = fixedBytes(1);
    const key = importMasterKey(bytes);
    expect(key.keyId).toBe(deriveKeyId(bytes).toString('hex'));
    expect(key.keyId).toMatch(/^[0-9a-f]{32}$/);
    const fromUint8 = importMasterKey(new Uint8Array(bytes));
    expect(fromUint8.keyId).toBe(key.keyId);
    expect(masterKeyBytes(fromUint8).equals(bytes)).toBe(true);
  });

  it('refuses other sizes and things that are not bytes', () => {
    for (const wrong of [Buffer.alloc(31), Buffer.alloc(33), Buffer.alloc(0)]) {
      expect(() => importMasterKey(wrong)).toThrow(new RangeError('a master key is 32 bytes'));
    }
    const array32 = Array.from({ length: 32 }, () => 1) as unknown as Uint8Array;
    expect(() => importMasterKey(array32)).toThrow(new RangeError('a master key is 32 bytes'));
    expect(() => importMasterKey('0123456789abcdef0123456789abcdef' as unknown as Uint8Array)).toThrow(RangeError);
  });

  it('keeps its own copy: wiping the caller\'s bytes leaves the key whole', () => {
    const bytes = fixedBytes(2);
    const expected = Buffer.from(bytes);
    const key = importMasterKey(bytes);
    bytes.fill(0);
    expect(masterKeyBytes(key).equals(expected)).toBe(true);
    expect(key.keyId).toBe(deriveKeyId(expected).toString('hex'));
  });

  it('shows only the key id: JSON, inspect, own properties; the handle is frozen', () => {
    const bytes = fixedBytes(3);
    const key = importMasterKey(bytes);
    expect(JSON.stringify(key)).toBe(`{"keyId":"${key.keyId}"}`);
    expect(inspect(key)).toBe(`MasterKey { keyId: '${key.keyId}' }`);
    expect(Object.keys(key)).toEqual(['keyId']);
    expect(Object.isFrozen(key)).toBe(true);
    expect(() => {
      (key as { keyId: string }).keyId = 'changed';
    }).toThrow(TypeError);
    const hex = bytes.toString('hex');
    const b64 = bytes.toString('base64');
    for (const shown of [JSON.stringify(key), inspect(key, { showHidden: true, depth: 5 })]) {
      expect(shown).not.toContain(hex);
      expect(shown).not.toContain(b64);
    }
  });

  it('generateMasterKey takes 32 bytes from the source, keeps them, and wipes the drawn buffer', () => {
    const drawn = fixedBytes(4);
    const expected = Buffer.from(drawn);
    const asked: number[] = [];
    const key = generateMasterKey((size) => {
      asked.push(size);
      return drawn;
    });
    expect(asked).toEqual([32]);
    expect(masterKeyBytes(key).equals(expected)).toBe(true);
    expect(key.keyId).toBe(deriveKeyId(expected).toString('hex'));
    expect(drawn.every((byte) => byte === 0)).toBe(true);
  });

  it('generateMasterKey refuses a source that breaks its contract', () => {
    const short = Buffer.alloc(31, 9);
    expect(() => generateMasterKey(() => short)).toThrow(TypeError);
  });

  it('generateMasterKey uses the system CSPRNG by default', () => {
    const a = generateMasterKey();
    const b = generateMasterKey();
    expect(a.keyId).not.toBe(b.keyId);
    expect(masterKeyBytes(a)).toHaveLength(32);
  });

  it('masterKeyBytes and isMasterKey know only handles made here', () => {
    const key = generateMasterKey();
    const lookalike = { keyId: key.keyId };
    expect(() => masterKeyBytes(lookalike)).toThrow(
      new TypeError('not a MasterKey created by importMasterKey, generateMasterKey or readKeyFile'),
    );
    expect(isMasterKey(key)).toBe(true);
    for (const other of [lookalike, null, undefined, key.keyId, 32, Object.create(key) as object]) {
      expect(isMasterKey(other)).toBe(false);
    }
  });
});

describe('loadKeyFile and createNewKeyFile: the file decides the format', () => {
  it('a v1 key file loads as format v1, named by its master key id', async () => {
    const keyPath = freshPath('v1.key');
    const created = await createKeyFile(keyPath);
    const loaded = await loadKeyFile(keyPath);
    expect(loaded.format).toBe('v1');
    expect(Object.keys(loaded).sort()).toEqual(['format', 'key', 'keyId']);
    expect(loaded.keyId).toBe(created.keyId);
    if (loaded.format !== 'v1') throw new Error('unreachable');
    expect(masterKeyBytes(loaded.key).equals(masterKeyBytes(created.key))).toBe(true);
  });

  it('an age identity file loads as format age, named by its card id, with its card', async () => {
    const keyPath = freshPath('id.key.txt');
    const created = await createIdentityFile(keyPath, { type: 'mlkem768x25519' });
    const loaded = await loadKeyFile(keyPath);
    expect(loaded.format).toBe('age');
    expect(Object.keys(loaded).sort()).toEqual(['card', 'format', 'identity', 'keyId']);
    if (loaded.format !== 'age') throw new Error('unreachable');
    expect(loaded.keyId).toBe(created.cardId);
    expect(loaded.identity.type).toBe('mlkem768x25519');
    expect(loaded.identity.recipient).toBe(created.recipient);
    expect(loaded.card).toBe(loaded.identity.card);
    expect(loaded.card.card).toBe(created.card);
  });

  it('a protected age identity file loads with its passphrase (scrypt 2^2), and not without', async () => {
    const keyPath = freshPath('protected.age');
    const created = await createIdentityFile(keyPath, { passphrase: 'open sesame', scryptLogN: 2 });
    const loaded = await loadKeyFile(keyPath, { passphrase: 'open sesame' });
    expect(loaded.keyId).toBe(created.cardId);
    await catchReasonAsync(() => loadKeyFile(keyPath), 'KEY_INVALID');
  });

  it('a missing key file is NOT_FOUND', async () => {
    await catchReasonAsync(() => loadKeyFile(freshPath('absent')), 'NOT_FOUND');
  });

  it('createNewKeyFile makes an age X25519 identity by default', async () => {
    const keyPath = freshPath('default.key.txt');
    const created = await createNewKeyFile(keyPath);
    expect(created.path).toBe(path.resolve(keyPath));
    expect(created.key.format).toBe('age');
    if (created.key.format !== 'age') throw new Error('unreachable');
    expect(created.key.identity.type).toBe('X25519');
    expect(created.key.keyId).toBe(created.key.identity.card.cardId);
    expect(created.key.card).toBe(created.key.identity.card);
    const loaded = await loadKeyFile(keyPath);
    expect(loaded.format).toBe('age');
    expect(loaded.keyId).toBe(created.key.keyId);
  });

  it('createNewKeyFile makes the post-quantum hybrid when asked', async () => {
    const keyPath = freshPath('pq.key.txt');
    const created = await createNewKeyFile(keyPath, { type: 'mlkem768x25519' });
    if (created.key.format !== 'age') throw new Error(`expected age, got ${created.key.format}`);
    expect(created.key.identity.type).toBe('mlkem768x25519');
    const loaded = await loadKeyFile(keyPath);
    expect(publicFacts(loaded).keyType).toBe('mlkem768x25519');
  });

  it('createNewKeyFile makes a v1 key file only when asked, and it loads as v1', async () => {
    const keyPath = freshPath('asked.v1');
    const created = await createNewKeyFile(keyPath, { type: 'v1' });
    expect(created.path).toBe(path.resolve(keyPath));
    expect(created.key.format).toBe('v1');
    expect(Object.keys(created.key).sort()).toEqual(['format', 'key', 'keyId']);
    if (created.key.format !== 'v1') throw new Error('unreachable');
    expect(created.key.keyId).toBe(created.key.key.keyId);
    const loaded = await loadKeyFile(keyPath);
    expect(loaded.format).toBe('v1');
    expect(loaded.keyId).toBe(created.key.keyId);
  });

  it('createNewKeyFile protects the file with the passphrase given (v1, scrypt 2^15)', async () => {
    const keyPath = freshPath('protected.v1');
    const created = await createNewKeyFile(keyPath, { type: 'v1', passphrase: 'a passphrase' });
    await catchReasonAsync(() => loadKeyFile(keyPath), 'KEY_INVALID');
    const loaded = await loadKeyFile(keyPath, { passphrase: 'a passphrase' });
    expect(loaded.keyId).toBe(created.key.keyId);
  });

  it('createNewKeyFile never writes over a file', async () => {
    const keyPath = freshPath('taken');
    await createNewKeyFile(keyPath);
    await catchReasonAsync(() => createNewKeyFile(keyPath, { type: 'v1' }), 'ALREADY_EXISTS');
  });
});

describe('publicFacts', () => {
  it('a v1 key: its format, key id and type, nothing else', () => {
    const key = generateMasterKey();
    expect(publicFacts(v1Loaded(key))).toStrictEqual({ format: 'v1', keyId: key.keyId, keyType: 'v1' });
  });

  it('an age key: its format, card id, type, recipient and card', () => {
    for (const type of ['X25519', 'mlkem768x25519'] as const) {
      const identity = AgeIdentity.generate(type);
      expect(publicFacts(ageLoaded(identity))).toStrictEqual({
        format: 'age',
        keyId: identity.card.cardId,
        keyType: type,
        recipient: identity.recipient,
        card: identity.card.card,
      });
    }
  });
});

describe('refuseMalformedName', () => {
  it('passes names whose UTF-8 round-trips, non-ASCII included', () => {
    for (const name of ['plain.txt', 'é/ü/日本', 'emoji \u{1F600}', '']) {
      expect(() => refuseMalformedName(name)).not.toThrow();
    }
  });

  it('refuses a lone surrogate (-32602), naming the parameter', () => {
    for (const name of [LONE_SURROGATE, '\uDC00', 'end\uD83D']) {
      const err = catchInvalidParams(() => refuseMalformedName(name));
      expect(err.message).toBe('name is not well-formed Unicode (it holds a lone surrogate).');
      expect(err.param).toBe('name');
    }
    const named = catchInvalidParams(() => refuseMalformedName(LONE_SURROGATE, 'newName'));
    expect(named.message).toBe('newName is not well-formed Unicode (it holds a lone surrogate).');
    expect(named.param).toBe('newName');
  });
});

describe('keyFileEncryption: how a loaded key seals', () => {
  it('a v1 key seals in format v1 with its master key, whatever the name', () => {
    const key = generateMasterKey();
    expect(keyFileEncryption(v1Loaded(key), { name: 'n' })).toStrictEqual({ format: 'v1', key });
    expect(keyFileEncryption(v1Loaded(key), { name: 'n', recipients: [] })).toStrictEqual({ format: 'v1', key });
    // The author stanza binds names for age only: v1 does not check the name.
    expect(keyFileEncryption(v1Loaded(key), { name: LONE_SURROGATE })).toStrictEqual({ format: 'v1', key });
  });

  it('a v1 key takes no extra recipients (-32602 on recipients)', () => {
    const key = generateMasterKey();
    const friend = AgeIdentity.generate('X25519');
    const err = catchInvalidParams(() => keyFileEncryption(v1Loaded(key), { name: 'n', recipients: [friend.recipient] }));
    expect(err.message).toBe('recipients need an age identity: this key file holds a v1 key, which encrypts only to itself.');
    expect(err.param).toBe('recipients');
  });

  it('an age key seals in format age with its identity, the name and the recipients as given', () => {
    const identity = AgeIdentity.generate('X25519');
    const friend = AgeIdentity.generate('X25519');
    expect(keyFileEncryption(ageLoaded(identity), { name: 'a/b' })).toStrictEqual({ format: 'age', identity, name: 'a/b', recipients: [] });
    const recipients = [friend.recipient, friend.card.card];
    const spec = keyFileEncryption(ageLoaded(identity), { name: 'a/b', recipients });
    expect(spec).toStrictEqual({ format: 'age', identity, name: 'a/b', recipients });
  });

  it('an age key refuses a malformed name and bad recipients before anything is sealed', () => {
    const identity = AgeIdentity.generate('X25519');
    const name = catchInvalidParams(() => keyFileEncryption(ageLoaded(identity), { name: LONE_SURROGATE }));
    expect(name.param).toBe('name');
    const bad = catchInvalidParams(() => keyFileEncryption(ageLoaded(identity), { name: 'n', recipients: ['age1notarecipient'] }));
    expect(bad.param).toBe('recipients[0]');
    const hybrid = AgeIdentity.generate('mlkem768x25519');
    const mixed = catchInvalidParams(() => keyFileEncryption(ageLoaded(identity), { name: 'n', recipients: [hybrid.recipient] }));
    expect(mixed.param).toBe('recipients[0]');
    expect(mixed.message).toContain('age does not mix the two in one file');
  });
});

describe('refuseRecipientsForNewKey: the same checks before a key file exists', () => {
  it('keyType v1 takes no recipients, and none is fine', () => {
    expect(() => refuseRecipientsForNewKey('v1', [])).not.toThrow();
    const friend = AgeIdentity.generate('X25519');
    const err = catchInvalidParams(() => refuseRecipientsForNewKey('v1', [friend.recipient]));
    expect(err.message).toBe('recipients need an age identity: keyType v1 makes a v1 key, which encrypts only to itself.');
    expect(err.param).toBe('recipients');
  });

  it('an age key type checks each recipient and the classical/post-quantum mix', () => {
    const classical = AgeIdentity.generate('X25519');
    const hybrid = AgeIdentity.generate('mlkem768x25519');
    expect(() => refuseRecipientsForNewKey('X25519', [classical.recipient])).not.toThrow();
    expect(() => refuseRecipientsForNewKey('mlkem768x25519', [hybrid.recipient])).not.toThrow();
    expect(catchInvalidParams(() => refuseRecipientsForNewKey('X25519', [classical.recipient, 'nonsense'])).param).toBe('recipients[1]');
    expect(catchInvalidParams(() => refuseRecipientsForNewKey('X25519', [hybrid.recipient])).param).toBe('recipients[0]');
    expect(catchInvalidParams(() => refuseRecipientsForNewKey('mlkem768x25519', [classical.recipient])).param).toBe('recipients[0]');
  });
});

describe('keyFileCredentials: what a loaded key opens', () => {
  it('a v1 key opens with its master key, whatever the name', () => {
    const key = generateMasterKey();
    expect(keyFileCredentials(v1Loaded(key), { name: 'n' })).toStrictEqual({ kind: 'master-key', key });
    expect(keyFileCredentials(v1Loaded(key), { name: LONE_SURROGATE })).toStrictEqual({ kind: 'master-key', key });
  });

  it('an age key opens with its identity and the name; its own card only unless authors are given', () => {
    const identity = AgeIdentity.generate('X25519');
    expect(keyFileCredentials(ageLoaded(identity), { name: 'x' })).toStrictEqual({
      kind: 'age-identity',
      identity,
      name: 'x',
      acceptUnauthored: false,
    });
    const authors: AuthorKey[] = [{ cardId: 'c', signingPublicKey: Buffer.alloc(32, 1) }];
    expect(keyFileCredentials(ageLoaded(identity), { name: 'x', authors })).toStrictEqual({
      kind: 'age-identity',
      identity,
      name: 'x',
      acceptUnauthored: false,
      authors,
    });
  });

  it('an age key accepts an unauthored file only when asked with true', () => {
    const identity = AgeIdentity.generate('X25519');
    expect(keyFileCredentials(ageLoaded(identity), { name: 'x', acceptUnauthored: true })).toMatchObject({ acceptUnauthored: true });
    expect(keyFileCredentials(ageLoaded(identity), { name: 'x', acceptUnauthored: false })).toMatchObject({ acceptUnauthored: false });
    expect(keyFileCredentials(ageLoaded(identity), { name: 'x' })).toMatchObject({ acceptUnauthored: false });
  });

  it('an age key refuses a malformed name (-32602)', () => {
    const identity = AgeIdentity.generate('X25519');
    const err = catchInvalidParams(() => keyFileCredentials(ageLoaded(identity), { name: LONE_SURROGATE }));
    expect(err.param).toBe('name');
  });
});
