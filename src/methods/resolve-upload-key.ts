/**
 * The key-path rules of `upload`: an existing key file is used; a path that
 * does not exist gets a new random key; an existing directory gets
 * "<last segment of name>.key.txt" (an age identity) or ".key.json" (a v1
 * key, when keyType asks for one) created in it. Creating never overwrites,
 * and a key file created here is never removed, even if the upload then
 * fails (see upload.ts).
 */
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { lastSegment } from '../../protocol/index.js';
import { DEFAULT_NEW_KEY_TYPE, createNewKeyFile, loadKeyFile, type LoadedKey, type NewKeyType } from '../crypto/index.js';
import { CloudlockerError, fromSystemError, isCloudlockerError, systemErrorCode } from '../errors.js';

export interface ResolvedKey {
  readonly key: LoadedKey;
  /** Absolute path of the key file used. */
  readonly path: string;
  /** Whether this call created it (the result's keyCreated: the user should back it up). */
  readonly created: boolean;
}

/** The file name a new key gets in a keyPath that is a directory. */
export function keyFileNameFor(name: string, keyType: NewKeyType): string {
  return `${lastSegment(name)}${keyType === 'v1' ? '.key.json' : '.key.txt'}`;
}

/**
 * `checkNewKey` runs with the type of a key about to be created, before the
 * file is: what it throws leaves no key file behind.
 */
export async function resolveUploadKey(
  keyPath: string,
  name: string,
  passphrase?: string,
  keyType?: NewKeyType,
  checkNewKey: (type: NewKeyType) => void = () => undefined,
): Promise<ResolvedKey> {
  const absolute = path.resolve(keyPath);
  const existing = await stat(absolute).catch((err: unknown) => {
    if (systemErrorCode(err) === 'ENOENT') return undefined;
    throw fromSystemError(err, 'the key file');
  });
  const options = { ...(passphrase === undefined ? {} : { passphrase }), ...(keyType === undefined ? {} : { type: keyType }) };
  if (existing === undefined) {
    checkNewKey(options.type ?? DEFAULT_NEW_KEY_TYPE);
    return createKey(absolute, options);
  }
  if (existing.isDirectory()) {
    checkNewKey(options.type ?? DEFAULT_NEW_KEY_TYPE);
    const fileName = keyFileNameFor(name, options.type ?? DEFAULT_NEW_KEY_TYPE);
    const inDirectory = path.join(absolute, fileName);
    try {
      return await createKey(inDirectory, options);
    } catch (err) {
      if (isCloudlockerError(err, 'ALREADY_EXISTS')) {
        throw new CloudlockerError(
          'ALREADY_EXISTS',
          `A key file named "${fileName}" already exists in that folder: pass its path as keyPath to use it.`,
        );
      }
      throw err;
    }
  }
  return { key: await loadKeyFile(absolute, options), path: absolute, created: false };
}

async function createKey(keyFilePath: string, options: { passphrase?: string; type?: NewKeyType }): Promise<ResolvedKey> {
  const created = await createNewKeyFile(keyFilePath, options);
  return { key: created.key, path: created.path, created: true };
}
