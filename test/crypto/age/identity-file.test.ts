/**
 * Identity files (v2 key files): created atomically, 0600, never over an
 * existing file; strict parsing with KEY_INVALID and a reason; passphrase
 * protection as an armored age scrypt file; interop with age-keygen, age -d
 * and age-encryption; v1 key files still told apart and read.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
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
  sealAgeBuffer,
} from '../../../src/crypto/age/index.js';
import { createKeyFile } from '../../../src/crypto/index.js';
import { CloudlockerError, InvalidParamsError } from '../../../src/errors.js';
import { deterministicRandom } from '../../../tools/vectors/deterministic.js';

let dir: string;
let counter = 0;
const fresh = (name = 'identity') => path.join(dir, `${name}-${++counter}.txt`);
const posix = process.platform !== 'win32';

async function keyInvalid(run: () => Promise<unknown>): Promise<string> {
  try {
    await run();
  } catch (err) {
    expect(err).toBeInstanceOf(CloudlockerError);
    expect((err as CloudlockerError).reason).toBe('KEY_INVALID');
    return (err as CloudlockerError).message;
  }
  throw new Error('expected KEY_INVALID');
}

beforeAll(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'cloudlocker-identity-'));
});
afterAll(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

describe('creating identity files', () => {
  test('X25519 by default: age-keygen layout, 0600, readable by age -d -i', async () => {
    const file = fresh();
    const created = await createIdentityFile(file, { now: () => new Date('2026-01-02T03:04:05.678Z') });
    const text = await fs.readFile(file, 'utf8');
    expect(text).toBe(`# created: 2026-01-02T03:04:05Z\n# public key: ${created.recipient}\n${created.identity.encodeSecret()}\n`);
    expect(created.recipient.startsWith('age1')).toBe(true);
    expect(created.card.startsWith('cloudlockercard1')).toBe(true);
    if (posix) expect((await fs.stat(file)).mode & 0o777).toBe(0o600);
    const sealed = sealAgeBuffer(Buffer.from('for the age CLI'), { identity: created.identity, name: 'a' });
    const object = path.join(dir, 'object.age');
    await fs.writeFile(object, sealed);
    expect(execFileSync('/usr/bin/age', ['-d', '-i', file, object]).toString()).toBe('for the age CLI');
    expect((await readIdentityFile(file)).card.cardId).toBe(created.cardId);
  });

  test('hybrid (post-quantum) on request', async () => {
    const file = fresh();
    const created = await createIdentityFile(file, { type: 'mlkem768x25519' });
    expect(created.recipient.startsWith('age1pq1')).toBe(true);
    const read = await readIdentityFile(file);
    expect(read.type).toBe('mlkem768x25519');
    expect(read.recipient).toBe(created.recipient);
    expect((await fs.readFile(file, 'utf8')).split('\n')[2].startsWith('AGE-SECRET-KEY-PQ-1')).toBe(true);
  });

  test('never overwrites: ALREADY_EXISTS and the existing file untouched', async () => {
    const file = fresh();
    await fs.writeFile(file, 'precious');
    await expect(createIdentityFile(file)).rejects.toMatchObject({ reason: 'ALREADY_EXISTS' });
    expect(await fs.readFile(file, 'utf8')).toBe('precious');
  });

  test('an empty or malformed-Unicode passphrase is refused before anything is written', async () => {
    const file = fresh();
    await expect(createIdentityFile(file, { passphrase: '' })).rejects.toBeInstanceOf(InvalidParamsError);
    await expect(createIdentityFile(file, { passphrase: 'a\uD800b' })).rejects.toBeInstanceOf(InvalidParamsError);
    await expect(fs.stat(file)).rejects.toMatchObject({ code: 'ENOENT' });
  });
});

describe('passphrase-protected identity files (armored age scrypt; age -d -i asks for the passphrase)', () => {
  test("age's default work factor (2^18) by default; opens with the passphrase, KEY_INVALID without or with a wrong one", async () => {
    const file = fresh();
    const created = await createIdentityFile(file, { passphrase: 'correct horse' });
    const text = await fs.readFile(file, 'utf8');
    expect(text.startsWith('-----BEGIN AGE ENCRYPTED FILE-----\n')).toBe(true);
    const header = Buffer.from(armor.decode(text)).toString('latin1');
    expect(header).toMatch(/^age-encryption\.org\/v1\n-> scrypt [A-Za-z0-9+/]{22} 18\n/);
    expect(describeAnyKeyFile(text)).toEqual({ format: 'age', passphraseProtected: true });
    expect((await readIdentityFile(file, { passphrase: 'correct horse' })).recipient).toBe(created.recipient);
    expect(await keyInvalid(() => readIdentityFile(file))).toMatch(/provide the passphrase/);
    expect(await keyInvalid(() => readIdentityFile(file, { passphrase: 'wrong horse' }))).toMatch(/passphrase is wrong/);

    // Debian's age reads it as an encrypted identity file: it asks for the
    // passphrase on a terminal (given through script(1)'s pseudo-terminal).
    const plaintext = Buffer.from('opened by age with a passphrase-protected identity\n');
    const object = path.join(dir, 'for-protected.age');
    const out = path.join(dir, 'for-protected.out');
    await fs.writeFile(object, sealAgeBuffer(plaintext, { identity: created.identity, name: 'p' }));
    execFileSync('/usr/bin/script', ['-qec', `/usr/bin/age -d -i '${file}' -o '${out}' '${object}'`, '/dev/null'], {
      input: 'correct horse\n',
      stdio: ['pipe', 'ignore', 'ignore'],
      timeout: 30000,
    });
    expect((await fs.readFile(out)).equals(plaintext)).toBe(true);
  }, 120000);

  test('interop with age-encryption both ways (its Decrypter opens ours; ours opens what its Encrypter makes)', async () => {
    const identity = AgeIdentity.generate('X25519', deterministicRandom('interop'));
    const text = identityFileText(identity, new Date(0));
    const ours = await encryptIdentityText(text, 'pass phrase', { logN: 10 });
    const decrypter = new Decrypter();
    decrypter.addPassphrase('pass phrase');
    expect(await decrypter.decrypt(armor.decode(ours), 'text')).toBe(text);

    const encrypter = new Encrypter();
    encrypter.setPassphrase('pass phrase');
    encrypter.setScryptWorkFactor(10);
    const theirs = armor.encode(await encrypter.encrypt(text));
    const read = await parseAnyKeyFile(theirs, { passphrase: 'pass phrase' });
    expect(read.format === 'age' && read.identity.recipient).toBe(identity.recipient);
  });

  test('a binary passphrase-protected identity (age -p without -a) is read from its bytes, not refused as "not UTF-8"', async () => {
    const identity = AgeIdentity.generate('X25519', deterministicRandom('binary'));
    const encrypter = new Encrypter();
    encrypter.setPassphrase('pass phrase');
    encrypter.setScryptWorkFactor(10);
    const binary = Buffer.from(await encrypter.encrypt(identityFileText(identity, new Date(0))));
    const file = fresh('binary');
    await fs.writeFile(file, binary, { mode: 0o600 });
    const read = await readAnyKeyFile(file, { passphrase: 'pass phrase' });
    expect(read.format === 'age' && read.identity.recipient).toBe(identity.recipient);
    expect(await keyInvalid(() => readAnyKeyFile(file))).toMatch(/provide the passphrase/);
    expect(await keyInvalid(() => readAnyKeyFile(file, { passphrase: 'wrong' }))).toMatch(/passphrase is wrong/);
  });

  test('a damaged armored file is KEY_INVALID with a reason', async () => {
    const ours = await encryptIdentityText(identityFileText(AgeIdentity.generate(), new Date(0)), 'p', { logN: 10 });
    const lines = ours.split('\n');
    lines[2] = lines[2].slice(0, 10) + (lines[2][10] === 'A' ? 'B' : 'A') + lines[2].slice(11);
    expect(await keyInvalid(() => parseAnyKeyFile(lines.join('\n'), { passphrase: 'p' }))).toMatch(/damaged|wrong/);
    expect(await keyInvalid(() => parseAnyKeyFile(ours.replace('-----END', '-----FIN'), { passphrase: 'p' }))).toMatch(/armor/);
  });
});

describe('strict parsing', () => {
  const identity = AgeIdentity.generate('X25519', deterministicRandom('strict'));
  const good = identityFileText(identity, new Date(0));
  const secret = identity.encodeSecret();

  test('age-keygen files and the usual variations parse (comments, blank lines, CRLF, BOM)', async () => {
    const file = path.join(dir, 'keygen.txt');
    execFileSync('/usr/bin/age-keygen', ['-o', file], { stdio: 'ignore' });
    const recipient = execFileSync('/usr/bin/age-keygen', ['-y', file]).toString().trim();
    expect((await readIdentityFile(file)).recipient).toBe(recipient);
    expect(parseIdentityFileText(good.replaceAll('\n', '\r\n')).recipient).toBe(identity.recipient);
    expect(parseIdentityFileText(`\uFEFF\n# hi\n\n${secret}`).recipient).toBe(identity.recipient);
  });

  test.each([
    ['empty', '', /no age identity/],
    ['two identities', `${secret}\n${AgeIdentity.generate().encodeSecret()}\n`, /more than one/],
    ['a stray line', `${secret}\nhello\n`, /more than one|neither/],
    ['lower case', `${secret.toLowerCase()}\n`, /neither|upper case/],
    ['a typo (checksum)', `${secret.slice(0, 30)}${secret[30] === 'Q' ? 'P' : 'Q'}${secret.slice(31)}\n`, /checksum/],
    ['a wrong public key comment', good.replace(/age1\S+/, AgeIdentity.generate().recipient), /does not match/],
    ['a recipient instead of an identity', `${identity.recipient}\n`, /neither/],
    ['a binary protected identity without its passphrase', 'age-encryption.org/v1\n-> scrypt', /provide the passphrase/],
  ])('%s → KEY_INVALID', async (_name, text, reason) => {
    expect(await keyInvalid(() => parseAnyKeyFile(text))).toMatch(reason);
  });

  test('messages never contain the secret', async () => {
    const message = await keyInvalid(() => parseAnyKeyFile(`${secret}\n${secret}\n`));
    expect(message).not.toContain(secret.slice(15));
  });
});

describe('v1 key files keep working', () => {
  test('a v1 JSON key file is told apart and read as v1', async () => {
    const file = fresh('v1');
    const { keyId } = await createKeyFile(file);
    const text = await fs.readFile(file, 'utf8');
    expect(describeAnyKeyFile(text)).toEqual({ format: 'v1', passphraseProtected: false });
    const read = await readAnyKeyFile(file);
    expect(read.format === 'v1' && read.key.keyId).toBe(keyId);
    expect(await keyInvalid(() => readIdentityFile(file))).toMatch(/v1 key file/);
  });
});
