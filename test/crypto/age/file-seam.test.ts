/**
 * Format v2 (age) through the format seam (src/crypto/age/age-format.ts: what
 * the transfer engine, listFiles and getFileInfo call), the whole-file
 * reader's checks in their order (file.ts), the error class (errors.ts) and
 * the edges of the whole-buffer and stream helpers (whole.ts). Written in the
 * fifth mutation pass (docs/testing.md) against the survivors of the
 * `crypto-age-file-screen` run: each test pins a behaviour a user relies on,
 * through the public functions.
 */
import { describe, expect, test } from '@jest/globals';
import {
  AGE_CHUNK_SIZE,
  AGE_MAGIC,
  AGE_STORED_CHUNK_SIZE,
  AgeError,
  AgeIdentity,
  AgeOpener,
  AgeSealer,
  MAX_HEADER_SIZE,
  MAX_RECIPIENTS,
  PAYLOAD_NONCE_SIZE,
  agePrefixLength,
  ageStoredSizeFor,
  authorKeyOf,
  describeAgePrefix,
  isAgeError,
  openAgeBuffer,
  openAgeBufferWithPassphrase,
  openAgeStream,
  resolveRecipients,
  sealAgeBuffer,
  sealAgeStream,
  type AgeFailure,
  type Stanza,
} from '../../../src/crypto/age/index.js';
import {
  AGE_FORMAT_NAME,
  AGE_FORMAT_VERSION,
  AGE_IDENTITY_CREDENTIALS,
  ageCredentials,
  ageEncryption,
  formatAge,
} from '../../../src/crypto/age/age-format.js';
import { makeAuthorStanza } from '../../../src/crypto/age/author.js';
import { PROTOCOL_REASON } from '../../../src/crypto/age/errors.js';
import { parseExtraRecipients, unlockAgeHeader } from '../../../src/crypto/age/file.js';
import { encodeHeader, parseHeader } from '../../../src/crypto/age/header.js';
import { AgePayloadSealer } from '../../../src/crypto/age/payload.js';
import { SLOT_MIN_PLAINTEXT, SLOT_STANZA_TYPE } from '../../../src/crypto/age/slot.js';
import { wrapScrypt } from '../../../src/crypto/age/stanzas.js';
import { encryptBuffer, generateMasterKey, masterKeyCredentials, storedFormats, v1Encryption } from '../../../src/crypto/index.js';
import { CloudlockerError, InvalidParamsError } from '../../../src/errors.js';
import { deterministicRandom } from '../../../tools/vectors/deterministic.js';
import { pattern } from '../helpers.js';

const alice = AgeIdentity.generate('X25519', deterministicRandom('seam-alice'));
const bob = AgeIdentity.generate('X25519', deterministicRandom('seam-bob'));
const pqAlice = AgeIdentity.generate('mlkem768x25519', deterministicRandom('seam-pq-alice'));

/** The AgeError `run` throws (fails the test when it throws anything else or nothing). */
function ageErrorOf(run: () => unknown): AgeError {
  let caught: unknown;
  try {
    run();
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(AgeError);
  return caught as AgeError;
}

function reasonOf(run: () => unknown): AgeFailure | 'none' {
  try {
    run();
    return 'none';
  } catch (err) {
    if (err instanceof AgeError) return err.ageReason;
    throw err;
  }
}

/**
 * An identity that behaves as `identity` but records every file key its
 * unwrap hands out (the reader must wipe them once the payload key is derived).
 */
function recordingIdentity(identity: AgeIdentity, keys: Buffer[]): AgeIdentity {
  const recording = Object.create(identity) as AgeIdentity;
  Object.defineProperty(recording, 'unwrap', {
    value: (stanzas: readonly Stanza[]) => {
      const key = identity.unwrap(stanzas);
      if (key !== null) keys.push(key);
      return key;
    },
  });
  return recording;
}

/** A random source that keeps what it hands out (the sealer must wipe the file key it drew). */
function recordingRandom(drawn: Buffer[]) {
  const random = deterministicRandom('seam-random');
  return (size: number): Buffer => {
    const bytes = random(size);
    drawn.push(bytes);
    return bytes;
  };
}

/** A file whose header holds `stanzas` (built by the caller) under `fileKey`, with one final chunk of `content`. */
function handMade(stanzas: Stanza[], fileKey: Buffer, content = Buffer.from('hello')): Buffer {
  const header = encodeHeader(stanzas, fileKey);
  const nonce = Buffer.alloc(PAYLOAD_NONCE_SIZE, 7);
  return Buffer.concat([header, nonce, new AgePayloadSealer(fileKey, nonce).encryptChunk(0, content, true)]);
}

describe('errors.ts: every failure carries its protocol reason, its message and the caller details', () => {
  const expected: Record<AgeFailure, [string, string]> = {
    HEADER_INVALID: ['INTEGRITY', 'The stored file is not a valid age file or was altered'],
    NO_STANZA: ['NOT_A_RECIPIENT', 'This file was not encrypted to your identity'],
    HEADER_MAC: ['INTEGRITY', 'The stored file was altered: its age header fails authentication'],
    PAYLOAD_INVALID: ['INTEGRITY', 'The stored file was altered or is incomplete'],
    AUTHOR_MISSING: [
      'AUTHOR_MISSING',
      'The stored file carries no author signature (it may have been planted by someone who only knows your public key)',
    ],
    AUTHOR_UNKNOWN: ['AUTHOR_UNKNOWN', 'The stored file was signed by an author you do not trust'],
    AUTHOR_INVALID: ['AUTHOR_INVALID', 'The stored file has a forged or damaged author signature'],
    WRONG_NAME: ['WRONG_NAME', 'The stored file was made for another name (it may have been moved or swapped)'],
  };

  test.each(Object.keys(expected) as AgeFailure[])('%s', (failure) => {
    const [reason, prefix] = expected[failure];
    expect(PROTOCOL_REASON[failure]).toBe(reason);
    const error = new AgeError(failure, 'the detail', { chunkIndex: 3 });
    expect(error).toBeInstanceOf(CloudlockerError);
    expect(error.reason).toBe(reason);
    expect(error.ageReason).toBe(failure);
    expect(error.message).toBe(`${prefix}: the detail`);
    expect(error.details).toEqual({ chunkIndex: 3, ageReason: failure });
    // Without details, the fine reason alone.
    expect(new AgeError(failure, 'x').details).toEqual({ ageReason: failure });
  });

  test('the fine reason cannot be overwritten by a caller detail of the same name', () => {
    expect(new AgeError('HEADER_MAC', 'x', { ageReason: 'NO_STANZA' }).details).toEqual({ ageReason: 'HEADER_MAC' });
  });

  test('isAgeError: any AgeError, or one of the reason asked for; never another error', () => {
    const error = new AgeError('WRONG_NAME', 'x');
    expect(isAgeError(error)).toBe(true);
    expect(isAgeError(error, 'WRONG_NAME')).toBe(true);
    expect(isAgeError(error, 'AUTHOR_INVALID')).toBe(false);
    expect(isAgeError(new CloudlockerError('WRONG_NAME', 'x'))).toBe(false);
    expect(isAgeError(new Error('x'), 'WRONG_NAME')).toBe(false);
    expect(isAgeError(undefined)).toBe(false);
  });
});

describe('age-format.ts: specs and credentials', () => {
  test('ageEncryption: format, identity, name, recipients (none by default)', () => {
    expect(ageEncryption(alice, 'a/b')).toEqual({ format: 'age', identity: alice, name: 'a/b', recipients: [] });
    expect(ageEncryption(alice, 'a/b', [bob.recipient]).recipients).toEqual([bob.recipient]);
  });

  test('ageCredentials: unauthored files refused unless acceptUnauthored is exactly true; authors only when given', () => {
    const plain = ageCredentials(alice, 'n');
    expect(plain).toEqual({ kind: AGE_IDENTITY_CREDENTIALS, identity: alice, name: 'n', acceptUnauthored: false });
    expect('authors' in plain).toBe(false);
    expect(ageCredentials(alice, 'n', { acceptUnauthored: true }).acceptUnauthored).toBe(true);
    expect(ageCredentials(alice, 'n', { acceptUnauthored: false }).acceptUnauthored).toBe(false);
    // A truthy non-boolean (say, a string from a config file) does not open the door to planted files.
    expect(ageCredentials(alice, 'n', { acceptUnauthored: 'yes' as unknown as boolean }).acceptUnauthored).toBe(false);
    const authors = [authorKeyOf(bob.card)];
    expect(ageCredentials(alice, 'n', { authors }).authors).toBe(authors);
  });
});

describe('age-format.ts: the format as the registry sees it', () => {
  const plaintext = pattern(AGE_CHUNK_SIZE + 10, 3);
  const sealed = sealAgeBuffer(plaintext, { identity: alice, name: 'docs/x' });
  const prefixLength = agePrefixLength(sealed) ?? -1;

  test('its constants', () => {
    expect(formatAge.name).toBe(AGE_FORMAT_NAME);
    expect(AGE_FORMAT_NAME).toBe('age');
    expect(formatAge.formatVersion).toBe(AGE_FORMAT_VERSION);
    expect(AGE_FORMAT_VERSION).toBe(2);
    expect(formatAge.magicLength).toBe(AGE_MAGIC.length);
    expect(formatAge.fixedHeaderLength).toBeUndefined();
    expect(formatAge.headerReadHint).toBe(4096);
    expect(formatAge.maxHeaderLength).toBe(MAX_HEADER_SIZE + PAYLOAD_NONCE_SIZE);
  });

  test('detect: claims the whole version line and nothing shorter or different', () => {
    expect(formatAge.detect(AGE_MAGIC)).toBe(true);
    expect(formatAge.detect(sealed)).toBe(true);
    // A prefix of the magic is not yet an age file (looksLikeAge alone would say "maybe").
    expect(formatAge.detect(AGE_MAGIC.subarray(0, AGE_MAGIC.length - 1))).toBe(false);
    expect(formatAge.detect(Buffer.alloc(0))).toBe(false);
    expect(formatAge.detect(Buffer.from('age-encryption.org/v2\n'))).toBe(false);
    expect(formatAge.detect(encryptBuffer(generateMasterKey(), Buffer.from('v1')))).toBe(false);
  });

  test('headerLength: undefined until the header and the whole payload nonce are there, then the prefix length', () => {
    expect(prefixLength).toBeGreaterThan(AGE_MAGIC.length + PAYLOAD_NONCE_SIZE);
    expect(formatAge.headerLength(sealed.subarray(0, 40))).toBeUndefined();
    // The header is complete, the nonce is not: the chunks cannot be laid out yet.
    expect(formatAge.headerLength(sealed.subarray(0, prefixLength - PAYLOAD_NONCE_SIZE))).toBeUndefined();
    expect(formatAge.headerLength(sealed.subarray(0, prefixLength - 1))).toBeUndefined();
    expect(formatAge.headerLength(sealed.subarray(0, prefixLength))).toBe(prefixLength);
    expect(formatAge.headerLength(sealed)).toBe(prefixLength);
  });

  test('layoutFor: 64 KiB ChaCha20-Poly1305 chunks after a header of the length given', () => {
    const layout = formatAge.layoutFor(prefixLength);
    expect(layout.headerLength).toBe(prefixLength);
    expect(layout.chunkSize).toBe(AGE_CHUNK_SIZE);
    expect(layout.tagSize).toBe(16);
    expect(layout.plaintextSizeFor(sealed.length)).toBe(plaintext.length);
    expect(layout.storedSizeFor(plaintext.length)).toBe(sealed.length);
    expect(formatAge.layoutFor(prefixLength + 5).headerLength).toBe(prefixLength + 5);
  });

  test('describe: format, version, the author card id as key id, the counted stanzas; a cut header is INTEGRITY', () => {
    expect(formatAge.describe(sealed)).toEqual({
      formatVersion: 2,
      format: 'age',
      keyId: alice.card.cardId,
      authorCardId: alice.card.cardId,
      stanzaCount: 2,
    });
    const cut = ageErrorOf(() => formatAge.describe(sealed.subarray(0, prefixLength - 1)));
    expect(cut.ageReason).toBe('HEADER_INVALID');
    expect(cut.reason).toBe('INTEGRITY');
    expect(cut.message).toBe('The stored file is not a valid age file or was altered: it ends inside its header');
  });

  test('the registry reads an age object whole: format, header up to the end of the nonce, layout', async () => {
    const found = await storedFormats.readHeader(async (position, length) => sealed.subarray(position, position + length));
    expect(found.format).toBe(formatAge);
    expect(found.header.equals(sealed.subarray(0, prefixLength))).toBe(true);
    expect(found.layout.plaintextSizeFor(sealed.length)).toBe(plaintext.length);
  });
});

describe('age-format.ts: sealing and opening through the seam', () => {
  const name = 'folder/report.pdf';

  test('a sealer: the prefix as header, its layout, the author card as key id; chunks written where the caller asks', () => {
    const sealer = storedFormats.createSealer(ageEncryption(alice, name, [bob.recipient]));
    expect(sealer.keyId).toBe(alice.card.cardId);
    expect(sealer.layout.headerLength).toBe(sealer.header.length);
    expect(describeAgePrefix(sealer.header)?.stanzaTypes).toEqual(['X25519', 'X25519', 'cloudlocker.dev/author']);
    const plaintext = pattern(AGE_CHUNK_SIZE + 3, 4);
    const out = Buffer.alloc(sealer.layout.storedSizeFor(plaintext.length));
    sealer.header.copy(out);
    const first = sealer.encryptChunk(0, plaintext.subarray(0, AGE_CHUNK_SIZE), false, out, sealer.header.length);
    expect(first.buffer).toBe(out.buffer);
    sealer.encryptChunk(1, plaintext.subarray(AGE_CHUNK_SIZE), true, out, sealer.header.length + AGE_STORED_CHUNK_SIZE);
    // bob, an extra recipient trusting alice as author, reads it whole.
    expect(openAgeBuffer(out, { identity: bob, name, authors: [authorKeyOf(alice.card)] }).equals(plaintext)).toBe(true);
  });

  test('the plaintext size reaches the sealer: large objects get the header slot, small ones do not', () => {
    const large = storedFormats.createSealer(ageEncryption(alice, name), SLOT_MIN_PLAINTEXT);
    expect(describeAgePrefix(large.header)?.stanzaTypes).toEqual(['X25519', SLOT_STANZA_TYPE, 'cloudlocker.dev/author']);
    // The slot is not counted as a stanza.
    expect(formatAge.describe(large.header).stanzaCount).toBe(2);
    const small = storedFormats.createSealer(ageEncryption(alice, name), SLOT_MIN_PLAINTEXT - 1);
    expect(describeAgePrefix(small.header)?.stanzaTypes).toEqual(['X25519', 'cloudlocker.dev/author']);
  });

  test('a resumed sealer continues the same object for the same name only', () => {
    const sealer = storedFormats.createSealer(ageEncryption(alice, name));
    const chunk = sealer.encryptChunk(0, Buffer.from('abc'), true);
    const resumed = storedFormats.resumeSealer(ageEncryption(alice, name), sealer.header);
    expect(resumed.header.equals(sealer.header)).toBe(true);
    expect(resumed.keyId).toBe(alice.card.cardId);
    expect(resumed.layout.headerLength).toBe(sealer.header.length);
    expect(resumed.encryptChunk(0, Buffer.from('abc'), true).equals(chunk)).toBe(true);
    expect(ageErrorOf(() => storedFormats.resumeSealer(ageEncryption(alice, 'other'), sealer.header)).ageReason).toBe('WRONG_NAME');
    expect(ageErrorOf(() => storedFormats.resumeSealer(ageEncryption(bob, name), sealer.header)).ageReason).toBe('NO_STANZA');
  });

  test('seals only with an age spec holding an identity and a name', () => {
    const header = storedFormats.createSealer(ageEncryption(alice, name)).header;
    const message = 'format age seals with an age encryption spec (ageEncryption(identity, name, recipients))';
    const key = generateMasterKey();
    const bad = [
      v1Encryption(key),
      { format: 'age', identity: alice },
      { format: 'age', identity: alice, name: 7 },
      { format: 'age', identity: { card: alice.card }, name },
      { format: 'v1', identity: alice, name },
    ];
    for (const spec of bad) {
      expect(() => formatAge.createSealer(spec)).toThrow(new TypeError(message));
      expect(() => formatAge.resumeSealer(spec, header)).toThrow(new TypeError(message));
    }
  });

  test('an opener: the layout after this object prefix, the verified author, chunks written where the caller asks', () => {
    const plaintext = pattern(AGE_CHUNK_SIZE + 100, 5);
    const sealed = sealAgeBuffer(plaintext, { identity: alice, name, recipients: [bob.recipient] });
    const prefixLength = agePrefixLength(sealed) ?? -1;
    const opener = storedFormats.createOpener(ageCredentials(alice, name), sealed.subarray(0, prefixLength));
    expect(opener.layout.headerLength).toBe(prefixLength);
    expect(opener.authorCardId).toBe(alice.card.cardId);
    const out = Buffer.alloc(plaintext.length + 8);
    const written = opener.decryptChunk(1, sealed.subarray(prefixLength + AGE_STORED_CHUNK_SIZE), true, out, 8 + AGE_CHUNK_SIZE);
    expect(written.equals(plaintext.subarray(AGE_CHUNK_SIZE))).toBe(true);
    expect(out.subarray(8 + AGE_CHUNK_SIZE).equals(plaintext.subarray(AGE_CHUNK_SIZE))).toBe(true);
    expect(opener.decryptChunk(0, sealed.subarray(prefixLength, prefixLength + AGE_STORED_CHUNK_SIZE), false).equals(plaintext.subarray(0, AGE_CHUNK_SIZE))).toBe(true);
  });

  test('the trusted authors: the reader own card by default, exactly the list when one is given', () => {
    const fromBob = sealAgeBuffer(Buffer.from('x'), { identity: bob, name, recipients: [alice.recipient] });
    const prefix = fromBob.subarray(0, agePrefixLength(fromBob));
    const unknown = ageErrorOf(() => storedFormats.createOpener(ageCredentials(alice, name), prefix));
    expect(unknown.ageReason).toBe('AUTHOR_UNKNOWN');
    expect(unknown.reason).toBe('AUTHOR_UNKNOWN');
    expect(storedFormats.createOpener(ageCredentials(alice, name, { authors: [authorKeyOf(bob.card)] }), prefix).authorCardId).toBe(bob.card.cardId);
    // A list that leaves out the reader's own card is the whole list.
    const own = sealAgeBuffer(Buffer.from('x'), { identity: alice, name });
    expect(reasonOf(() => storedFormats.createOpener(ageCredentials(alice, name, { authors: [authorKeyOf(bob.card)] }), own))).toBe('AUTHOR_UNKNOWN');
  });

  test('an unauthored file opens through the seam only when accepted, and then reports no author', () => {
    const fileKey = deterministicRandom('seam-plain')(16);
    const plain = handMade([alice.wrap(fileKey, deterministicRandom('w'))], fileKey);
    const prefix = plain.subarray(0, agePrefixLength(plain));
    const refused = ageErrorOf(() => storedFormats.createOpener(ageCredentials(alice, name), prefix));
    expect(refused.reason).toBe('AUTHOR_MISSING');
    const opener = storedFormats.createOpener(ageCredentials(alice, name, { acceptUnauthored: true }), prefix);
    expect(opener.authorCardId).toBeUndefined();
    expect('authorCardId' in opener).toBe(false);
    expect(opener.decryptChunk(0, plain.subarray(prefix.length), true).toString()).toBe('hello');
  });

  test('opens only with age-identity credentials: NOT_A_RECIPIENT saying an age identity is needed', () => {
    const sealed = sealAgeBuffer(Buffer.from('x'), { identity: alice, name });
    const bad = [
      masterKeyCredentials(generateMasterKey()),
      { kind: 'age-identity', name },
      { kind: 'age-identity', identity: alice },
      { kind: 'age-identity', identity: { card: alice.card, unwrap: () => null }, name },
      { kind: 'master-key', identity: alice, name },
    ];
    for (const credentials of bad) {
      const error = ageErrorOf(() => formatAge.createOpener(credentials, sealed));
      expect(error.ageReason).toBe('NO_STANZA');
      expect(error.reason).toBe('NOT_A_RECIPIENT');
      expect(error.message).toBe(
        'This file was not encrypted to your identity: it is an age file, which opens only with an age identity (this key file holds a v1 key)',
      );
    }
  });
});

describe('file.ts: recipients', () => {
  test('the uploader first, then each extra recipient once (a card and its recipient are the same key)', () => {
    const resolved = resolveRecipients(alice, [bob.recipient, bob.card.card, alice.recipient, bob.recipient]);
    expect(resolved.map((r) => r.publicKey.toString('hex'))).toEqual([alice.card.recipient.publicKey, bob.card.recipient.publicKey].map((k) => k.toString('hex')));
    expect(resolveRecipients(alice).length).toBe(1);
    // Upload checks the recipients before a key file exists, with none given as often as not.
    expect(parseExtraRecipients('X25519')).toEqual([]);
    expect(parseExtraRecipients('mlkem768x25519', undefined)).toEqual([]);
  });

  test(`at most ${MAX_RECIPIENTS - 1} extra recipients`, () => {
    const extra = Array.from({ length: MAX_RECIPIENTS - 1 }, (_, i) => AgeIdentity.generate('X25519', deterministicRandom(`r${i}`)).recipient);
    expect(parseExtraRecipients('X25519', extra)).toHaveLength(MAX_RECIPIENTS - 1);
    let caught: unknown;
    try {
      parseExtraRecipients('X25519', [...extra, bob.recipient]);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(InvalidParamsError);
    expect((caught as InvalidParamsError).message).toBe(`At most ${MAX_RECIPIENTS - 1} extra recipients can be given.`);
    expect((caught as InvalidParamsError).param).toBe('recipients');
  });

  test('each refusal names the recipient and says why', () => {
    const refusal = (identityType: 'X25519' | 'mlkem768x25519', recipients: unknown[]): InvalidParamsError => {
      let caught: unknown;
      try {
        parseExtraRecipients(identityType, recipients as string[]);
      } catch (err) {
        caught = err;
      }
      expect(caught).toBeInstanceOf(InvalidParamsError);
      return caught as InvalidParamsError;
    };
    const notString = refusal('X25519', [bob.recipient, 42]);
    expect(notString.message).toBe('Recipient 1 is not an age recipient or cloudlocker card: it is not a string.');
    expect(notString.param).toBe('recipients[1]');
    expect(refusal('X25519', ['hello']).message).toMatch(/^Recipient 0 is not an age recipient or cloudlocker card: .+\.$/);
    const pq = refusal('X25519', [pqAlice.recipient]);
    expect(pq.message).toBe('Recipient 0 is post-quantum (mlkem768x25519) but your identity is classical: age does not mix the two in one file.');
    expect(pq.param).toBe('recipients[0]');
    const classical = refusal('mlkem768x25519', [bob.recipient]);
    expect(classical.message).toBe('Recipient 0 is classical (X25519) but your identity is post-quantum: age does not mix the two in one file.');
  });
});

describe('file.ts: the file key does not outlive the header', () => {
  test('the sealer wipes the file key it drew', () => {
    const drawn: Buffer[] = [];
    const sealer = AgeSealer.create({ identity: alice, name: 'n', random: recordingRandom(drawn) });
    const fileKey = drawn.find((bytes) => bytes.length === 16);
    expect(fileKey).toBeDefined();
    expect(fileKey?.equals(Buffer.alloc(16))).toBe(true);
    // It still seals: the payload key was derived before the wipe.
    const sealed = Buffer.concat([sealer.prefix, sealer.encryptChunk(0, Buffer.from('ok'), true)]);
    expect(openAgeBuffer(sealed, { identity: alice, name: 'n' }).toString()).toBe('ok');
  });

  test('the reader wipes the file key once opened, and when the MAC or the author fails', () => {
    const sealed = sealAgeBuffer(Buffer.from('secret'), { identity: alice, name: 'n' });
    const cases: Array<[Buffer, string, AgeFailure | 'none']> = [];
    cases.push([sealed, 'n', 'none']);
    cases.push([sealed, 'other', 'WRONG_NAME']);
    const edited = Buffer.from(sealed);
    const at = edited.indexOf('cloudlocker.dev/author ') + 'cloudlocker.dev/author '.length;
    edited[at] = edited[at] === 0x61 ? 0x62 : 0x61;
    cases.push([edited, 'n', 'HEADER_MAC']);
    for (const [file, name, expected] of cases) {
      const keys: Buffer[] = [];
      expect(reasonOf(() => AgeOpener.open(file, { identity: recordingIdentity(alice, keys), name }))).toBe(expected);
      expect(keys).toHaveLength(1);
      expect(keys[0].equals(Buffer.alloc(16))).toBe(true);
    }
  });

  test('a resumed sealer wipes the file key too', () => {
    const sealer = AgeSealer.create({ identity: alice, name: 'n' });
    const keys: Buffer[] = [];
    AgeSealer.resume(recordingIdentity(alice, keys), sealer.prefix, 'n');
    expect(keys).toHaveLength(1);
    expect(keys[0].equals(Buffer.alloc(16))).toBe(true);
  });

  test('unlockAgeHeader wipes the key it was handed when the MAC fails, and says which check failed', async () => {
    const sealed = sealAgeBuffer(Buffer.from('secret'), { identity: alice, name: 'n' });
    const wrongKey = Buffer.alloc(16, 9);
    await expect(unlockAgeHeader(sealed, () => wrongKey)).rejects.toMatchObject({ ageReason: 'HEADER_MAC' });
    expect(wrongKey.equals(Buffer.alloc(16))).toBe(true);
    const error = await unlockAgeHeader(sealed, async () => null).catch((err: unknown) => err);
    expect(error).toBeInstanceOf(AgeError);
    expect((error as AgeError).message).toBe('This file was not encrypted to your identity: none of its stanzas opens with this identity or passphrase');
    const unlocked = await unlockAgeHeader(sealed, async (stanzas) => alice.unwrap(stanzas));
    expect(unlocked.header.length).toBe((agePrefixLength(sealed) ?? 0) - PAYLOAD_NONCE_SIZE);
  });
});

describe('file.ts: the reader checks in order (each failure says the first check that failed)', () => {
  const name = 'order';
  const sealed = sealAgeBuffer(pattern(100, 6), { identity: alice, name });
  const prefixLength = agePrefixLength(sealed) ?? -1;
  const headerLength = prefixLength - PAYLOAD_NONCE_SIZE;

  test('NO_STANZA: its message, before the header MAC is looked at', () => {
    const error = ageErrorOf(() => AgeOpener.open(sealed, { identity: bob, name }));
    expect(error.ageReason).toBe('NO_STANZA');
    expect(error.message).toBe('This file was not encrypted to your identity: none of its stanzas opens with this identity');
    const edited = Buffer.from(sealed);
    const at = edited.indexOf('cloudlocker.dev/author ') + 'cloudlocker.dev/author '.length;
    edited[at] = edited[at] === 0x61 ? 0x62 : 0x61;
    expect(reasonOf(() => AgeOpener.open(edited, { identity: bob, name }))).toBe('NO_STANZA');
    const mac = ageErrorOf(() => AgeOpener.open(edited, { identity: alice, name }));
    expect(mac.message).toBe('The stored file was altered: its age header fails authentication: the MAC does not match');
  });

  test('the author and the name are checked before the payload nonce: a prefix cut inside the nonce is HEADER_INVALID only for its reader', () => {
    const cut = sealed.subarray(0, headerLength + 5);
    expect(reasonOf(() => AgeOpener.open(cut, { identity: alice, name: 'other' }))).toBe('WRONG_NAME');
    const error = ageErrorOf(() => AgeOpener.open(cut, { identity: alice, name }));
    expect(error.ageReason).toBe('HEADER_INVALID');
    expect(error.message).toBe('The stored file is not a valid age file or was altered: it ends before the end of its payload nonce');
    expect(reasonOf(() => AgeSealer.resume(alice, cut, name))).toBe('HEADER_INVALID');
    expect(reasonOf(() => AgeOpener.open(sealed.subarray(0, headerLength), { identity: alice, name }))).toBe('HEADER_INVALID');
  });

  test('the opener and the resumed sealer take exactly the prefix: header, nonce, nothing of the chunks', () => {
    const opener = AgeOpener.open(sealed, { identity: alice, name });
    expect(opener.prefixLength).toBe(prefixLength);
    expect(opener.stanzaCount).toBe(2);
    expect(opener.authorCardId).toBe(alice.card.cardId);
    const resumed = AgeSealer.resume(alice, sealed, name);
    expect(resumed.prefix.equals(sealed.subarray(0, prefixLength))).toBe(true);
    // The payload nonce taken is the object's own: the resumed sealer's chunk is the stored one.
    expect(Buffer.concat([resumed.prefix, resumed.encryptChunk(0, pattern(100, 6), true)]).equals(sealed)).toBe(true);
  });

  test('a scrypt stanza must stand alone: a header that also has our stanza is HEADER_INVALID, not opened', async () => {
    const fileKey = deterministicRandom('seam-scrypt')(16);
    const scrypt = await wrapScrypt('correct horse', fileKey, deterministicRandom('salt'), 2);
    const mixed = handMade([alice.wrap(fileKey, deterministicRandom('w2')), scrypt, makeAuthorStanza(alice, fileKey, name)], fileKey);
    const error = ageErrorOf(() => AgeOpener.open(mixed, { identity: alice, name }));
    expect(error.ageReason).toBe('HEADER_INVALID');
    expect(error.message).toBe('The stored file is not a valid age file or was altered: a scrypt stanza is not the only stanza of its header');
    expect(reasonOf(() => AgeSealer.resume(alice, mixed, name))).toBe('HEADER_INVALID');
    await expect(unlockAgeHeader(mixed, (stanzas) => alice.unwrap(stanzas))).rejects.toMatchObject({ ageReason: 'HEADER_INVALID' });
    // Alone, it opens with the passphrase (and not with a wrong one).
    const alone = handMade([scrypt], fileKey, Buffer.from('by passphrase'));
    expect((await openAgeBufferWithPassphrase(alone, 'correct horse')).toString()).toBe('by passphrase');
    const opener = await AgeOpener.openWithPassphrase(alone, 'correct horse');
    expect(opener.prefixLength).toBe(agePrefixLength(alone));
    expect(opener.stanzaCount).toBe(1);
    expect(opener.authorCardId).toBeUndefined();
    await expect(openAgeBufferWithPassphrase(alone, 'wrong horse')).rejects.toMatchObject({ ageReason: 'NO_STANZA' });
  });

  test('fromFileKey: an opener for a header authenticated elsewhere', () => {
    const fileKey = deterministicRandom('seam-from')(16);
    const file = handMade([alice.wrap(fileKey, deterministicRandom('w3'))], fileKey, Buffer.from('from key'));
    const header = parseHeader(file);
    const opener = AgeOpener.fromFileKey(fileKey, file, header);
    expect(opener.prefixLength).toBe(header.length + PAYLOAD_NONCE_SIZE);
    expect(opener.stanzaCount).toBe(1);
    expect(opener.authorCardId).toBeUndefined();
    expect(opener.decryptChunk(0, file.subarray(opener.prefixLength), true).toString()).toBe('from key');
  });
});

describe('file.ts: what a prefix says without a key', () => {
  test('undefined until the nonce is complete; recipient tags and the slot are not counted as stanzas', () => {
    const fileKey = deterministicRandom('seam-count')(16);
    const tag: Stanza = { args: ['cloudlocker.dev/recipient-tag', 'x'], body: Buffer.alloc(16) };
    const slot: Stanza = { args: [SLOT_STANZA_TYPE], body: Buffer.alloc(30) };
    const file = handMade([alice.wrap(fileKey, deterministicRandom('w4')), tag, slot, makeAuthorStanza(alice, fileKey, 'c')], fileKey);
    const prefixLength = agePrefixLength(file) ?? -1;
    expect(prefixLength).toBe(parseHeader(file).length + PAYLOAD_NONCE_SIZE);
    const info = describeAgePrefix(file);
    expect(info?.prefixLength).toBe(prefixLength);
    expect(info?.stanzaCount).toBe(2);
    expect(info?.stanzaTypes).toEqual(['X25519', 'cloudlocker.dev/recipient-tag', SLOT_STANZA_TYPE, 'cloudlocker.dev/author']);
    expect(info?.authorCardId).toBe(alice.card.cardId);
    expect(formatAge.describe(file).stanzaCount).toBe(2);
    expect(AgeOpener.open(file, { identity: alice, name: 'c' }).stanzaCount).toBe(2);
    expect(describeAgePrefix(file.subarray(0, prefixLength - 1))).toBeUndefined();
    expect(describeAgePrefix(file.subarray(0, prefixLength))?.prefixLength).toBe(prefixLength);
    // The header alone is enough for its length.
    expect(agePrefixLength(file.subarray(0, prefixLength - PAYLOAD_NONCE_SIZE))).toBe(prefixLength);
    expect(agePrefixLength(file.subarray(0, prefixLength - PAYLOAD_NONCE_SIZE - 1))).toBeUndefined();
  });
});

describe('whole.ts: edges of the whole-buffer and stream helpers', () => {
  const name = 'w';

  test('a stream that ends inside the header or the nonce fails as the whole buffer does', async () => {
    const sealed = sealAgeBuffer(Buffer.from('abc'), { identity: alice, name });
    const prefixLength = agePrefixLength(sealed) ?? -1;
    for (const end of [10, prefixLength - PAYLOAD_NONCE_SIZE, prefixLength - 1]) {
      const whole = reasonOf(() => openAgeBuffer(sealed.subarray(0, end), { identity: alice, name }));
      expect(whole).toBe('HEADER_INVALID');
      const consume = async () => {
        for await (const piece of openAgeStream([sealed.subarray(0, end)], { identity: alice, name })) void piece;
      };
      await expect(consume()).rejects.toMatchObject({ ageReason: whole });
    }
    // Only a prefix and nothing after it: the one (empty, final) chunk is missing.
    const emptyRead = async () => {
      for await (const piece of openAgeStream([sealed.subarray(0, prefixLength)], { identity: alice, name })) void piece;
    };
    await expect(emptyRead()).rejects.toMatchObject({ ageReason: 'PAYLOAD_INVALID' });
  });

  test('a stream in one byte pieces and in pieces larger than a chunk reads the same; a full last chunk is final', async () => {
    for (const length of [0, AGE_CHUNK_SIZE, 2 * AGE_CHUNK_SIZE + 1]) {
      const plaintext = pattern(length, 7);
      const sealed = sealAgeBuffer(plaintext, { identity: alice, name });
      expect(sealed.length).toBe(ageStoredSizeFor(agePrefixLength(sealed) ?? -1, length));
      const prefixLength = agePrefixLength(sealed) ?? -1;
      const bytewise = [...sealed.subarray(0, prefixLength + 40)].map((byte) => Buffer.from([byte]));
      for (const pieces of [[...bytewise, sealed.subarray(prefixLength + 40)], [sealed]]) {
        const out: Buffer[] = [];
        for await (const piece of openAgeStream(pieces, { identity: alice, name })) out.push(piece);
        expect(Buffer.concat(out).equals(plaintext)).toBe(true);
        // One piece per chunk, each released once authenticated.
        expect(out.length).toBe(Math.max(1, Math.ceil(length / AGE_CHUNK_SIZE)));
      }
    }
  });

  test('sealing a stream: the same object for any split of the source, chunk by chunk', async () => {
    for (const length of [0, 1, AGE_CHUNK_SIZE, AGE_CHUNK_SIZE + 1, 2 * AGE_CHUNK_SIZE]) {
      const plaintext = pattern(length, 8);
      const splits = [[plaintext], [plaintext.subarray(0, 1), plaintext.subarray(1)], [Buffer.alloc(0), plaintext, Buffer.alloc(0)]];
      for (const source of splits) {
        const pieces: Buffer[] = [];
        for await (const piece of sealAgeStream(source, { identity: alice, name })) pieces.push(piece);
        // The prefix, then one piece per chunk (an empty file has one empty chunk).
        expect(pieces.length).toBe(1 + Math.max(1, Math.ceil(length / AGE_CHUNK_SIZE)));
        expect(pieces.slice(1).every((p, i, all) => p.length === (i === all.length - 1 ? p.length : AGE_STORED_CHUNK_SIZE))).toBe(true);
        expect(openAgeBuffer(Buffer.concat(pieces), { identity: alice, name }).equals(plaintext)).toBe(true);
      }
    }
  });

  test('a whole buffer: one byte more or less than a chunk boundary opens or fails as it should', () => {
    const plaintext = pattern(2 * AGE_CHUNK_SIZE, 9);
    const sealed = sealAgeBuffer(plaintext, { identity: alice, name });
    const prefixLength = agePrefixLength(sealed) ?? -1;
    expect(sealed.length).toBe(prefixLength + 2 * AGE_STORED_CHUNK_SIZE);
    expect(openAgeBuffer(sealed, { identity: alice, name }).equals(plaintext)).toBe(true);
    expect(reasonOf(() => openAgeBuffer(sealed.subarray(0, sealed.length - AGE_STORED_CHUNK_SIZE), { identity: alice, name }))).toBe('PAYLOAD_INVALID');
  });
});
