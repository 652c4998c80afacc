/**
 * The key a recipient tag is computed under (HKDF of the identity's secret,
 * info "cloudlocker.dev/v2/recipient-tag") does not outlive recipientTag: it
 * is zero after the tag is returned and after the call throws. Seen through
 * jest's ESM module mock of primitives.js, replaced in this file only by a
 * pass-through hkdf that keeps that key (as stanzas-zeroing.test.ts does).
 */
import { beforeAll, beforeEach, describe, expect, jest, test } from '@jest/globals';
import * as realPrimitives from '../../../src/crypto/age/primitives.js';
import type * as Identity from '../../../src/crypto/age/identity.js';
import { deterministicRandom, streamBytes } from '../../../tools/vectors/deterministic.js';

const RECIPIENT_TAG_INFO = 'cloudlocker.dev/v2/recipient-tag';
const tagKeys: Buffer[] = [];

// The real module comes from the static import above (a dynamic import here would get this mock).
jest.unstable_mockModule('../../../src/crypto/age/primitives.js', () => ({
  ...realPrimitives,
  hkdf: (...args: Parameters<typeof realPrimitives.hkdf>) => {
    const out = realPrimitives.hkdf(...args);
    if (args[2] === RECIPIENT_TAG_INFO) tagKeys.push(out);
    return out;
  },
}));

let identityModule: typeof Identity;
beforeAll(async () => {
  identityModule = await import('../../../src/crypto/age/identity.js');
});
beforeEach(() => {
  tagKeys.length = 0;
});

const FILE_KEY = streamBytes('tag zeroing file key', 16);

function expectOneZeroKey(): void {
  expect(tagKeys).toHaveLength(1);
  expect(tagKeys[0]).toHaveLength(32);
  expect(tagKeys[0]!.every((byte) => byte === 0)).toBe(true);
}

describe('the recipient-tag key', () => {
  test('is zero once the tag is returned (X25519 and hybrid identities)', () => {
    for (const type of ['X25519', 'mlkem768x25519'] as const) {
      tagKeys.length = 0;
      const identity = identityModule.AgeIdentity.fromSecret(type, streamBytes(`tag zeroing ${type}`, 32));
      const stanza = identity.wrap(FILE_KEY, deterministicRandom(`tag zeroing wrap ${type}`));
      const tag = identity.recipientTag(FILE_KEY, identity.card.recipient, stanza);
      expect(tag).toHaveLength(16);
      expectOneZeroKey();
    }
  });

  test('is zero when the tag cannot be computed (a stanza that cannot be encoded)', () => {
    const identity = identityModule.AgeIdentity.fromSecret('X25519', streamBytes('tag zeroing refused', 32));
    expect(() => identity.recipientTag(FILE_KEY, identity.card.recipient, { args: ['has space'], body: Buffer.alloc(0) })).toThrow(RangeError);
    expectOneZeroKey();
  });
});
