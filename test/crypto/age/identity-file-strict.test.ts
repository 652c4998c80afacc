/**
 * Identity files (src/crypto/age/identity-file.ts), the fast part: every
 * refusal with the exact message and details users and clients see, how a
 * key file's format and protection are told from its first characters or
 * bytes, the passphrase-protected form at a low scrypt work factor, and that
 * the file key drawn for it does not outlive the encryption. The slow cases
 * (age's default 2^18, Debian's age reading a protected file through a
 * terminal) are in identity-file.test.ts.
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { bech32 } from '@scure/base';
import { Decrypter, Encrypter, armor } from 'age-encryption';
import {
  AgeIdentity,
  createIdentityFile,
  describeAnyKeyFile,
  encryptIdentityText,
  identityFileText,
  parseAnyKeyFile,
  parseIdentityFileText,
  readAnyKeyFile,
  readIdentityFile,
} from '../../../src/crypto/age/index.js';
import { parseAnyKeyFileBytes, decryptIdentityText } from '../../../src/crypto/age/identity-file.js';
import { encodeHeader } from '../../../src/crypto/age/header.js';
import { AgePayloadSealer } from '../../../src/crypto/age/payload.js';
import { wrapScrypt, wrapX25519 } from '../../../src/crypto/age/stanzas.js';
import { createKeyFile } from '../../../src/crypto/index.js';
import { CloudlockerError, InvalidParamsError } from '../../../src/errors.js';
import { deterministicRandom, streamBytes } from '../../../tools/vectors/deterministic.js';

const PREFIX = 'The key file could not be used: ';
let dir: string;
let counter = 0;
const fresh = (name = 'identity') => path.join(dir, `${name}-${++counter}.txt`);

beforeAll(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'cloudlocker-identity-strict-'));
});
afterAll(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

/** KEY_INVALID's detail (the message after its fixed prefix) and details. */
async function keyInvalid(run: () => Promise<unknown> | unknown): Promise<{ detail: string; details: unknown }> {
  try {
    await run();
  } catch (err) {
    if (!(err instanceof CloudlockerError) || err.reason !== 'KEY_INVALID') throw err;
    expect(err.message.startsWith(PREFIX)).toBe(true);
    return { detail: err.message.slice(PREFIX.length), details: err.details };
  }
  throw new Error('expected KEY_INVALID');
}

async function detailOf(run: () => Promise<unknown> | unknown): Promise<string> {
  return (await keyInvalid(run)).detail;
}

const identity = AgeIdentity.generate('X25519', deterministicRandom('strict file'));
const other = AgeIdentity.generate('X25519', deterministicRandom('strict other'));
const pq = AgeIdentity.generate('mlkem768x25519', deterministicRandom('strict pq'));
const secret = identity.encodeSecret();

/** An armored age file holding `plaintext` under one scrypt stanza for `passphrase` (logN 2: fast). */
async function protectedBytes(plaintext: Buffer, passphrase: string): Promise<Buffer> {
  const random = deterministicRandom('protected bytes');
  const fileKey = random(16);
  const stanza = await wrapScrypt(passphrase, fileKey, random, 2);
  const nonce = random(16);
  const chunk = new AgePayloadSealer(fileKey, nonce).encryptChunk(0, plaintext, true);
  return Buffer.concat([encodeHeader([stanza], fileKey), nonce, chunk]);
}

describe('the identity file text', () => {
  test('"# created:" is RFC 3339 in UTC to the second (milliseconds dropped), then the public key, then the secret', () => {
    for (const [date, stamp] of [
      ['2026-01-02T03:04:05.678Z', '2026-01-02T03:04:05Z'],
      ['1999-12-31T23:59:59.000Z', '1999-12-31T23:59:59Z'],
      ['2030-06-15T00:00:00.999Z', '2030-06-15T00:00:00Z'],
    ]) {
      expect(identityFileText(identity, new Date(date))).toBe(`# created: ${stamp}\n# public key: ${identity.recipient}\n${secret}\n`);
    }
  });
});

describe('parsing an unprotected identity file', () => {
  test('comments, blank and whitespace-only lines, CRLF and a BOM are accepted; the identity line is taken as is', () => {
    for (const text of [
      secret,
      `${secret}\n`,
      `\uFEFF${secret}\r\n`,
      `# a comment\n\n   \n\t\n${secret}\n# another\n`,
      `# public key: ${identity.recipient}\r\n${secret}\r\n`,
      // Trailing blanks after the public key are allowed, as is a comment that is not the public key line.
      `# public key: ${identity.recipient}  \n#public key: ${other.recipient}\n# public key:${other.recipient}\n${secret}\n`,
      `## public key: ${other.recipient}\n# # public key: ${other.recipient}\n# public key: ${other.recipient} (old)\n${secret}\n`,
    ]) {
      expect(parseIdentityFileText(text).recipient).toBe(identity.recipient);
    }
    expect(parseIdentityFileText(`# public key: ${pq.recipient}\n${pq.encodeSecret()}\n`).type).toBe('mlkem768x25519');
  });

  test('each refusal says what is wrong (KEY_INVALID)', async () => {
    const cases: [string, string][] = [
      ['', 'it holds no age identity (AGE-SECRET-KEY-1…) line.'],
      ['# only a comment\n\n  \n', 'it holds no age identity (AGE-SECRET-KEY-1…) line.'],
      ['\uFEFF', 'it holds no age identity (AGE-SECRET-KEY-1…) line.'],
      [`${secret}\n${other.encodeSecret()}\n`, 'it holds more than one identity line; cloudlocker uses files with exactly one.'],
      [`${secret}\nhello\n`, 'it holds more than one identity line; cloudlocker uses files with exactly one.'],
      ['hello\n', 'a line is neither a comment nor an age identity (AGE-SECRET-KEY-1…).'],
      [` # indented comment\n`, 'a line is neither a comment nor an age identity (AGE-SECRET-KEY-1…).'],
      [`${secret.toLowerCase()}\n`, 'a line is neither a comment nor an age identity (AGE-SECRET-KEY-1…).'],
      [`${identity.recipient}\n`, 'a line is neither a comment nor an age identity (AGE-SECRET-KEY-1…).'],
      [` ${secret}\n`, 'a line is neither a comment nor an age identity (AGE-SECRET-KEY-1…).'],
      [
        `${secret.slice(0, 30)}${secret[30] === 'Q' ? 'P' : 'Q'}${secret.slice(31)}\n`,
        'its identity line is not a valid age identity: its checksum or encoding is wrong (a character may be mistyped or missing).',
      ],
      [`${secret} \n`, 'its identity line is not a valid age identity: its checksum or encoding is wrong (a character may be mistyped or missing).'],
      [`${secret.slice(0, 20)}a${secret.slice(21)}\n`, 'its identity line is not a valid age identity: it must be all upper case.'],
      [
        `# public key: ${other.recipient}\n${secret}\n`,
        'its "# public key:" comment does not match its identity: the file was edited or damaged.',
      ],
      [
        `${secret}\n# public key: ${other.recipient}\n`,
        'its "# public key:" comment does not match its identity: the file was edited or damaged.',
      ],
      [
        `# public key: ${other.recipient} \t \n${secret}\n`,
        'its "# public key:" comment does not match its identity: the file was edited or damaged.',
      ],
      [
        `# public key: ${identity.recipient}x\n${secret}\n`,
        'its "# public key:" comment does not match its identity: the file was edited or damaged.',
      ],
    ];
    for (const [text, detail] of cases) expect(await detailOf(() => parseIdentityFileText(text))).toBe(detail);
  });

  test('an identity line the decoder refuses gives the decoder\'s reason', async () => {
    // Valid Bech32 with the identity prefix, but 31 bytes.
    const short = bech32.encode('age-secret-key-', bech32.toWords(Buffer.alloc(31, 1)), false).toUpperCase();
    expect(await detailOf(() => parseIdentityFileText(`${short}\n`))).toBe('its identity line is not a valid age identity: an identity holds 32 bytes.');
    expect(await detailOf(() => parseIdentityFileText('AGE-SECRET-KEY-1\n'))).toBe(
      'its identity line is not a valid age identity: its checksum or encoding is wrong (a character may be mistyped or missing).',
    );
  });
});

describe('telling key files apart (describeAnyKeyFile)', () => {
  test('v1 JSON (protected when it has a wrappedKey), armored age, binary age, plain identity; a BOM and leading blanks are skipped', () => {
    expect(describeAnyKeyFile('{"type":"cloudlocker-key","key":"x"}')).toEqual({ format: 'v1', passphraseProtected: false });
    expect(describeAnyKeyFile('\uFEFF \n\t{ "wrappedKey" : {} }')).toEqual({ format: 'v1', passphraseProtected: true });
    expect(describeAnyKeyFile('{"wrappedKey":{}}')).toEqual({ format: 'v1', passphraseProtected: true });
    expect(describeAnyKeyFile('{"wrappedKey" \n:1}')).toEqual({ format: 'v1', passphraseProtected: true });
    expect(describeAnyKeyFile('{"wrappedKeys":1, "key": "wrappedKey"}')).toEqual({ format: 'v1', passphraseProtected: false });
    expect(describeAnyKeyFile('\n-----BEGIN AGE ENCRYPTED FILE-----\n')).toEqual({ format: 'age', passphraseProtected: true });
    expect(describeAnyKeyFile('\uFEFF-----BEGIN AGE ENCRYPTED FILE-----')).toEqual({ format: 'age', passphraseProtected: true });
    expect(describeAnyKeyFile('-----BEGIN AGE ENCRYPTED FILE----')).toEqual({ format: 'age', passphraseProtected: false });
    expect(describeAnyKeyFile('age-encryption.org/v1\n-> scrypt')).toEqual({ format: 'age', passphraseProtected: true });
    expect(describeAnyKeyFile(' age-encryption.org/v1')).toEqual({ format: 'age', passphraseProtected: true });
    expect(describeAnyKeyFile('age-encryption.org/v')).toEqual({ format: 'age', passphraseProtected: false });
    expect(describeAnyKeyFile(identityFileText(identity, new Date(0)))).toEqual({ format: 'age', passphraseProtected: false });
    expect(describeAnyKeyFile('')).toEqual({ format: 'age', passphraseProtected: false });
    expect(describeAnyKeyFile('x{')).toEqual({ format: 'age', passphraseProtected: false });
  });
});

describe('passphrase-protected identity files (low work factor)', () => {
  test('encryptIdentityText: an armored age file with one scrypt stanza at the given work factor, opened by age-encryption', async () => {
    const text = identityFileText(identity, new Date(0));
    const armored = await encryptIdentityText(text, 'pass', { logN: 3, random: deterministicRandom('encrypt') });
    expect(armored.startsWith('-----BEGIN AGE ENCRYPTED FILE-----\n')).toBe(true);
    const binary = Buffer.from(armor.decode(armored));
    const salt = streamBytes('encrypt', 32).subarray(16, 32).toString('base64').replace(/=+$/, '');
    expect(binary.toString('latin1')).toMatch(new RegExp(`^age-encryption\\.org/v1\\n-> scrypt ${salt.replace(/[+/]/g, '\\$&')} 3\\n`));
    const decrypter = new Decrypter();
    decrypter.addPassphrase('pass');
    expect(await decrypter.decrypt(binary, 'text')).toBe(text);
    expect(await decryptIdentityText(armored, 'pass')).toBe(text);
    expect(await decryptIdentityText(`\uFEFF${armored}`, 'pass')).toBe(text);
    // The same random source gives the same file (the file key, salt and nonce all come from it).
    expect(await encryptIdentityText(text, 'pass', { logN: 3, random: deterministicRandom('encrypt') })).toBe(armored);
  });

  test('the file key drawn for it is zeroed once the file is written, also when the work factor is refused', async () => {
    const draws: Buffer[] = [];
    const random = (size: number) => {
      const bytes = streamBytes(`draw ${draws.length}`, size);
      draws.push(bytes);
      return bytes;
    };
    await encryptIdentityText('text', 'pass', { logN: 2, random });
    expect(draws[0]).toHaveLength(16);
    expect(draws[0].every((byte) => byte === 0)).toBe(true);
    draws.length = 0;
    await expect(encryptIdentityText('text', 'pass', { logN: 99, random })).rejects.toThrow(RangeError);
    expect(draws).toHaveLength(1);
    expect(draws[0].every((byte) => byte === 0)).toBe(true);
  });

  test('a protected text file: KEY_INVALID without a passphrase (passphraseRequired), with a wrong one (passphraseWrong), with a malformed one', async () => {
    const armored = await encryptIdentityText(identityFileText(identity, new Date(0)), 'right', { logN: 2 });
    for (const options of [{}, { passphrase: undefined }, { passphrase: '' }]) {
      expect(await keyInvalid(() => parseAnyKeyFile(armored, options))).toEqual({
        detail: 'it is protected by a passphrase: provide the passphrase.',
        details: { passphraseRequired: true },
      });
    }
    expect(await keyInvalid(() => parseAnyKeyFile(armored, { passphrase: 'wrong' }))).toEqual({
      detail: 'the passphrase is wrong, or the file is not encrypted to a passphrase.',
      details: { passphraseWrong: true },
    });
    expect(await detailOf(() => parseAnyKeyFile(armored, { passphrase: 'a\uD800' }))).toBe('the passphrase is not valid Unicode text.');
    const read = await parseAnyKeyFile(armored, { passphrase: 'right' });
    expect(read.format === 'age' && read.identity.recipient).toBe(identity.recipient);
  });

  test('damage: the armor, the header MAC, the payload, and content that is not UTF-8 or not an identity file', async () => {
    expect(await detailOf(() => decryptIdentityText('-----BEGIN AGE ENCRYPTED FILE-----\n!!!\n-----END AGE ENCRYPTED FILE-----\n', 'p'))).toBe(
      'its armor (-----BEGIN AGE ENCRYPTED FILE-----) is damaged.',
    );
    const good = await protectedBytes(Buffer.from(identityFileText(identity, new Date(0))), 'p');
    // The MAC's first base64 character (all six bits used: still canonical base64) changed.
    const macStart = good.indexOf('\n--- ') + 5;
    const badMac = Buffer.from(good);
    badMac[macStart] = badMac[macStart] === 0x41 ? 0x42 : 0x41;
    expect(await detailOf(() => parseAnyKeyFileBytes(badMac, { passphrase: 'p' }))).toBe('it is damaged (header mac).');
    const badPayload = Buffer.from(good);
    badPayload[badPayload.length - 1] ^= 0x01;
    expect(await detailOf(() => parseAnyKeyFileBytes(badPayload, { passphrase: 'p' }))).toBe('it is damaged (payload invalid).');
    expect(await detailOf(() => decryptIdentityText(armor.encode(badPayload), 'p'))).toBe('it is damaged (payload invalid).');
    const notUtf8 = await protectedBytes(Buffer.from([0x41, 0xff, 0xfe, 0x41]), 'p');
    expect(await detailOf(() => parseAnyKeyFileBytes(notUtf8, { passphrase: 'p' }))).toBe('its decrypted content is not an identity file.');
    expect(await detailOf(() => decryptIdentityText(armor.encode(notUtf8), 'p'))).toBe('its decrypted content is not an identity file.');
    const notIdentity = await protectedBytes(Buffer.from('hello\n'), 'p');
    expect(await detailOf(() => parseAnyKeyFileBytes(notIdentity, { passphrase: 'p' }))).toBe(
      'a line is neither a comment nor an age identity (AGE-SECRET-KEY-1…).',
    );
  });

  test('a binary age file encrypted to a recipient, not a passphrase: "wrong passphrase, or not encrypted to a passphrase"', async () => {
    const random = deterministicRandom('to recipient');
    const fileKey = random(16);
    const stanza = wrapX25519(Buffer.from(identity.card.recipient.publicKey), fileKey, random);
    const nonce = random(16);
    const chunk = new AgePayloadSealer(fileKey, nonce).encryptChunk(0, Buffer.from(secret), true);
    const file = Buffer.concat([encodeHeader([stanza], fileKey), nonce, chunk]);
    expect(await keyInvalid(() => parseAnyKeyFileBytes(file, { passphrase: 'p' }))).toEqual({
      detail: 'the passphrase is wrong, or the file is not encrypted to a passphrase.',
      details: { passphraseWrong: true },
    });
  });

  test('binary protected files are told apart by their first bytes, from bytes or from text (a BOM before them in text too)', async () => {
    const identityText = identityFileText(other, new Date(0));
    const binary = await protectedBytes(Buffer.from(identityText), 'p');
    const key = await parseAnyKeyFileBytes(binary, { passphrase: 'p' });
    expect(key.format === 'age' && key.identity.recipient).toBe(other.recipient);
    // Given as text (its header is ASCII), with or without a BOM: read as binary age, not as armor,
    // so a wrong passphrase is reported as such.
    for (const text of [binary.toString('latin1'), `\uFEFF${binary.toString('latin1')}`]) {
      expect(await keyInvalid(() => parseAnyKeyFile(text, { passphrase: 'wrong' }))).toEqual({
        detail: 'the passphrase is wrong, or the file is not encrypted to a passphrase.',
        details: { passphraseWrong: true },
      });
    }
    for (const passphrase of [undefined, '']) {
      expect(await keyInvalid(() => parseAnyKeyFileBytes(binary, { passphrase }))).toEqual({
        detail: 'it is protected by a passphrase: provide the passphrase.',
        details: { passphraseRequired: true },
      });
    }
    expect(await detailOf(() => parseAnyKeyFileBytes(binary, { passphrase: '\uDC00' }))).toBe('the passphrase is not valid Unicode text.');
    // Fewer bytes than the version line: text, read as an identity file.
    expect(await detailOf(() => parseAnyKeyFileBytes(Buffer.from('age')))).toBe('a line is neither a comment nor an age identity (AGE-SECRET-KEY-1…).');
    // Bytes that are not UTF-8 and not binary age.
    expect(await detailOf(() => parseAnyKeyFileBytes(Buffer.from([0xff, 0xfe, 0x00])))).toBe('it is not UTF-8 text (it may be damaged).');
    // Plain identity bytes.
    const plain = await parseAnyKeyFileBytes(Buffer.from(identityText), { passphrase: 'ignored' });
    expect(plain.format === 'age' && plain.identity.recipient).toBe(other.recipient);
  });

  test('a file that starts like binary age but not with its version line (CRLF line ends, cut short) is KEY_INVALID, not a stack overflow', async () => {
    // Found by this pass: such text went to the bytes reader, which did not see the magic (with its
    // newline) and handed it back to the text reader, and so on until the stack overflowed
    // (RangeError "Maximum call stack size exceeded" instead of KEY_INVALID).
    // The header of a protected identity (ASCII) with CRLF line ends, the payload lost.
    const binary = await protectedBytes(Buffer.from(identityFileText(other, new Date(0))), 'p');
    const header = binary.subarray(0, binary.indexOf('\n--- ') + 1 + 48).toString('latin1');
    expect(header).toMatch(/^age-encryption\.org\/v1\n-> scrypt [^\n]+\n[^\n]+\n--- \S{43}\n$/);
    const crlf = Buffer.from(header.replaceAll('\n', '\r\n'), 'latin1');
    const file = fresh('crlf');
    await fs.writeFile(file, crlf, { mode: 0o600 });
    expect(await detailOf(() => readAnyKeyFile(file, { passphrase: 'p' }))).toBe('it is damaged (header invalid).');
    expect(await keyInvalid(() => readAnyKeyFile(file))).toEqual({
      detail: 'it is protected by a passphrase: provide the passphrase.',
      details: { passphraseRequired: true },
    });
    for (const text of ['age-encryption.org/v1', '\uFEFFage-encryption.org/v1', 'age-encryption.org/v1 \n-> scrypt']) {
      expect(await detailOf(() => parseAnyKeyFileBytes(Buffer.from(text), { passphrase: 'p' }))).toBe('it is damaged (header invalid).');
      expect(await detailOf(() => parseAnyKeyFile(text, { passphrase: 'p' }))).toBe('it is damaged (header invalid).');
    }
  });

  test('an unprotected identity file ignores a passphrase; age-encryption\'s own protected files open', async () => {
    const unprotected = await parseAnyKeyFile(`${secret}\n`, { passphrase: 'whatever' });
    expect(unprotected.format === 'age' && unprotected.identity.recipient).toBe(identity.recipient);
    const encrypter = new Encrypter();
    encrypter.setPassphrase('theirs');
    encrypter.setScryptWorkFactor(2);
    const theirs = armor.encode(await encrypter.encrypt(`${pq.encodeSecret()}\n`));
    const read = await parseAnyKeyFile(theirs, { passphrase: 'theirs' });
    expect(read.format === 'age' && read.identity.type).toBe('mlkem768x25519');
  });
});

describe('files on disk', () => {
  test('createIdentityFile: the path resolved, the file age-keygen would write, the fields returned; type, clock and work factor honoured', async () => {
    const relative = path.relative(process.cwd(), fresh('created'));
    const created = await createIdentityFile(relative, { now: () => new Date('2026-03-04T05:06:07.089Z'), random: deterministicRandom('create') });
    expect(created.path).toBe(path.resolve(relative));
    const expected = AgeIdentity.generate('X25519', deterministicRandom('create'));
    expect(created.recipient).toBe(expected.recipient);
    expect(created.identity.recipient).toBe(expected.recipient);
    expect(created.card).toBe(expected.card.card);
    expect(created.cardId).toBe(expected.card.cardId);
    expect(await fs.readFile(created.path, 'utf8')).toBe(identityFileText(expected, new Date('2026-03-04T05:06:07Z')));

    const before = Date.now();
    const now = await createIdentityFile(fresh('now'), { type: 'mlkem768x25519' });
    const stamp = /^# created: (\S+)\n/.exec(await fs.readFile(now.path, 'utf8'))?.[1];
    expect(Math.abs(Date.parse(stamp ?? '') - before)).toBeLessThan(60_000);
    expect(now.identity.type).toBe('mlkem768x25519');

    const protectedFile = await createIdentityFile(fresh('protected'), { passphrase: 'pw', scryptLogN: 2 });
    const text = await fs.readFile(protectedFile.path, 'utf8');
    expect(Buffer.from(armor.decode(text)).toString('latin1')).toMatch(/^age-encryption\.org\/v1\n-> scrypt \S+ 2\n/);
    expect((await readIdentityFile(protectedFile.path, { passphrase: 'pw' })).recipient).toBe(protectedFile.recipient);
    expect((await readAnyKeyFile(protectedFile.path, { passphrase: 'pw' })).format).toBe('age');
  });

  test('createIdentityFile refuses an empty or malformed passphrase (the param named) and a taken path, writing nothing', async () => {
    const file = fresh('refused');
    const refusal = async (run: () => Promise<unknown>) => {
      try {
        await run();
      } catch (err) {
        return err;
      }
      throw new Error('expected a refusal');
    };
    const empty = await refusal(() => createIdentityFile(file, { passphrase: '' }));
    expect(empty).toBeInstanceOf(InvalidParamsError);
    expect(empty).toMatchObject({ param: 'passphrase', message: 'The passphrase must not be empty: omit it for a key file without a passphrase.' });
    const lone = await refusal(() => createIdentityFile(file, { passphrase: 'x\uD800' }));
    expect(lone).toBeInstanceOf(InvalidParamsError);
    expect(lone).toMatchObject({ param: 'passphrase', message: 'The passphrase is not valid Unicode text.' });
    await expect(fs.stat(file)).rejects.toMatchObject({ code: 'ENOENT' });
    await fs.writeFile(file, 'precious');
    // Refused before any key is made (and before a passphrase costs a 2^18 scrypt).
    let drawn = 0;
    const counting = (size: number) => {
      drawn += size;
      return Buffer.alloc(size, 1);
    };
    const taken = await refusal(() => createIdentityFile(file, { passphrase: 'fine', random: counting }));
    expect(drawn).toBe(0);
    expect(taken).toMatchObject({
      reason: 'ALREADY_EXISTS',
      message: 'A file already exists at the key file path; it was left untouched: choose another path.',
    });
    expect(await fs.readFile(file, 'utf8')).toBe('precious');
  });

  test('readIdentityFile refuses a v1 key file, saying so', async () => {
    const file = fresh('v1');
    await createKeyFile(file);
    expect(await detailOf(() => readIdentityFile(file))).toBe('it is a v1 key file, not an age identity.');
    expect((await readAnyKeyFile(file)).format).toBe('v1');
  });
});
