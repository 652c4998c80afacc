/**
 * The author stanza checked directly (no whole file, no vectors): which
 * refusal a reader gets, with which message and details, for each way the
 * stanza can be missing, doubled, malformed, foreign or moved. The
 * whole-file cases are in age-format.test.ts; this file is also the fast
 * test list of the author mutation screen.
 */
import { createHash } from 'node:crypto';
import { describe, expect, it } from '@jest/globals';
import {
  AUTHOR_STANZA_TYPE,
  authorCardIdOf,
  authorCommitment,
  authorKeyOf,
  authorMessage,
  authorNameTag,
  makeAuthorStanza,
  verifyAuthor,
  type AuthorCheck,
} from '../../../src/crypto/age/author.js';
import { AgeError } from '../../../src/crypto/age/errors.js';
import { AgeIdentity } from '../../../src/crypto/age/identity.js';
import type { Stanza } from '../../../src/crypto/age/header.js';

const seed = (label: string): Buffer => createHash('sha256').update(label).digest();
const alice = AgeIdentity.fromSecret('X25519', seed('alice'));
const bob = AgeIdentity.fromSecret('X25519', seed('bob'));
const fileKey = seed('file key').subarray(0, 16);
const recipientStanza: Stanza = { args: ['X25519', 'c2hhcmU'], body: Buffer.alloc(32) };
const check: AuthorCheck = { authors: [authorKeyOf(alice.card)], name: 'report.pdf' };

function refusal(stanzas: readonly Stanza[], options: Partial<AuthorCheck> = {}): AgeError {
  try {
    verifyAuthor(stanzas, fileKey, { ...check, ...options });
  } catch (err) {
    if (err instanceof AgeError) return err;
    throw err;
  }
  throw new Error('verifyAuthor accepted the stanzas');
}

describe('the author stanza', () => {
  const good = makeAuthorStanza(alice, fileKey, 'report.pdf');

  it('accepts its own author under its own name, and names the card without a key', () => {
    expect(verifyAuthor([recipientStanza, good], fileKey, check)).toBe(alice.card.cardId);
    expect(authorCardIdOf([recipientStanza, good])).toBe(alice.card.cardId);
  });

  it('signs the documented message: domain, the 16 bytes of the card id, commitment, name tag', () => {
    const cardId = alice.card.cardId;
    const commitment = authorCommitment(fileKey);
    const nameTag = authorNameTag(fileKey, 'report.pdf');
    const message = authorMessage(cardId, commitment, nameTag);
    expect(message).toEqual(
      Buffer.concat([Buffer.from('cloudlocker.dev/v2/author/signature\n'), Buffer.from(cardId, 'hex'), commitment, nameTag]),
    );
    expect(message.length).toBe(36 + 16 + 32 + 32);
    expect(good.body.subarray(0, 32)).toEqual(nameTag);
  });

  it('refuses a name that is not well-formed Unicode (or not a string) before signing or checking', () => {
    const message = 'an object name must be a well-formed Unicode string';
    expect(() => makeAuthorStanza(alice, fileKey, 'half \uD800')).toThrow(new RangeError(message));
    expect(() => authorNameTag(fileKey, 5 as unknown as string)).toThrow(new RangeError(message));
    expect(() => verifyAuthor([good], fileKey, { ...check, name: '\uDC00' })).toThrow(new RangeError(message));
  });

  it('AUTHOR_MISSING without one (unless unauthored files are accepted)', () => {
    const error = refusal([recipientStanza]);
    expect(error.ageReason).toBe('AUTHOR_MISSING');
    expect(error.message).toMatch(/: refused; accept unauthored files explicitly to import one made elsewhere$/);
    expect(verifyAuthor([recipientStanza], fileKey, { ...check, acceptUnauthored: true })).toBeUndefined();
    expect(authorCardIdOf([recipientStanza])).toBeUndefined();
  });

  it('AUTHOR_INVALID for two author stanzas, even when the first one is good', () => {
    const error = refusal([good, makeAuthorStanza(bob, fileKey, 'report.pdf')]);
    expect(error.ageReason).toBe('AUTHOR_INVALID');
    expect(error.message).toMatch(/: it holds more than one author stanza$/);
    expect(refusal([good, good]).ageReason).toBe('AUTHOR_INVALID');
    expect(authorCardIdOf([good, good])).toBeUndefined();
  });

  it('AUTHOR_INVALID "malformed" for a body of another size, an extra argument or a bad card id', () => {
    for (const stanza of [
      { args: good.args, body: Buffer.concat([good.body, Buffer.alloc(1)]) },
      { args: good.args, body: good.body.subarray(0, 95) },
      { args: [...good.args, 'extra'], body: good.body },
      { args: [AUTHOR_STANZA_TYPE, good.args[1].toUpperCase()], body: good.body },
    ]) {
      const error = refusal([stanza]);
      expect(error.ageReason).toBe('AUTHOR_INVALID');
      expect(error.message).toMatch(/: its author stanza is malformed$/);
    }
    // getFileInfo shows the card id of a stanza only when it is well-formed.
    expect(authorCardIdOf([{ args: [AUTHOR_STANZA_TYPE, 'xyz'], body: good.body }])).toBeUndefined();
    expect(authorCardIdOf([{ args: [...good.args, 'extra'], body: good.body }])).toBeUndefined();
    expect(authorCardIdOf([{ args: [AUTHOR_STANZA_TYPE], body: good.body }])).toBeUndefined();
  });

  it('AUTHOR_UNKNOWN names the card that signed', () => {
    const error = refusal([makeAuthorStanza(bob, fileKey, 'report.pdf')]);
    expect(error.ageReason).toBe('AUTHOR_UNKNOWN');
    expect(error.message).toMatch(new RegExp(`: it was signed by card ${bob.card.cardId}$`));
    expect(error.details).toEqual({ authorCardId: bob.card.cardId, ageReason: 'AUTHOR_UNKNOWN' });
  });

  it('AUTHOR_INVALID for a signature that does not verify (another file key, a changed signature), naming the card', () => {
    const damaged = Buffer.from(good.body);
    damaged[40] ^= 1;
    let moved: unknown;
    try {
      verifyAuthor([good], seed('another file key').subarray(0, 16), check);
    } catch (err) {
      moved = err;
    }
    expect(moved).toBeInstanceOf(AgeError);
    for (const error of [refusal([{ args: good.args, body: damaged }]), moved as AgeError]) {
      expect(error.ageReason).toBe('AUTHOR_INVALID');
      expect(error.message).toMatch(new RegExp(`: the signature of card ${alice.card.cardId} does not verify$`));
      expect(error.details).toEqual({ authorCardId: alice.card.cardId, ageReason: 'AUTHOR_INVALID' });
    }
  });

  it('WRONG_NAME for a stanza made for another name, naming the card', () => {
    const error = refusal([good], { name: 'other.pdf' });
    expect(error.ageReason).toBe('WRONG_NAME');
    expect(error.message).toMatch(/: its author signed it for a different object name$/);
    expect(error.details).toEqual({ authorCardId: alice.card.cardId, ageReason: 'WRONG_NAME' });
  });
});
