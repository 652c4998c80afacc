/**
 * Identities, recipients and public cards (src/crypto/age/identity.ts) as
 * docs/format.md section 15 and 14.2 define them, rebuilt here from Node's
 * primitives: the signing-key derivation, the card payload and card id, the
 * recipient tag; the strict Bech32 parsing with each refusal's message; and
 * what a wiped (locked) identity still allows.
 */
import { createHash, createHmac, createPrivateKey, createPublicKey, hkdfSync } from 'node:crypto';
import { inspect } from 'node:util';
import { describe, expect, test } from '@jest/globals';
import { bech32, bech32m } from '@scure/base';
import { identityToRecipient } from 'age-encryption';
import {
  AgeIdentity,
  AgeKeyFormatError,
  CARD_ID_SIZE,
  RECIPIENT_TAG_BYTES,
  cardIdOf,
  cardPayload,
  encodeRecipient,
  makeCard,
  parseCard,
  parseRecipient,
  parseRecipientOrCard,
  wrapTo,
} from '../../../src/crypto/age/identity.js';
import { encodeStanza, type Stanza } from '../../../src/crypto/age/header.js';
import { hybridPublicKeyOf, unwrapHybrid, unwrapX25519 } from '../../../src/crypto/age/stanzas.js';
import { CloudlockerError } from '../../../src/errors.js';
import { deterministicRandom, streamBytes } from '../../../tools/vectors/deterministic.js';

const FILE_KEY = Buffer.from('0f1e2d3c4b5a69788796a5b4c3d2e1f0', 'hex');

function x25519Public(scalar: Uint8Array): Buffer {
  const key = createPrivateKey({ key: { kty: 'OKP', crv: 'X25519', d: Buffer.from(scalar).toString('base64url'), x: '' }, format: 'jwk' });
  return Buffer.from(createPublicKey(key).export({ format: 'jwk' }).x as string, 'base64url');
}

function ed25519PublicOfSeed(seed: Uint8Array): Buffer {
  const key = createPrivateKey({ key: { kty: 'OKP', crv: 'Ed25519', d: Buffer.from(seed).toString('base64url'), x: '' }, format: 'jwk' });
  return Buffer.from(createPublicKey(key).export({ format: 'jwk' }).x as string, 'base64url');
}

function hkdf(ikm: Uint8Array, info: string): Buffer {
  return Buffer.from(hkdfSync('sha256', ikm, Buffer.alloc(0), Buffer.from(info, 'utf8'), 32));
}

function formatError(run: () => unknown): string {
  try {
    run();
  } catch (err) {
    // Its name is what a log line shows first.
    if (err instanceof AgeKeyFormatError && err.name === 'AgeKeyFormatError') return err.message;
    throw err;
  }
  return 'no error';
}

/** `text` with the case of its first letter after the separator swapped. */
function mixedCase(text: string): string {
  const at = [...text].findIndex((char, index) => index > text.lastIndexOf('1') && /[a-z]/i.test(char));
  const char = text[at];
  return `${text.slice(0, at)}${char === char.toLowerCase() ? char.toUpperCase() : char.toLowerCase()}${text.slice(at + 1)}`;
}

function locked(run: () => unknown): string {
  try {
    run();
  } catch (err) {
    if (err instanceof CloudlockerError) return `${err.reason}: ${err.message}`;
    throw err;
  }
  return 'no error';
}

const xSecret = streamBytes('identity x', 32);
const pqSecret = streamBytes('identity pq', 32);
const x = AgeIdentity.fromSecret('X25519', xSecret);
const pq = AgeIdentity.fromSecret('mlkem768x25519', pqSecret);

describe('identities as docs/format.md section 15 defines them', () => {
  test('X25519: the secret is the scalar; recipient age1… (Bech32 of its public key); AGE-SECRET-KEY-1… upper case', async () => {
    const publicKey = x25519Public(xSecret);
    expect(x.type).toBe('X25519');
    expect(x.card.recipient).toEqual({ type: 'X25519', publicKey });
    expect(x.recipient).toBe(bech32.encode('age', bech32.toWords(publicKey), false));
    expect(x.card.recipientString).toBe(x.recipient);
    expect(x.encodeSecret()).toBe(bech32.encode('age-secret-key-', bech32.toWords(xSecret), false).toUpperCase());
    expect(await identityToRecipient(x.encodeSecret())).toBe(x.recipient);
    expect(await x.recipientFromReference()).toBe(x.recipient);
  });

  test('hybrid: the secret is the ML-KEM-768+X25519 seed; recipient age1pq1…; AGE-SECRET-KEY-PQ-1…', async () => {
    const publicKey = hybridPublicKeyOf(pqSecret);
    // Made inside the test too (the shared one is made when the file loads, outside any test).
    expect(AgeIdentity.fromSecret('mlkem768x25519', pqSecret).card.recipient.publicKey.equals(publicKey)).toBe(true);
    expect(pq.type).toBe('mlkem768x25519');
    expect(pq.card.recipient.type).toBe('mlkem768x25519');
    expect(pq.card.recipient.publicKey.equals(publicKey)).toBe(true);
    expect(pq.recipient).toBe(bech32.encode('age1pq', bech32.toWords(publicKey), false));
    expect(pq.encodeSecret()).toBe(bech32.encode('age-secret-key-pq-', bech32.toWords(pqSecret), false).toUpperCase());
    expect(await pq.recipientFromReference()).toBe(pq.recipient);
  });

  test('the signing key: the Ed25519 key whose seed is HKDF(s, "", "cloudlocker.dev/v2/signing-key/" || type)', () => {
    for (const [identity, secret, type] of [
      [x, xSecret, 'X25519'],
      [pq, pqSecret, 'mlkem768x25519'],
    ] as const) {
      const expected = ed25519PublicOfSeed(hkdf(secret, `cloudlocker.dev/v2/signing-key/${type}`));
      expect(identity.card.signingPublicKey.equals(expected)).toBe(true);
      const exported = createPublicKey(identity.signingKey).export({ format: 'jwk' }).x as string;
      expect(Buffer.from(exported, 'base64url').equals(expected)).toBe(true);
    }
    // The same 32 bytes as the other type: another signing key.
    expect(AgeIdentity.fromSecret('mlkem768x25519', xSecret).card.signingPublicKey.equals(x.card.signingPublicKey)).toBe(false);
  });

  test('fromSecret and generate: 32 bytes, copied (the caller\'s buffer may change after); X25519 by default', () => {
    for (const size of [0, 31, 33, 64]) {
      expect(formatError(() => AgeIdentity.fromSecret('X25519', Buffer.alloc(size, 1)))).toBe('an identity holds 32 bytes');
    }
    const mine = Buffer.from(xSecret);
    const identity = AgeIdentity.fromSecret('X25519', mine);
    mine.fill(0);
    expect(identity.encodeSecret()).toBe(x.encodeSecret());
    const generated = AgeIdentity.generate(undefined, deterministicRandom('generated'));
    expect(generated.type).toBe('X25519');
    expect(generated.encodeSecret()).toBe(AgeIdentity.fromSecret('X25519', streamBytes('generated', 32)).encodeSecret());
    expect(AgeIdentity.generate('mlkem768x25519', deterministicRandom('generated')).recipient).toBe(
      AgeIdentity.fromSecret('mlkem768x25519', streamBytes('generated', 32)).recipient,
    );
    // Without a random source: the system's, two identities differ.
    const a = AgeIdentity.generate();
    expect(a.type).toBe('X25519');
    expect(a.recipient).not.toBe(AgeIdentity.generate().recipient);
  });

  test('parse: the type from the prefix, upper case only, Bech32 checksum, prefix and 32 bytes checked, each with its message', () => {
    expect(AgeIdentity.parse(x.encodeSecret()).recipient).toBe(x.recipient);
    expect(AgeIdentity.parse(pq.encodeSecret()).recipient).toBe(pq.recipient);
    const secret = x.encodeSecret();
    const cases: [string, string][] = [
      [secret.toLowerCase(), 'it must be all upper case'],
      [mixedCase(secret), 'it must be all upper case'],
      [`${secret.slice(0, 30)}${secret[30] === 'Q' ? 'P' : 'Q'}${secret.slice(31)}`, 'its checksum or encoding is wrong (a character may be mistyped or missing)'],
      [secret.slice(0, -1), 'its checksum or encoding is wrong (a character may be mistyped or missing)'],
      ['', 'its checksum or encoding is wrong (a character may be mistyped or missing)'],
      [bech32.encode('age-secret-key-x', bech32.toWords(xSecret), false).toUpperCase(), 'it does not start with "AGE-SECRET-KEY-1"'],
      [x.recipient.toUpperCase(), 'it does not start with "AGE-SECRET-KEY-1"'],
      [bech32.encode('age-secret-key-', bech32.toWords(Buffer.alloc(31, 3)), false).toUpperCase(), 'an identity holds 32 bytes'],
      [bech32.encode('age-secret-key-', bech32.toWords(Buffer.alloc(33, 3)), false).toUpperCase(), 'an identity holds 32 bytes'],
      [bech32.encode('age-secret-key-pq-', bech32.toWords(Buffer.alloc(31, 3)), false).toUpperCase(), 'an identity holds 32 bytes'],
    ];
    for (const [text, message] of cases) expect(formatError(() => AgeIdentity.parse(text))).toBe(message);
    // An X25519 identity is never read as hybrid and the reverse.
    expect(AgeIdentity.parse(bech32.encode('age-secret-key-pq-', bech32.toWords(pqSecret), false).toUpperCase()).type).toBe('mlkem768x25519');
    expect(AgeIdentity.parse(secret).type).toBe('X25519');
  });

  test('Bech32 data with invalid padding is refused with its own message', () => {
    // 52 five-bit words of which the last carries bits past the 32 bytes (not zero padding).
    const words = bech32.toWords(xSecret);
    words[words.length - 1] |= 1;
    const text = bech32.encode('age-secret-key-', words, false).toUpperCase();
    expect(formatError(() => AgeIdentity.parse(text))).toBe('its encoding has invalid padding');
    const recipientWords = bech32.toWords(x25519Public(xSecret));
    recipientWords[recipientWords.length - 1] |= 1;
    expect(formatError(() => parseRecipient(bech32.encode('age', recipientWords, false)))).toBe('its encoding has invalid padding');
  });
});

describe('recipients', () => {
  test('parse: lower case only, the age / age1pq prefix, the size of its type, each with its message', () => {
    expect(parseRecipient(x.recipient)).toEqual(x.card.recipient);
    expect(parseRecipient(pq.recipient).publicKey.equals(pq.card.recipient.publicKey)).toBe(true);
    expect(parseRecipient(pq.recipient).type).toBe('mlkem768x25519');
    expect(encodeRecipient(x.card.recipient)).toBe(x.recipient);
    expect(encodeRecipient(pq.card.recipient)).toBe(pq.recipient);
    const cases: [string, string][] = [
      [x.recipient.toUpperCase(), 'it must be all lower case'],
      [mixedCase(x.recipient), 'it must be all lower case'],
      [`${x.recipient.slice(0, -1)}${x.recipient.endsWith('q') ? 'p' : 'q'}`, 'its checksum or encoding is wrong (a character may be mistyped or missing)'],
      [bech32.encode('agx', bech32.toWords(x25519Public(xSecret)), false), 'it does not start with "age1"'],
      [x.card.card, 'its checksum or encoding is wrong (a character may be mistyped or missing)'],
      [bech32.encode('age', bech32.toWords(Buffer.alloc(31, 5)), false), 'a X25519 recipient holds 32 bytes, this one 31'],
      [bech32.encode('age', bech32.toWords(Buffer.alloc(1216, 5)), false), 'a X25519 recipient holds 32 bytes, this one 1216'],
      [bech32.encode('age1pq', bech32.toWords(Buffer.alloc(32, 5)), false), 'a mlkem768x25519 recipient holds 1216 bytes, this one 32'],
    ];
    for (const [text, message] of cases) expect(formatError(() => parseRecipient(text))).toBe(message);
  });

  test('wrapTo wraps for the recipient\'s type; each identity unwraps its own', () => {
    const forX = wrapTo(x.card.recipient, FILE_KEY, deterministicRandom('to x'));
    const forPq = wrapTo(pq.card.recipient, FILE_KEY, deterministicRandom('to pq'));
    expect(forX.args[0]).toBe('X25519');
    expect(forPq.args[0]).toBe('mlkem768x25519');
    expect(unwrapX25519(xSecret, [forX])?.equals(FILE_KEY)).toBe(true);
    expect(unwrapHybrid(pqSecret, [forPq])?.equals(FILE_KEY)).toBe(true);
    expect(x.unwrap([forPq, forX])?.equals(FILE_KEY)).toBe(true);
    expect(pq.unwrap([forX, forPq])?.equals(FILE_KEY)).toBe(true);
    expect(x.unwrap([forPq])).toBeNull();
    expect(pq.unwrap([forX])).toBeNull();
    expect(x.wrap(FILE_KEY, deterministicRandom('to x'))).toEqual(forX);
    expect(pq.wrap(FILE_KEY, deterministicRandom('to pq'))).toEqual(forPq);
  });
});

describe('public cards', () => {
  test('payload = type byte || recipient key || signing key; Bech32m "cloudlockercard"; card id = SHA-256(domain || payload)[0..16] in hex', () => {
    for (const [identity, typeByte] of [
      [x, 1],
      [pq, 2],
    ] as const) {
      const payload = Buffer.concat([Buffer.from([typeByte]), identity.card.recipient.publicKey, identity.card.signingPublicKey]);
      expect(cardPayload(identity.card.recipient, identity.card.signingPublicKey).equals(payload)).toBe(true);
      expect(identity.card.card).toBe(bech32m.encode('cloudlockercard', bech32m.toWords(payload), false));
      const id = createHash('sha256').update('cloudlocker.dev/v2/card-id\n').update(payload).digest().subarray(0, 16).toString('hex');
      expect(identity.card.cardId).toBe(id);
      expect(cardIdOf(payload)).toBe(id);
      expect(makeCard(identity.card.recipient, identity.card.signingPublicKey)).toEqual(identity.card);
    }
    expect(CARD_ID_SIZE).toBe(16);
    expect(x.card.card).toHaveLength(126);
    expect(pq.card.card).toHaveLength(2021);
  });

  test('parseCard: round trip; lower case, the HRP, Bech32m (not Bech32), a known type byte and the right length, each refused with its message', () => {
    expect(parseCard(x.card.card)).toEqual(x.card);
    expect(parseCard(pq.card.card)).toEqual(pq.card);
    const payload = cardPayload(x.card.recipient, x.card.signingPublicKey);
    const card = (bytes: Uint8Array, hrp = 'cloudlockercard') => bech32m.encode(hrp, bech32m.toWords(bytes), false);
    const cases: [string, string][] = [
      [x.card.card.toUpperCase(), 'it must be all lower case'],
      [bech32.encode('cloudlockercard', bech32.toWords(payload), false), 'its checksum or encoding is wrong (a character may be mistyped or missing)'],
      [card(payload, 'cloudlockercarx'), 'it does not start with "cloudlockercard1"'],
      [card(Buffer.concat([Buffer.from([3]), payload.subarray(1)])), 'its recipient type is unknown'],
      [card(Buffer.concat([Buffer.from([0]), payload.subarray(1)])), 'its recipient type is unknown'],
      [card(payload.subarray(0, 64)), 'a X25519 card holds 65 bytes, this one 64'],
      [card(Buffer.concat([payload, Buffer.alloc(1)])), 'a X25519 card holds 65 bytes, this one 66'],
      [card(Buffer.concat([Buffer.from([2]), payload.subarray(1)])), 'a mlkem768x25519 card holds 1249 bytes, this one 65'],
    ];
    for (const [text, message] of cases) expect(formatError(() => parseCard(text))).toBe(message);
    // The type byte decides which key sizes are read.
    const parsed = parseCard(pq.card.card);
    expect(parsed.recipient.publicKey).toHaveLength(1216);
    expect(parsed.signingPublicKey.equals(pq.card.signingPublicKey)).toBe(true);
  });

  test('parseRecipientOrCard: a card gives its recipient, anything else is parsed as a recipient', () => {
    expect(parseRecipientOrCard(x.card.card)).toEqual(x.card.recipient);
    expect(parseRecipientOrCard(pq.card.card).publicKey.equals(pq.card.recipient.publicKey)).toBe(true);
    expect(parseRecipientOrCard(x.recipient)).toEqual(x.card.recipient);
    // Without the separator it is not a card: read (and refused) as a recipient.
    expect(formatError(() => parseRecipientOrCard(`cloudlockercard${x.card.card.slice(16)}`))).toBe(
      'its checksum or encoding is wrong (a character may be mistyped or missing)',
    );
    expect(formatError(() => parseRecipientOrCard(x.card.card.toUpperCase()))).toBe('it must be all lower case');
  });
});

describe('recipient tags (docs/format.md 14.2)', () => {
  test('HMAC-SHA-256(HKDF(s, "", "cloudlocker.dev/v2/recipient-tag"), file key || type || 0 || public key || SHA-256(stanza))[0..16]', () => {
    const stanza: Stanza = wrapTo(pq.card.recipient, FILE_KEY, deterministicRandom('tagged'));
    for (const [identity, secret] of [
      [x, xSecret],
      [pq, pqSecret],
    ] as const) {
      for (const recipient of [x.card.recipient, pq.card.recipient]) {
        const expected = createHmac('sha256', hkdf(secret, 'cloudlocker.dev/v2/recipient-tag'))
          .update(FILE_KEY)
          .update(Buffer.from(recipient.type, 'utf8'))
          .update(Buffer.from([0]))
          .update(recipient.publicKey)
          .update(createHash('sha256').update(encodeStanza(stanza)).digest())
          .digest()
          .subarray(0, 16);
        expect(identity.recipientTag(FILE_KEY, recipient, stanza).equals(expected)).toBe(true);
      }
    }
    expect(RECIPIENT_TAG_BYTES).toBe(16);
  });
});

describe('a wiped identity', () => {
  test('refuses every use of the secret (LOCKED) but still says who it is', () => {
    const identity = AgeIdentity.fromSecret('X25519', streamBytes('wiped', 32));
    const stanza = identity.wrap(FILE_KEY, deterministicRandom('w'));
    const card = identity.card.card;
    expect(identity.wiped).toBe(false);
    identity.wipe();
    expect(identity.wiped).toBe(true);
    const message = 'LOCKED: The identity was locked while this call needed it: unlock it again, or give keyPath.';
    expect(locked(() => identity.encodeSecret())).toBe(message);
    expect(locked(() => identity.signingKey)).toBe(message);
    expect(locked(() => identity.unwrap([stanza]))).toBe(message);
    expect(locked(() => identity.recipientTag(FILE_KEY, x.card.recipient, stanza))).toBe(message);
    expect(identity.card.card).toBe(card);
    expect(identity.toJSON()).toEqual({ type: 'X25519', recipient: identity.recipient, cardId: identity.card.cardId });
    // An identity that is not wiped answers all of them.
    expect(locked(() => x.encodeSecret())).toBe('no error');
    expect(locked(() => x.signingKey)).toBe('no error');
  });

  test('toJSON and inspect carry the type, recipient and card id, never the secret', () => {
    expect(JSON.parse(JSON.stringify(pq))).toEqual({ type: 'mlkem768x25519', recipient: pq.recipient, cardId: pq.card.cardId });
    expect(inspect(x)).toBe(`AgeIdentity(X25519, card ${x.card.cardId})`);
    expect(inspect({ nested: pq })).toContain(`AgeIdentity(mlkem768x25519, card ${pq.card.cardId})`);
  });
});
