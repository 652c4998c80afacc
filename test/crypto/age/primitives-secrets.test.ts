/**
 * The raw-key helpers read public keys without exporting the private key:
 * a private key's JWK export carries its secret (d) into a string nobody can
 * wipe, once per stored or opened file (review of session 5).
 */
import { generateKeyPairSync, randomBytes, createPublicKey, type KeyObject } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { ed25519PrivateKey, ed25519PublicKeyOf, x25519, x25519PrivateKey, x25519PublicKeyOf } from '../../../src/crypto/age/primitives.js';
import { unwrapX25519, wrapX25519 } from '../../../src/crypto/age/stanzas.js';
import { systemRandom } from '../../../src/crypto/random.js';

describe('age primitives never export a private key', () => {
  // Node defines export() on the private key class itself (PrivateKeyObject), not on KeyObject.
  const privateKeyPrototype = Object.getPrototypeOf(generateKeyPairSync('x25519').privateKey) as { export: KeyObject['export'] };
  const realExport = privateKeyPrototype.export;
  let privateExports: string[];

  beforeEach(() => {
    privateExports = [];
    privateKeyPrototype.export = function (this: KeyObject, ...args: unknown[]) {
      privateExports.push(this.asymmetricKeyType ?? 'unknown');
      return (realExport as (...a: unknown[]) => unknown).apply(this, args);
    } as KeyObject['export'];
  });

  afterEach(() => {
    privateKeyPrototype.export = realExport;
  });

  it('derives X25519 and Ed25519 public keys from the public half only', () => {
    const scalar = randomBytes(32);
    const fromBytes = x25519PublicKeyOf(scalar);
    const fromKey = x25519PublicKeyOf(x25519PrivateKey(scalar));
    const signing = ed25519PrivateKey(randomBytes(32));
    const signingPublic = ed25519PublicKeyOf(signing);
    expect(privateExports).toEqual([]);
    // And they are the right public keys.
    expect(fromKey).toEqual(fromBytes);
    const expectedSigning = createPublicKey(signing).export({ format: 'jwk' }) as { x: string };
    expect(signingPublic.toString('base64url')).toBe(expectedSigning.x);
  });

  it('wraps and unwraps a file key without exporting the identity or the ephemeral key', () => {
    const secret = randomBytes(32);
    const recipient = x25519PublicKeyOf(secret);
    const fileKey = randomBytes(16);
    const stanza = wrapX25519(recipient, fileKey, systemRandom);
    expect(unwrapX25519(secret, [stanza])).toEqual(fileKey);
    // X25519 itself agrees both ways (the helpers are still correct).
    const other = randomBytes(32);
    expect(x25519(secret, x25519PublicKeyOf(other))).toEqual(x25519(other, recipient));
    expect(privateExports).toEqual([]);
  });
});
