/**
 * The two key formats a transfer test can run under, so a suite written for
 * one is parametrised over both (`describe.each(KEY_FORMATS)`): v1 key files
 * (JSON, a master key) and age identities (format v2, the default).
 */
import { createIdentityFile } from '../../src/crypto/age/index.js';
import { createKeyFile } from '../../src/crypto/index.js';

export interface KeyFormat {
  /** As a test title shows it. */
  readonly title: string;
  /** What getFileInfo answers as `format` for an object stored with this key. */
  readonly stored: 'v1' | 'age';
  /** A file name for the key. */
  readonly fileName: string;
  /** Creates the key file at `keyPath`, protected by `passphrase` when given. */
  readonly create: (keyPath: string, passphrase?: string) => Promise<void>;
}

export const KEY_FORMATS: readonly KeyFormat[] = [
  {
    title: 'v1 key file',
    stored: 'v1',
    fileName: 'key.json',
    create: async (keyPath, passphrase) => {
      await createKeyFile(keyPath, passphrase === undefined ? {} : { passphrase });
    },
  },
  {
    title: 'age identity (format v2)',
    stored: 'age',
    fileName: 'key.age.txt',
    // A low scrypt work factor keeps the test fast; the product writes 2^18.
    create: async (keyPath, passphrase) => {
      await createIdentityFile(keyPath, passphrase === undefined ? {} : { passphrase, scryptLogN: 12 });
    },
  },
];
