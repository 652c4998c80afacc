/**
 * What a key file's key does at the format seam. A key file holds a v1
 * master key: objects sealed with it are written in format v1, and it opens
 * v1 objects. Callers above crypto/ (the upload and download methods, a
 * resumed transfer) go through these two functions and so name no format;
 * a key file that holds another kind of key (an age identity) changes them,
 * not their callers.
 */
import type { MasterKey } from './master-key.js';
import type { Credentials, EncryptionSpec, StoredFormat } from './stored-format.js';
import { formatV1, masterKeyCredentials, v1Encryption } from './v1/v1-format.js';

/** The format objects sealed with a key file's key are written in (getServerInfo reports its version). */
export const keyFileFormat: StoredFormat = formatV1;

/** How new objects are sealed with a key file's key. */
export function keyFileEncryption(key: MasterKey): EncryptionSpec {
  return v1Encryption(key);
}

/** What a key file's key opens. */
export function keyFileCredentials(key: MasterKey): Credentials {
  return masterKeyCredentials(key);
}
