/**
 * Weak public keys in cards and recipients (docs/format.md "Public card",
 * key checks; docs/security.md): small-order, mixed-order and non-canonical
 * Ed25519 signing keys, low-order X25519 keys. The vectors are published
 * lists (test/helpers/weak-keys.ts says where from), not the code's own.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, test } from '@jest/globals';
import { ed25519 } from '@noble/curves/ed25519.js';
import { ml_kem768 } from '@noble/post-quantum/ml-kem.js';
import { AgeIdentity, AgeKeyFormatError, openAgeBuffer, parseCard, parseRecipient, resolveRecipients } from '../../../src/crypto/age/index.js';
import { AUTHOR_STANZA_TYPE, authorCommitment, authorKeyOf, authorMessage, authorNameTag, makeAuthorStanza, verifyAuthor } from '../../../src/crypto/age/author.js';
import { encodeRecipient, makeCard, wrapTo } from '../../../src/crypto/age/identity.js';
import {
  ed25519PublicKeyProblem,
  MLKEM768_ENCAPSULATION_KEY_SIZE,
  mlKem768EncapsulationKeyProblem,
  x25519PublicKeyProblem,
} from '../../../src/crypto/age/public-key-checks.js';
import { HYBRID_PUBLIC_KEY_SIZE } from '../../../src/crypto/age/stanzas.js';
import { encodeBase64NoPad, encodeHeader } from '../../../src/crypto/age/header.js';
import { AgePayloadSealer } from '../../../src/crypto/age/payload.js';
import { chachaSeal, hkdf, x25519, x25519PrivateKey, x25519PublicKeyOf } from '../../../src/crypto/age/primitives.js';
import { systemRandom } from '../../../src/crypto/random.js';
import { AgeError } from '../../../src/crypto/age/errors.js';
import { InvalidParamsError } from '../../../src/errors.js';
import { deterministicRandom } from '../../../tools/vectors/deterministic.js';
import {
  ED25519_SMALL_ORDER_KEYS,
  ED25519_Y_EQUALS_P,
  nodeAcceptsSignature,
  withMlKemCoefficient,
  withX25519TopBit,
  X25519_LOW_ORDER_KEYS,
} from '../../helpers/weak-keys.js';

const alice = AgeIdentity.generate('X25519', deterministicRandom('alice'));
const pqAlice = AgeIdentity.generate('mlkem768x25519', deterministicRandom('pq-alice'));
const P = 2n ** 255n - 19n;

function littleEndian(value: bigint): Buffer {
  const bytes = Buffer.alloc(32);
  for (let i = 0; i < 32; i++) bytes[i] = Number((value >> BigInt(8 * i)) & 0xffn);
  return bytes;
}

/** A card string with the given keys, encoded without parseCard's checks. */
function cardText(recipient = alice.card.recipient, signingKey = alice.card.signingPublicKey): string {
  return makeCard(recipient, signingKey).card;
}

function refusal(run: () => unknown): string {
  try {
    run();
  } catch (err) {
    if (err instanceof AgeKeyFormatError) return err.message;
    throw err;
  }
  return 'accepted';
}

/** A good key plus each of the 7 small-order points other than the identity: on the curve, not small order, not in the prime-order subgroup. */
function mixedOrderKeys(): Buffer[] {
  return ED25519_SMALL_ORDER_KEYS.flatMap((torsion) => {
    try {
      const t = ed25519.Point.fromBytes(torsion, false);
      if (t.equals(ed25519.Point.ZERO)) return [];
      const good = ed25519.Point.fromBytes(AgeIdentity.generate().card.signingPublicKey, false);
      return [Buffer.from(good.add(t).toBytes())];
    } catch {
      return [];
    }
  });
}

describe('the problem the checks exist for', () => {
  test('Node 20 accepts an all-zero signature under the small-order key y = p for some messages (a forgery without any private key)', () => {
    const zero = Buffer.alloc(64);
    const accepted = Array.from({ length: 64 }, (_, i) => nodeAcceptsSignature(ED25519_Y_EQUALS_P, Buffer.from(`message ${i}`), zero)).filter(Boolean);
    expect(accepted.length).toBeGreaterThan(0);
  });
});

describe('Ed25519 signing keys', () => {
  test('all 14 small-order encodings (libsodium\'s list, both sign bits) are refused', () => {
    expect(ED25519_SMALL_ORDER_KEYS).toHaveLength(14);
    for (const key of ED25519_SMALL_ORDER_KEYS) {
      expect({ key: key.toString('hex'), problem: ed25519PublicKeyProblem(key) }).toEqual({ key: key.toString('hex'), problem: expect.any(String) });
      expect(refusal(() => parseCard(cardText(undefined, key)))).toMatch(/^its signing key is refused: /);
    }
  });

  test('the canonical small-order points are refused as small order; y >= p and "negative zero" as non-canonical', () => {
    expect(ed25519PublicKeyProblem(ED25519_Y_EQUALS_P)).toMatch(/not the canonical encoding/);
    expect(ed25519PublicKeyProblem(Buffer.from('0100000000000000000000000000000000000000000000000000000000000000', 'hex'))).toMatch(/small-order point/);
    expect(ed25519PublicKeyProblem(Buffer.from('c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a', 'hex'))).toMatch(/small-order point/);
    expect(ed25519PublicKeyProblem(Buffer.from('0100000000000000000000000000000000000000000000000000000000000080', 'hex'))).toMatch(/not the canonical/);
  });

  test('mixed-order keys (a real key plus a small-order point) are refused', () => {
    const mixed = mixedOrderKeys();
    expect(mixed).toHaveLength(7);
    for (const key of mixed) {
      expect(ed25519PublicKeyProblem(key)).toMatch(/mixed-order/);
      expect(refusal(() => parseCard(cardText(undefined, key)))).toMatch(/mixed-order/);
    }
  });

  test('non-canonical encodings (y + p) of points that are not small order are refused', () => {
    let found = 0;
    for (let y = 2n; y < 19n; y++) {
      const encoded = littleEndian(P + y);
      let onCurve = true;
      try {
        ed25519.Point.fromBytes(encoded, true); // ZIP-215 decoding accepts y >= p
      } catch {
        onCurve = false;
      }
      if (!onCurve) continue;
      found++;
      expect(ed25519PublicKeyProblem(encoded)).toMatch(/not the canonical encoding/);
      expect(refusal(() => parseCard(cardText(undefined, encoded)))).toMatch(/signing key is refused/);
    }
    expect(found).toBeGreaterThan(0);
  });

  test('a point not on the curve and a key of the wrong size are refused', () => {
    let offCurve: Buffer | undefined;
    for (let y = 2n; offCurve === undefined; y++) {
      try {
        ed25519.Point.fromBytes(littleEndian(y), true);
      } catch {
        offCurve = littleEndian(y);
      }
    }
    expect(ed25519PublicKeyProblem(offCurve)).toMatch(/not the canonical encoding of a curve point/);
    expect(ed25519PublicKeyProblem(Buffer.alloc(31, 1))).toBe('it is 31 bytes, not 32');
  });

  test('real signing keys pass, every time (including when remembered)', () => {
    for (let i = 0; i < 20; i++) {
      const identity = AgeIdentity.generate(i % 5 === 0 ? 'mlkem768x25519' : 'X25519');
      expect(ed25519PublicKeyProblem(identity.card.signingPublicKey)).toBeUndefined();
      expect(ed25519PublicKeyProblem(identity.card.signingPublicKey)).toBeUndefined();
      expect(parseCard(identity.card.card).cardId).toBe(identity.card.cardId);
    }
  });

  test('a remembered good key vouches for those exact 32 bytes only: a key differing from it in one late byte is checked afresh', () => {
    const good = Buffer.from(AgeIdentity.generate().card.signingPublicKey);
    expect(ed25519PublicKeyProblem(good)).toBeUndefined();
    // Bytes 16-31 changed one at a time until the encoding is no curve point (about half of all values are not).
    const offCurve = Buffer.from(good);
    for (let value = 0; value < 256; value++) {
      offCurve[30] = value;
      try {
        ed25519.Point.fromBytes(offCurve, false);
      } catch {
        break;
      }
    }
    expect(() => ed25519.Point.fromBytes(offCurve, false)).toThrow();
    expect(ed25519PublicKeyProblem(offCurve)).toMatch(/not the canonical encoding of a curve point/);
    // And the same with a small-order key that shares nothing but its position in a pooled buffer.
    const pooled = Buffer.concat([good, ED25519_Y_EQUALS_P]);
    expect(ed25519PublicKeyProblem(pooled.subarray(0, 32))).toBeUndefined();
    expect(ed25519PublicKeyProblem(pooled.subarray(32))).toMatch(/not the canonical encoding/);
  });

  test('verifyAuthor refuses a small-order key that reached the trusted list without parseCard (AUTHOR_INVALID), with an all-zero signature Node accepts', () => {
    const cardId = 'ab'.repeat(16);
    const weak = { cardId, signingPublicKey: ED25519_Y_EQUALS_P };
    const zero = Buffer.alloc(64);
    let fileKey: Buffer = Buffer.alloc(16);
    let nameTag: Buffer = Buffer.alloc(32);
    for (let i = 0; i < 1000; i++) {
      fileKey = Buffer.alloc(16, 0);
      fileKey.writeUInt32LE(i);
      nameTag = authorNameTag(fileKey, 'n');
      if (nodeAcceptsSignature(ED25519_Y_EQUALS_P, authorMessage(cardId, authorCommitment(fileKey), nameTag), zero)) break;
    }
    expect(nodeAcceptsSignature(ED25519_Y_EQUALS_P, authorMessage(cardId, authorCommitment(fileKey), nameTag), zero)).toBe(true);
    const forged = { args: [AUTHOR_STANZA_TYPE, cardId], body: Buffer.concat([nameTag, zero]) };
    let reason = 'accepted';
    try {
      verifyAuthor([forged], fileKey, { authors: [weak], name: 'n' });
    } catch (err) {
      reason = err instanceof AgeError ? `${err.ageReason}: ${err.message}` : String(err);
    }
    expect(reason).toMatch(/^AUTHOR_INVALID: .*cannot be trusted: it is not the canonical encoding/);
    // A good key still verifies its own stanza.
    const stanza = makeAuthorStanza(alice, fileKey, 'n');
    expect(verifyAuthor([stanza], fileKey, { authors: [authorKeyOf(alice.card)], name: 'n' })).toBe(alice.card.cardId);
  });
});

describe('X25519 recipient keys', () => {
  test('all 14 low-order encodings (libsodium\'s list, both top bits) are refused as age1 recipients and inside cards', () => {
    expect(X25519_LOW_ORDER_KEYS).toHaveLength(14);
    for (const key of X25519_LOW_ORDER_KEYS) {
      const recipient = { type: 'X25519' as const, publicKey: key };
      expect(x25519PublicKeyProblem(key)).toMatch(/low-order point/);
      expect(refusal(() => parseRecipient(encodeRecipient(recipient)))).toMatch(/^its X25519 key is refused: it is a low-order point/);
      expect(refusal(() => parseCard(cardText(recipient)))).toMatch(/^its X25519 key is refused/);
    }
  });

  test('a hybrid (mlkem768x25519) card whose X25519 half is low order is refused; real hybrid cards pass', () => {
    const publicKey = Buffer.from(pqAlice.card.recipient.publicKey);
    expect(publicKey).toHaveLength(HYBRID_PUBLIC_KEY_SIZE);
    expect(parseCard(cardText(pqAlice.card.recipient, pqAlice.card.signingPublicKey)).cardId).toBe(pqAlice.card.cardId);
    X25519_LOW_ORDER_KEYS[0].copy(publicKey, HYBRID_PUBLIC_KEY_SIZE - 32);
    expect(refusal(() => parseCard(cardText({ type: 'mlkem768x25519', publicKey }, pqAlice.card.signingPublicKey)))).toMatch(/X25519 key is refused/);
  });

  test('an age1pq1 recipient whose X25519 half is low order is refused as a recipient string too, naming its place in the list', () => {
    const publicKey = Buffer.from(pqAlice.card.recipient.publicKey);
    X25519_LOW_ORDER_KEYS[1].copy(publicKey, HYBRID_PUBLIC_KEY_SIZE - 32);
    const text = encodeRecipient({ type: 'mlkem768x25519', publicKey });
    expect(refusal(() => parseRecipient(text))).toMatch(/^its X25519 key is refused: it is a low-order point/);
    let error: unknown;
    try {
      resolveRecipients(pqAlice, [AgeIdentity.generate('mlkem768x25519').recipient, text]);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(InvalidParamsError);
    expect((error as InvalidParamsError).param).toBe('recipients[1]');
    // The real hybrid recipient still passes.
    expect(parseRecipient(pqAlice.recipient).type).toBe('mlkem768x25519');
  });

  test('an upload or share naming a low-order recipient gets invalid params for that recipient, before anything is encrypted', () => {
    const lowOrder = encodeRecipient({ type: 'X25519', publicKey: X25519_LOW_ORDER_KEYS[2] });
    let error: unknown;
    try {
      resolveRecipients(alice, [AgeIdentity.generate().recipient, lowOrder]);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(InvalidParamsError);
    expect((error as InvalidParamsError).param).toBe('recipients[1]');
    expect((error as Error).message).toMatch(/low-order point/);
  });

  test('real X25519 recipients pass', () => {
    for (let i = 0; i < 10; i++) expect(parseRecipient(AgeIdentity.generate().recipient).type).toBe('X25519');
  });
});

/**
 * FIPS 203's ByteDecode12 (Algorithm 6) written bit by bit, as the standard
 * states it, without the reduction mod q: the coefficients exactly as the
 * key's bits give them. An independent reference for the product's
 * byte-wise decoding (public-key-checks.ts).
 */
function byteDecode12Unreduced(bytes: Uint8Array): number[] {
  const bits: number[] = [];
  for (const byte of bytes.subarray(0, 1152)) for (let j = 0; j < 8; j++) bits.push((byte >> j) & 1);
  const coefficients: number[] = [];
  for (let i = 0; i < 768; i++) {
    let value = 0;
    for (let j = 0; j < 12; j++) value += (bits[i * 12 + j] as number) * 2 ** j;
    coefficients.push(value);
  }
  return coefficients;
}

/** The reference answer: the first coefficient at q = 3329 or above, or undefined. */
function referenceModulusFailure(encapsulationKey: Uint8Array): { index: number; value: number } | undefined {
  const index = byteDecode12Unreduced(encapsulationKey).findIndex((value) => value >= 3329);
  return index < 0 ? undefined : { index, value: byteDecode12Unreduced(encapsulationKey)[index] as number };
}

describe('ML-KEM-768 encapsulation keys (the first 1184 bytes of a hybrid key)', () => {
  const realKey = Buffer.from(pqAlice.card.recipient.publicKey.subarray(0, MLKEM768_ENCAPSULATION_KEY_SIZE));
  const hybridWith = (encapsulationKey: Buffer) => Buffer.concat([encapsulationKey, pqAlice.card.recipient.publicKey.subarray(MLKEM768_ENCAPSULATION_KEY_SIZE)]);
  // The first and last coefficient of each of the three polynomials, both halves of a byte triple.
  const positions = [0, 1, 254, 255, 256, 257, 511, 512, 766, 767];

  test('the test helper sets exactly the coefficient asked for (checked by the bit-level reference decoding)', () => {
    const before = byteDecode12Unreduced(realKey);
    for (const index of positions) {
      const after = byteDecode12Unreduced(withMlKemCoefficient(realKey, index, 4095));
      expect(after.flatMap((value, i) => (value === before[i] ? [] : [[i, value]]))).toEqual(before[index] === 4095 ? [] : [[index, 4095]]);
    }
  });

  test('a key with one coefficient of t-hat at q = 3329 or above fails the modulus check, naming it, as the bit-level reference finds; 3328 passes', () => {
    expect(realKey).toHaveLength(1184);
    expect(referenceModulusFailure(realKey)).toBeUndefined();
    expect(mlKem768EncapsulationKeyProblem(realKey)).toBeUndefined();
    for (const index of positions) {
      for (const value of [3329, 3330, 4095]) {
        const bad = withMlKemCoefficient(realKey, index, value);
        expect(referenceModulusFailure(bad)).toEqual({ index, value });
        expect({ index, value, problem: mlKem768EncapsulationKeyProblem(bad) }).toEqual({
          index,
          value,
          problem: `it fails FIPS 203's modulus check (section 7.2): coefficient ${index % 256} of polynomial ${Math.floor(index / 256)} of its vector t-hat is ${value}, not below q = 3329 (no real key holds such a value)`,
        });
      }
      const highest = withMlKemCoefficient(realKey, index, 3328);
      expect({ index, reference: referenceModulusFailure(highest), problem: mlKem768EncapsulationKeyProblem(highest) }).toEqual({ index, reference: undefined, problem: undefined });
    }
  });

  test('real keys pass, random bytes fail, the seed rho is not checked, a wrong size is named: the same answers as the reference', () => {
    for (let i = 0; i < 4; i++) {
      const key = AgeIdentity.generate('mlkem768x25519').card.recipient.publicKey.subarray(0, MLKEM768_ENCAPSULATION_KEY_SIZE);
      expect({ reference: referenceModulusFailure(key), problem: mlKem768EncapsulationKeyProblem(key) }).toEqual({ reference: undefined, problem: undefined });
    }
    for (let i = 0; i < 4; i++) {
      const noise = randomKeyBytes();
      const failure = referenceModulusFailure(noise);
      expect(failure).toBeDefined();
      expect(mlKem768EncapsulationKeyProblem(noise)).toContain(`coefficient ${failure!.index % 256} of polynomial ${Math.floor(failure!.index / 256)} of its vector t-hat is ${failure!.value},`);
    }
    const otherRho = Buffer.from(realKey);
    otherRho.fill(0xff, 1152);
    expect(mlKem768EncapsulationKeyProblem(otherRho)).toBeUndefined();
    expect(mlKem768EncapsulationKeyProblem(realKey.subarray(0, 1183))).toBe('it is 1183 bytes, not 1184');
  });

  test('why at parse: @noble/post-quantum 0.5.4 encapsulates to such a key without a word (its check never fires), and the file does not open for the key\'s owner', () => {
    // A coefficient c of the real key written as c + q: the same key modulo q, but not as written.
    const index = byteDecode12Unreduced(realKey).findIndex((value) => value + 3329 <= 4095);
    const unreduced = withMlKemCoefficient(realKey, index, (byteDecode12Unreduced(realKey)[index] as number) + 3329);
    expect(mlKem768EncapsulationKeyProblem(unreduced)).toMatch(/modulus check/);
    // noble's encapsulate has the FIPS 203 check, but its 12-bit decoding does not reduce mod q, so the re-encoding always matches.
    expect(() => ml_kem768.encapsulate(unreduced)).not.toThrow();
    const fileKey = Buffer.from(systemRandom(16));
    const stanza = wrapTo({ type: 'mlkem768x25519', publicKey: hybridWith(unreduced) }, fileKey, systemRandom);
    expect(pqAlice.unwrap([stanza])).toBeNull();
    expect(pqAlice.unwrap([wrapTo(pqAlice.card.recipient, fileKey, systemRandom)])?.equals(fileKey)).toBe(true);
  });

  test('an age1pq1 recipient, a hybrid card and an upload/share recipient whose ML-KEM half fails the check are refused at parse (-32602 on its place)', () => {
    const bad = hybridWith(withMlKemCoefficient(realKey, 300, 4095));
    const recipient = { type: 'mlkem768x25519' as const, publicKey: bad };
    const expected = /^its ML-KEM-768 key is refused: it fails FIPS 203's modulus check \(section 7\.2\): coefficient 44 of polynomial 1 of its vector t-hat is 4095/;
    expect(refusal(() => parseRecipient(encodeRecipient(recipient)))).toMatch(expected);
    expect(refusal(() => parseCard(cardText(recipient, pqAlice.card.signingPublicKey)))).toMatch(expected);
    let error: unknown;
    try {
      resolveRecipients(pqAlice, [AgeIdentity.generate('mlkem768x25519').card.card, encodeRecipient(recipient)]);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(InvalidParamsError);
    expect({ param: (error as InvalidParamsError).param, message: (error as Error).message }).toEqual({ param: 'recipients[1]', message: expect.stringMatching(/ML-KEM-768 key is refused/) });
    // The real key, in every form, still passes.
    expect(parseRecipient(pqAlice.recipient).type).toBe('mlkem768x25519');
    expect(parseCard(pqAlice.card.card).cardId).toBe(pqAlice.card.cardId);
  });
});

function randomKeyBytes(): Buffer {
  return Buffer.from(systemRandom(MLKEM768_ENCAPSULATION_KEY_SIZE));
}

describe('X25519 keys that are not canonically encoded (u >= 2^255 - 19, or the top bit set)', () => {
  test('u = p + 2 … 2^255 - 1 (not low order) and a real key with its top bit set are refused; p - 2 and real keys pass', () => {
    for (let offset = 2n; offset <= 18n; offset++) {
      expect({ offset, problem: x25519PublicKeyProblem(littleEndian(P + offset)) }).toEqual({ offset, problem: expect.stringMatching(/not the canonical encoding of an X25519 key \(its u-coordinate is 2\^255 - 19 or more/) });
    }
    expect(x25519PublicKeyProblem(withX25519TopBit(alice.card.recipient.publicKey))).toMatch(/not the canonical encoding of an X25519 key \(its top bit is set/);
    expect(x25519PublicKeyProblem(withX25519TopBit(littleEndian(P + 5n)))).toMatch(/its top bit is set/);
    expect(x25519PublicKeyProblem(littleEndian(P - 2n))).toBeUndefined();
    expect(x25519PublicKeyProblem(littleEndian(9n))).toBeUndefined();
    expect(x25519PublicKeyProblem(alice.card.recipient.publicKey)).toBeUndefined();
  });

  test('refused as an age1 recipient, in an X25519 card, as a hybrid key\'s X25519 half, and as an upload/share recipient (-32602 on its place)', () => {
    for (const key of [withX25519TopBit(alice.card.recipient.publicKey), littleEndian(P + 3n)]) {
      const recipient = { type: 'X25519' as const, publicKey: key };
      expect(refusal(() => parseRecipient(encodeRecipient(recipient)))).toMatch(/^its X25519 key is refused: it is not the canonical encoding/);
      expect(refusal(() => parseCard(cardText(recipient)))).toMatch(/^its X25519 key is refused: it is not the canonical encoding/);
      const hybrid = Buffer.from(pqAlice.card.recipient.publicKey);
      key.copy(hybrid, HYBRID_PUBLIC_KEY_SIZE - 32);
      expect(refusal(() => parseCard(cardText({ type: 'mlkem768x25519', publicKey: hybrid }, pqAlice.card.signingPublicKey)))).toMatch(
        /^its X25519 key is refused: it is not the canonical encoding/,
      );
      let error: unknown;
      try {
        resolveRecipients(alice, [AgeIdentity.generate().recipient, encodeRecipient(recipient)]);
      } catch (err) {
        error = err;
      }
      expect((error as InvalidParamsError).param).toBe('recipients[1]');
    }
  });

  test('why: X25519 reads the key reduced (the same shared secret), but age hashes the key as written into the wrap, so a file for the non-canonical form would not open with its owner\'s identity', () => {
    const fileKey = Buffer.from(systemRandom(16));
    const nonCanonical = { type: 'X25519' as const, publicKey: withX25519TopBit(alice.card.recipient.publicKey) };
    const probe = x25519PrivateKey(Buffer.alloc(32, 7));
    expect(x25519(probe, nonCanonical.publicKey).equals(x25519(probe, alice.card.recipient.publicKey))).toBe(true);
    expect(alice.unwrap([wrapTo(nonCanonical, fileKey, systemRandom)])).toBeNull();
    expect(alice.unwrap([wrapTo(alice.card.recipient, fileKey, systemRandom)])?.equals(fileKey)).toBe(true);
    // The same with the X25519 half of a hybrid key (the KEM combiner hashes the key as written).
    const hybrid = Buffer.from(pqAlice.card.recipient.publicKey);
    withX25519TopBit(hybrid.subarray(HYBRID_PUBLIC_KEY_SIZE - 32)).copy(hybrid, HYBRID_PUBLIC_KEY_SIZE - 32);
    expect(pqAlice.unwrap([wrapTo({ type: 'mlkem768x25519', publicKey: hybrid }, fileKey, systemRandom)])).toBeNull();
    expect(pqAlice.unwrap([wrapTo(pqAlice.card.recipient, fileKey, systemRandom)])?.equals(fileKey)).toBe(true);
  });

  test('a stored X25519 stanza whose ephemeral share has its top bit set still opens, here and with age 1.1 (both sides hash the share as written): not refused', () => {
    const fileKey = Buffer.from(systemRandom(16));
    const ephemeral = x25519PrivateKey(Buffer.from(systemRandom(32)));
    const share = withX25519TopBit(x25519PublicKeyOf(ephemeral));
    const shared = x25519(ephemeral, alice.card.recipient.publicKey);
    const key = hkdf(shared, Buffer.concat([share, alice.card.recipient.publicKey]), 'age-encryption.org/v1/X25519');
    const stanza = { args: ['X25519', encodeBase64NoPad(share)], body: chachaSeal(key, Buffer.alloc(12), fileKey) };
    expect(alice.unwrap([stanza])?.equals(fileKey)).toBe(true);

    const content = Buffer.from('a file whose share is not canonically encoded');
    const nonce = Buffer.from(systemRandom(16));
    const file = Buffer.concat([
      encodeHeader([stanza, makeAuthorStanza(alice, fileKey, 'odd-share.txt')], fileKey),
      nonce,
      Buffer.from(new AgePayloadSealer(fileKey, nonce).encryptChunk(0, content, true)),
    ]);
    expect(openAgeBuffer(file, { identity: alice, name: 'odd-share.txt' }).equals(content)).toBe(true);
    const dir = mkdtempSync(path.join(tmpdir(), 'cloudlocker-share-'));
    try {
      writeFileSync(path.join(dir, 'key.txt'), `${alice.encodeSecret()}\n`, { mode: 0o600 });
      writeFileSync(path.join(dir, 'file.age'), file);
      expect(execFileSync('age', ['-d', '-i', path.join(dir, 'key.txt'), path.join(dir, 'file.age')]).equals(content)).toBe(true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
