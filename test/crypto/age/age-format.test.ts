/**
 * Format v2 (age) objects: round trips at chunk boundaries, interop both ways
 * with Debian's `age` CLI and with age-encryption (the reference TypeScript
 * implementation), every failure reason, recipients and cards.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { inspect } from 'node:util';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { Decrypter, Encrypter } from 'age-encryption';
import {
  AGE_CHUNK_SIZE,
  AGE_STORED_CHUNK_SIZE,
  AgeError,
  AgeIdentity,
  AgeOpener,
  AgeSealer,
  ageChunkCountFor,
  agePlaintextSizeFor,
  ageStoredChunkLength,
  ageStoredChunkOffset,
  ageStoredSizeFor,
  authorKeyOf,
  describeAgePrefix,
  openAgeBuffer,
  openAgeStream,
  parseCard,
  sealAgeBuffer,
  sealAgeStream,
  type AgeFailure,
  type AgeOpenOptions,
} from '../../../src/crypto/age/index.js';
import { makeAuthorStanza } from '../../../src/crypto/age/author.js';
import { encodeHeader } from '../../../src/crypto/age/header.js';
import { AgePayloadSealer } from '../../../src/crypto/age/payload.js';
import { InvalidParamsError } from '../../../src/errors.js';
import { deterministicRandom } from '../../../tools/vectors/deterministic.js';

const AGE = '/usr/bin/age';
let dir: string;
const alice = AgeIdentity.generate('X25519', deterministicRandom('alice'));
const bob = AgeIdentity.generate('X25519', deterministicRandom('bob'));
const pqAlice = AgeIdentity.generate('mlkem768x25519', deterministicRandom('pq-alice'));
const pqBob = AgeIdentity.generate('mlkem768x25519', deterministicRandom('pq-bob'));

function pattern(length: number, seed = 1): Buffer {
  const bytes = Buffer.alloc(length);
  for (let i = 0; i < length; i++) bytes[i] = (i * 31 + seed * 7 + (i >>> 8)) & 0xff;
  return bytes;
}

function failure(run: () => unknown): AgeFailure | 'none' {
  try {
    run();
    return 'none';
  } catch (err) {
    if (err instanceof AgeError) return err.ageReason;
    throw err;
  }
}

async function identityFile(identity: AgeIdentity, name: string): Promise<string> {
  const file = path.join(dir, name);
  await fs.writeFile(file, `${identity.encodeSecret()}\n`, { mode: 0o600 });
  return file;
}

beforeAll(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'cloudlocker-age-'));
});
afterAll(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

const LENGTHS = [0, 1, AGE_CHUNK_SIZE - 1, AGE_CHUNK_SIZE, AGE_CHUNK_SIZE + 1, 2 * AGE_CHUNK_SIZE, 2 * AGE_CHUNK_SIZE + 1];

describe('round trips', () => {
  test.each(LENGTHS)('X25519, %i bytes: sizes, whole buffer and stream', async (length) => {
    const plaintext = pattern(length);
    const sealed = sealAgeBuffer(plaintext, { identity: alice, name: 'docs/a.txt' });
    const info = describeAgePrefix(sealed);
    expect(info).toBeDefined();
    expect(info?.stanzaTypes).toEqual(['X25519', 'cloudlocker.dev/author']);
    expect(info?.authorCardId).toBe(alice.card.cardId);
    const prefixLength = info?.prefixLength ?? -1;
    expect(sealed.length).toBe(ageStoredSizeFor(prefixLength, length));
    expect(agePlaintextSizeFor(prefixLength, sealed.length)).toBe(length);
    expect(openAgeBuffer(sealed, { identity: alice, name: 'docs/a.txt' }).equals(plaintext)).toBe(true);

    const pieces: Buffer[] = [];
    for await (const piece of sealAgeStream([plaintext.subarray(0, 7), plaintext.subarray(7)], { identity: alice, name: 'n' })) {
      pieces.push(piece);
    }
    const streamed = Buffer.concat(pieces);
    const out: Buffer[] = [];
    const odd = Array.from({ length: Math.ceil(streamed.length / 1000) }, (_, i) => streamed.subarray(i * 1000, (i + 1) * 1000));
    for await (const piece of openAgeStream(odd, { identity: alice, name: 'n' })) out.push(piece);
    expect(Buffer.concat(out).equals(plaintext)).toBe(true);
  });

  test.each([0, AGE_CHUNK_SIZE, AGE_CHUNK_SIZE + 1])('hybrid (post-quantum), %i bytes, with an extra hybrid recipient', (length) => {
    const plaintext = pattern(length, 2);
    const sealed = sealAgeBuffer(plaintext, { identity: pqAlice, name: 'pq', recipients: [pqBob.recipient] });
    expect(describeAgePrefix(sealed)?.stanzaTypes).toEqual(['mlkem768x25519', 'mlkem768x25519', 'cloudlocker.dev/author']);
    expect(openAgeBuffer(sealed, { identity: pqAlice, name: 'pq' }).equals(plaintext)).toBe(true);
    const authors = [authorKeyOf(pqAlice.card)];
    expect(openAgeBuffer(sealed, { identity: pqBob, name: 'pq', authors }).equals(plaintext)).toBe(true);
  });

  test('chunks open in any order (parallel, random access) and the helpers agree on offsets', () => {
    const length = 3 * AGE_CHUNK_SIZE + 5;
    const plaintext = pattern(length, 3);
    const sealed = sealAgeBuffer(plaintext, { identity: alice, name: 'r' });
    const opener = AgeOpener.open(sealed, { identity: alice, name: 'r' });
    const count = ageChunkCountFor(length);
    const out = Buffer.alloc(length);
    for (let index = count - 1; index >= 0; index--) {
      const start = ageStoredChunkOffset(opener.prefixLength, index);
      const stored = sealed.subarray(start, start + ageStoredChunkLength(length, index));
      opener.decryptChunk(index, stored, index === count - 1, out, index * AGE_CHUNK_SIZE);
    }
    expect(out.equals(plaintext)).toBe(true);
  });

  test('a resumed sealer continues the same object, and refuses to reseal a chunk with other content', () => {
    const plaintext = pattern(2 * AGE_CHUNK_SIZE + 9, 4);
    const first = AgeSealer.create({ identity: alice, name: 'resume' });
    const chunk0 = first.encryptChunk(0, plaintext.subarray(0, AGE_CHUNK_SIZE), false);
    const resumed = AgeSealer.resume(alice, first.prefix, 'resume');
    expect(resumed.prefix.equals(first.prefix)).toBe(true);
    const rest = [
      resumed.encryptChunk(1, plaintext.subarray(AGE_CHUNK_SIZE, 2 * AGE_CHUNK_SIZE), false),
      resumed.encryptChunk(2, plaintext.subarray(2 * AGE_CHUNK_SIZE), true),
    ];
    const sealed = Buffer.concat([first.prefix, chunk0, ...rest]);
    expect(openAgeBuffer(sealed, { identity: alice, name: 'resume' }).equals(plaintext)).toBe(true);
    expect(() => AgeSealer.resume(bob, first.prefix, 'resume')).toThrow(AgeError);
    resumed.encryptChunk(1, plaintext.subarray(AGE_CHUNK_SIZE, 2 * AGE_CHUNK_SIZE), false); // a retry: same content
    expect(() => resumed.encryptChunk(1, pattern(AGE_CHUNK_SIZE, 9), false)).toThrow(/changed while it was being uploaded/);
  });
});

describe('interop with Debian age (CLI) and age-encryption', () => {
  test('age -d -i decrypts our X25519 objects byte-exact (it ignores the author stanza)', async () => {
    const key = await identityFile(alice, 'alice.key');
    for (const length of [0, AGE_CHUNK_SIZE, 2 * AGE_CHUNK_SIZE + 3]) {
      const plaintext = pattern(length, 5);
      const sealed = sealAgeBuffer(plaintext, { identity: alice, name: 'x', recipients: [bob.card.card] });
      const file = path.join(dir, `obj-${length}.age`);
      await fs.writeFile(file, sealed);
      const out = execFileSync(AGE, ['-d', '-i', key, file], { maxBuffer: 1 << 24 });
      expect(out.equals(plaintext)).toBe(true);
      // The extra recipient (given as a card) can decrypt too.
      const bobKey = await identityFile(bob, 'bob.key');
      expect(execFileSync(AGE, ['-d', '-i', bobKey, file], { maxBuffer: 1 << 24 }).equals(plaintext)).toBe(true);
    }
  });

  test('age-encryption decrypts our X25519 and hybrid objects byte-exact, and derives the same recipients', async () => {
    for (const identity of [alice, pqAlice]) {
      expect(await identity.recipientFromReference()).toBe(identity.recipient);
      const plaintext = pattern(AGE_CHUNK_SIZE + 77, 6);
      const sealed = sealAgeBuffer(plaintext, { identity, name: 'y' });
      const decrypter = new Decrypter();
      decrypter.addIdentity(identity.encodeSecret());
      expect(Buffer.from(await decrypter.decrypt(sealed)).equals(plaintext)).toBe(true);
    }
  });

  test('a plain `age -r` file for our recipient is refused as AUTHOR_MISSING, read byte-exact only when unauthored files are accepted', async () => {
    const plaintext = pattern(AGE_CHUNK_SIZE + 1000, 7);
    const input = path.join(dir, 'plain.bin');
    await fs.writeFile(input, plaintext);
    const planted = execFileSync(AGE, ['-r', alice.recipient, input]);
    const options: AgeOpenOptions = { identity: alice, name: 'plain.bin' };
    expect(failure(() => openAgeBuffer(planted, options))).toBe('AUTHOR_MISSING');
    expect(describeAgePrefix(planted)?.authorCardId).toBeUndefined();
    expect(openAgeBuffer(planted, { ...options, acceptUnauthored: true }).equals(plaintext)).toBe(true);
  });

  test('age-encryption files (X25519, hybrid) are AUTHOR_MISSING by default and open when accepted', async () => {
    for (const identity of [alice, pqAlice]) {
      const plaintext = pattern(3 * AGE_CHUNK_SIZE, 8);
      const encrypter = new Encrypter();
      encrypter.addRecipient(identity.recipient);
      const file = Buffer.from(await encrypter.encrypt(plaintext));
      expect(failure(() => openAgeBuffer(file, { identity, name: 'z' }))).toBe('AUTHOR_MISSING');
      expect(openAgeBuffer(file, { identity, name: 'z', acceptUnauthored: true }).equals(plaintext)).toBe(true);
    }
  });
});

/** An object whose author stanza is built by hand: `edit` may change it before the header is MACed. */
function withAuthorStanza(edit: (body: Buffer, args: string[]) => void, author = alice, name = 'n'): Buffer {
  const random = deterministicRandom('forge');
  const fileKey = random(16);
  const stanza = makeAuthorStanza(author, fileKey, name);
  const args = [...stanza.args];
  const body = Buffer.from(stanza.body);
  edit(body, args);
  const header = encodeHeader([alice.wrap(fileKey, random), { args, body }], fileKey);
  const nonce = random(16);
  const chunk = new AgePayloadSealer(fileKey, nonce).encryptChunk(0, Buffer.from('hello'), true);
  return Buffer.concat([header, nonce, chunk]);
}

describe('every failure has its own reason', () => {
  const plaintext = pattern(2 * AGE_CHUNK_SIZE + 100, 9);
  const sealed = sealAgeBuffer(plaintext, { identity: alice, name: 'good' });
  const prefixLength = describeAgePrefix(sealed)?.prefixLength ?? 0;
  const open = (file: Buffer, options: Partial<AgeOpenOptions> = {}) =>
    failure(() => openAgeBuffer(file, { identity: alice, name: 'good', ...options }));

  test('the intact object opens (so the failures below are caused by the change)', () => {
    expect(open(sealed)).toBe('none');
  });

  test('HEADER_INVALID: not an age file, a damaged header line, cut inside the header', () => {
    expect(open(Buffer.from('hello world'))).toBe('HEADER_INVALID');
    const damaged = Buffer.from(sealed);
    damaged[damaged.indexOf('-> X25519') + 1] = 0x3d; // "-=" is no stanza line
    expect(open(damaged)).toBe('HEADER_INVALID');
    expect(open(sealed.subarray(0, 40))).toBe('HEADER_INVALID');
  });

  test('NO_STANZA: another identity; HEADER_MAC: the header was edited', () => {
    expect(open(sealed, { identity: bob })).toBe('NO_STANZA');
    const edited = Buffer.from(sealed);
    const at = edited.indexOf('cloudlocker.dev/author ') + 'cloudlocker.dev/author '.length;
    edited[at] = edited[at] === 0x61 ? 0x62 : 0x61; // another card id
    expect(open(edited)).toBe('HEADER_MAC');
  });

  test('PAYLOAD_INVALID: a flipped byte, truncation (inside and at a chunk boundary), extension, swapped chunks', () => {
    const flipped = Buffer.from(sealed);
    flipped[prefixLength + 10] ^= 1;
    expect(open(flipped)).toBe('PAYLOAD_INVALID');
    expect(open(sealed.subarray(0, sealed.length - 1))).toBe('PAYLOAD_INVALID');
    expect(open(sealed.subarray(0, prefixLength + 2 * AGE_STORED_CHUNK_SIZE))).toBe('PAYLOAD_INVALID');
    expect(open(sealed.subarray(0, prefixLength + AGE_STORED_CHUNK_SIZE))).toBe('PAYLOAD_INVALID');
    expect(open(Buffer.concat([sealed, Buffer.alloc(1)]))).toBe('PAYLOAD_INVALID');
    expect(open(Buffer.concat([sealed, sealed.subarray(prefixLength, prefixLength + AGE_STORED_CHUNK_SIZE)]))).toBe('PAYLOAD_INVALID');
    const c0 = sealed.subarray(prefixLength, prefixLength + AGE_STORED_CHUNK_SIZE);
    const c1 = sealed.subarray(prefixLength + AGE_STORED_CHUNK_SIZE, prefixLength + 2 * AGE_STORED_CHUNK_SIZE);
    const swapped = Buffer.concat([sealed.subarray(0, prefixLength), c1, c0, sealed.subarray(prefixLength + 2 * AGE_STORED_CHUNK_SIZE)]);
    expect(open(swapped)).toBe('PAYLOAD_INVALID');
  });

  test('AUTHOR_UNKNOWN: written by someone the reader does not trust (bob, to alice)', () => {
    const fromBob = sealAgeBuffer(plaintext, { identity: bob, name: 'good', recipients: [alice.recipient] });
    expect(open(fromBob)).toBe('AUTHOR_UNKNOWN');
    expect(open(fromBob, { authors: [authorKeyOf(bob.card)] })).toBe('none');
  });

  test('AUTHOR_INVALID: forged signature, altered name tag, malformed card id, extra argument, another key under the card id', () => {
    expect(open(withAuthorStanza(() => undefined), { name: 'n' })).toBe('none');
    expect(open(withAuthorStanza((body) => (body[40] ^= 1)), { name: 'n' })).toBe('AUTHOR_INVALID');
    expect(open(withAuthorStanza((body) => (body[5] ^= 1)), { name: 'n' })).toBe('AUTHOR_INVALID');
    expect(open(withAuthorStanza((body, args) => (args[1] = args[1].toUpperCase())), { name: 'n' })).toBe('AUTHOR_INVALID');
    expect(open(withAuthorStanza((body, args) => args.push('extra')), { name: 'n' })).toBe('AUTHOR_INVALID');
    // Same card id, but signed by another key (bob's signature under alice's card id).
    expect(open(withAuthorStanza((body, args) => (args[1] = alice.card.cardId), bob), { name: 'n' })).toBe('AUTHOR_INVALID');
  });

  test('WRONG_NAME: the object was signed for another name (moved or swapped in the store)', () => {
    expect(open(sealed, { name: 'other' })).toBe('WRONG_NAME');
    expect(open(sealed, { name: 'good ' })).toBe('WRONG_NAME');
  });

  test('the author stanza cannot be moved onto another file key', () => {
    const donor = sealAgeBuffer(Buffer.from('x'), { identity: alice, name: 'good' });
    const parsed = describeAgePrefix(donor);
    expect(parsed?.authorCardId).toBe(alice.card.cardId);
    // Take the donor's author stanza text into a header of a different file key, re-MACed by an attacker who knows that key.
    const donorText = donor.subarray(0, parsed?.prefixLength).toString('latin1');
    const authorLines = donorText.slice(donorText.indexOf('-> cloudlocker.dev/author'), donorText.indexOf('\n---'));
    const [, arg] = authorLines.split('\n')[0].split(' ').slice(1);
    const body = Buffer.from(authorLines.split('\n').slice(1).join(''), 'base64');
    const moved = withAuthorStanza((b, args) => {
      body.copy(b);
      args[1] = arg;
    }, alice, 'good');
    expect(open(moved)).toBe('AUTHOR_INVALID');
  });
});

describe('recipients and cards', () => {
  test('a card round-trips, carries recipient and signing key, and its checksum catches a typo', () => {
    for (const identity of [alice, pqAlice]) {
      const card = parseCard(identity.card.card);
      expect(card.cardId).toBe(identity.card.cardId);
      expect(card.recipientString).toBe(identity.recipient);
      expect(card.signingPublicKey.equals(identity.card.signingPublicKey)).toBe(true);
      expect(identity.card.card.startsWith('cloudlockercard1')).toBe(true);
      const text = identity.card.card;
      const i = text.length - 10;
      const typo = text.slice(0, i) + (text[i] === 'q' ? 'p' : 'q') + text.slice(i + 1);
      expect(() => parseCard(typo)).toThrow(/checksum/);
      expect(() => parseCard(text.toUpperCase())).toThrow(/lower case/);
    }
    expect(alice.card.card.length).toBeLessThan(130);
    expect(pqAlice.card.card.length).toBeGreaterThan(1900);
  });

  test('mixing classical and post-quantum recipients is refused with the offending index', () => {
    const attempt = (identity: AgeIdentity, recipients: string[]) => {
      try {
        AgeSealer.create({ identity, name: 'm', recipients });
        return 'none';
      } catch (err) {
        expect(err).toBeInstanceOf(InvalidParamsError);
        return (err as InvalidParamsError).param;
      }
    };
    expect(attempt(alice, [bob.recipient, pqBob.recipient])).toBe('recipients[1]');
    expect(attempt(pqAlice, [pqBob.card.card, bob.card.card])).toBe('recipients[1]');
    expect(attempt(alice, ['age1notarecipient'])).toBe('recipients[0]');
    expect(attempt(alice, [bob.recipient.slice(0, -1) + (bob.recipient.endsWith('q') ? 'p' : 'q')])).toBe('recipients[0]');
    expect(attempt(alice, [bob.card.card, bob.recipient])).toBe('none');
  });

  test('secrets stay out of inspect() and JSON', () => {
    const secret = alice.encodeSecret();
    expect(inspect(alice)).not.toContain(secret);
    expect(JSON.stringify(alice)).not.toContain(secret.slice(16, 40));
    expect(JSON.stringify(alice)).toContain(alice.card.cardId);
  });
});
