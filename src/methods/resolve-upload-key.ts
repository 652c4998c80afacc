/**
 * The key-path rules of `upload`: an existing key file is used; a path that
 * does not exist gets a new random key; an existing directory gets
 * "<last segment of name>.key.json" created in it. Creating never overwrites,
 * and a key file created here is never removed, even if the upload then
 * fails (see upload.ts).
 */
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { lastSegment } from '../../protocol/index.js';
import { createKeyFile, readKeyFile, type MasterKey } from '../crypto/index.js';
import { CloudlockerError, fromSystemError, isCloudlockerError, systemErrorCode } from '../errors.js';

export interface ResolvedKey {
  readonly key: MasterKey;
  /** Absolute path of the key file used. */
  readonly path: string;
  /** Whether this call created it (the result's keyCreated: the user should back it up). */
  readonly created: boolean;
}

export async function resolveUploadKey(keyPath: string, name: string, passphrase?: string): Promise<ResolvedKey> {
  const absolute = path.resolve(keyPath);
  const existing = await stat(absolute).catch((err: unknown) => {
    if (systemErrorCode(err) === 'ENOENT') return undefined;
    throw fromSystemError(err, 'the key file');
  });
  const options = passphrase === undefined ? {} : { passphrase };
  if (existing === undefined) return createKey(absolute, options);
  if (existing.isDirectory()) {
    const inDirectory = path.join(absolute, `${lastSegment(name)}.key.json`);
    try {
      return await createKey(inDirectory, options);
    } catch (err) {
      if (isCloudlockerError(err, 'ALREADY_EXISTS')) {
        throw new CloudlockerError(
          'ALREADY_EXISTS',
          `A key file named "${lastSegment(name)}.key.json" already exists in that folder: pass its path as keyPath to use it.`,
        );
      }
      throw err;
    }
  }
  return { key: await readKeyFile(absolute, options), path: absolute, created: false };
}

async function createKey(keyFilePath: string, options: { passphrase?: string }): Promise<ResolvedKey> {
  const created = await createKeyFile(keyFilePath, options);
  return { key: created.key, path: created.path, created: true };
}
