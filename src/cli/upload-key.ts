/**
 * Which key file an upload uses, said explicitly: `--key` names a key file
 * that exists, `--new-key` a place for a new one. The service itself creates
 * a key wherever keyPath does not exist yet, so with a single flag a typo in
 * the path silently made a new key (and the file could then be decrypted
 * only with that unnoticed key). Checked here, where the path was typed.
 * Neither flag: the unlocked identity.
 */
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { lastSegment } from '../../protocol/index.js';
import { UsageError } from './exit-codes.js';
import { CloudlockerError } from '../errors.js';

export interface UploadKeyFlags {
  key?: string;
  newKey?: string;
}

/**
 * The absolute keyPath to send, after checking the flags against the file
 * system; undefined when neither flag is given: the service then uses the
 * identity unlocked in it (`cloudlocker unlock`), or answers LOCKED. Leaving
 * both out never creates a key.
 */
export async function uploadKeyPath(flags: UploadKeyFlags, remoteName: string): Promise<string | undefined> {
  if (flags.key !== undefined && flags.newKey !== undefined) throw new UsageError('Give either --key (an existing key file) or --new-key (create one), not both.');
  if (flags.key === undefined && flags.newKey === undefined) return undefined;
  if (flags.key !== undefined) {
    const keyPath = path.resolve(flags.key);
    const found = await stat(keyPath).catch(() => undefined);
    if (found === undefined) {
      throw new CloudlockerError('NOT_FOUND', `There is no key file at ${keyPath}. To create a new key there, use --new-key instead of --key.`);
    }
    if (found.isDirectory()) {
      throw new UsageError(`${keyPath} is a folder: --key takes a key file; --new-key ${flags.key} creates ${lastSegment(remoteName)}.key.txt in it.`);
    }
    return keyPath;
  }
  const keyPath = path.resolve(flags.newKey!);
  const found = await stat(keyPath).catch(() => undefined);
  if (found !== undefined && !found.isDirectory()) {
    throw new CloudlockerError('ALREADY_EXISTS', `${keyPath} already exists: to encrypt with that key, use --key instead of --new-key.`);
  }
  return keyPath;
}

/** A passphrase flag with no key flag has nothing to open: the unlocked identity needs none. */
export function refusePassphraseWithoutKey(keyPath: string | undefined, passphraseFromStdin: boolean | undefined): void {
  if (keyPath === undefined && passphraseFromStdin === true) {
    throw new UsageError('--key-passphrase-from-stdin goes with --key (or --new-key): the identity unlocked in the service needs no passphrase.');
  }
}
