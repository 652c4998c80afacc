/**
 * The secrets an age identity file holds, as the bytes a leak would show:
 * the AGE-SECRET-KEY-… text line, the raw 32-byte secret it encodes, and the
 * Ed25519 seed cloudlocker derives from it for the author stanza. Tests
 * search stored objects and journals for each of them.
 */
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { bech32 } from '@scure/base';
import { loadKeyFile } from '../../src/crypto/index.js';
import { ed25519PrivateKey, ed25519PublicKeyOf, hkdf } from '../../src/crypto/age/primitives.js';

export interface NamedSecret {
  readonly what: string;
  readonly bytes: Buffer;
}

/** Mirrors the signing-key derivation in src/crypto/age/identity.ts; ageSecretsOf checks it against the card. */
const SIGNING_KEY_INFO = 'cloudlocker.dev/v2/signing-key/';

export async function ageSecretsOf(keyPath: string, passphrase?: string): Promise<NamedSecret[]> {
  const key = await loadKeyFile(keyPath, passphrase === undefined ? {} : { passphrase });
  if (key.format !== 'age') throw new Error(`${keyPath} is not an age identity`);
  const line = key.identity.encodeSecret();
  const { words } = bech32.decode(line.toLowerCase() as `${string}1${string}`, false);
  const secret = Buffer.from(bech32.fromWords(words));
  if (secret.length !== 32) throw new Error('an age identity holds 32 bytes');
  const signingSeed = hkdf(secret, Buffer.alloc(0), SIGNING_KEY_INFO + key.identity.type);
  // The derivation above is the product's: the seed gives the card's signing key.
  if (!ed25519PublicKeyOf(ed25519PrivateKey(signingSeed)).equals(key.identity.card.signingPublicKey)) {
    throw new Error('the signing seed derivation no longer matches the product');
  }
  return [
    { what: 'identity text line', bytes: Buffer.from(line) },
    { what: 'identity text line (lower case)', bytes: Buffer.from(line.toLowerCase()) },
    { what: 'raw 32-byte secret', bytes: secret },
    { what: 'raw secret, hex', bytes: Buffer.from(secret.toString('hex')) },
    { what: 'raw secret, base64', bytes: Buffer.from(secret.toString('base64').replace(/=+$/, '')) },
    { what: 'signing seed', bytes: signingSeed },
    { what: 'signing seed, hex', bytes: Buffer.from(signingSeed.toString('hex')) },
    { what: 'signing seed, base64', bytes: Buffer.from(signingSeed.toString('base64').replace(/=+$/, '')) },
  ];
}

/** A passphrase as the bytes a leak would show. */
export function passphraseSecrets(passphrase: string): NamedSecret[] {
  return [{ what: 'passphrase', bytes: Buffer.from(passphrase, 'utf8') }];
}

/** Which of the secrets occur in `haystack` (empty when none does). */
export function secretsIn(haystack: Uint8Array, secrets: readonly NamedSecret[]): string[] {
  const bytes = Buffer.from(haystack.buffer, haystack.byteOffset, haystack.byteLength);
  return secrets.filter((secret) => bytes.includes(secret.bytes)).map((secret) => secret.what);
}

/** Every file under `directory`, recursively (absolute paths). */
export async function filesUnder(directory: string): Promise<string[]> {
  const entries = await readdir(directory, { withFileTypes: true, recursive: true });
  return entries.filter((entry) => entry.isFile()).map((entry) => path.join(entry.parentPath, entry.name));
}

/** "file: secret" for each secret found in any file under `directory`. */
export async function secretsInFilesUnder(directory: string, secrets: readonly NamedSecret[]): Promise<string[]> {
  const found: string[] = [];
  for (const file of await filesUnder(directory)) {
    for (const what of secretsIn(await readFile(file), secrets)) found.push(`${path.relative(directory, file)}: ${what}`);
  }
  return found;
}
