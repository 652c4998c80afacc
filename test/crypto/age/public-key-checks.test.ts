/**
 * Weak public keys in cards and recipients (docs/format.md "Public card",
 * key checks; docs/security.md): small-order, mixed-order and non-canonical
 * Ed25519 signing keys, low-order X25519 keys. The vectors are published
 * lists (test/helpers/weak-keys.ts says where from), not the code's own.
 */
import { describe, expect, test } from '@jest/globals';
import { ed25519 } from '@noble/curves/ed25519.js';
import { AgeIdentity, AgeKeyFormatError, parseCard, parseRecipient, resolveRecipients } from '../../../src/crypto/age/index.js';
import { AUTHOR_STANZA_TYPE, authorCommitment, authorKeyOf, authorMessage, authorNameTag, makeAuthorStanza, verifyAuthor } from '../../../src/crypto/age/author.js';
import { encodeRecipient, makeCard } from '../../../src/crypto/age/identity.js';
import { ed25519PublicKeyProblem, x25519PublicKeyProblem } from '../../../src/crypto/age/public-key-checks.js';
import { HYBRID_PUBLIC_KEY_SIZE } from '../../../src/crypto/age/stanzas.js';
import { AgeError } from '../../../src/crypto/age/errors.js';
import { InvalidParamsError } from '../../../src/errors.js';
import { deterministicRandom } from '../../../tools/vectors/deterministic.js';
import { ED25519_SMALL_ORDER_KEYS, ED25519_Y_EQUALS_P, nodeAcceptsSignature, X25519_LOW_ORDER_KEYS } from '../../helpers/weak-keys.js';

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
