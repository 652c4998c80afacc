/**
 * Format v1 behind the format seam (stored-format.ts): a fixed 96-byte
 * header naming the master key's id, AES-256-GCM chunks. Its encryption spec
 * and its credentials are both a master key.
 */
import { CloudlockerError } from '../../errors.js';
import type { MasterKey } from '../master-key.js';
import { isMasterKey } from '../master-key.js';
import type { ChunkSealer, ChunkOpener, Credentials, EncryptionSpec, HeaderSummary, StoredFormat } from '../stored-format.js';
import { FileDecryptor, FileEncryptor } from './file-cipher.js';
import { FORMAT_VERSION, HEADER_SIZE, HeaderLayout, V1_LAYOUT } from './format.js';
import { MAGIC_HEX, readHeaderInfo } from './header.js';

export const V1_FORMAT_NAME = 'v1';
export const MASTER_KEY_CREDENTIALS = 'master-key';

export interface V1EncryptionSpec extends EncryptionSpec {
  readonly format: typeof V1_FORMAT_NAME;
  readonly key: MasterKey;
}

export interface MasterKeyCredentials extends Credentials {
  readonly kind: typeof MASTER_KEY_CREDENTIALS;
  readonly key: MasterKey;
}

/** Seal new objects as format v1 under `key`. */
export function v1Encryption(key: MasterKey): V1EncryptionSpec {
  return { format: V1_FORMAT_NAME, key };
}

/** Open objects with the master key `key` (format v1). */
export function masterKeyCredentials(key: MasterKey): MasterKeyCredentials {
  return { kind: MASTER_KEY_CREDENTIALS, key };
}

const MAGIC = Buffer.from(MAGIC_HEX, 'hex');

function specKey(spec: EncryptionSpec): MasterKey {
  const key = (spec as Partial<V1EncryptionSpec>).key;
  if (spec.format !== V1_FORMAT_NAME || !isMasterKey(key)) {
    throw new TypeError('format v1 seals with a v1 encryption spec (v1Encryption(masterKey))');
  }
  return key;
}

function credentialKey(credentials: Credentials): MasterKey {
  const key = (credentials as Partial<MasterKeyCredentials>).key;
  if (credentials.kind !== MASTER_KEY_CREDENTIALS || !isMasterKey(key)) {
    throw new CloudlockerError('KEY_MISMATCH', 'This file is in format v1, which opens only with a cloudlocker key file.');
  }
  return key;
}

export const formatV1: StoredFormat = {
  name: V1_FORMAT_NAME,
  formatVersion: FORMAT_VERSION,
  magicLength: HeaderLayout.magic.size,
  detect: (firstBytes) =>
    firstBytes.length >= MAGIC.length && MAGIC.equals(firstBytes.subarray(0, MAGIC.length)),
  fixedHeaderLength: HEADER_SIZE,
  headerReadHint: HEADER_SIZE,
  maxHeaderLength: HEADER_SIZE,
  headerLength: (prefix) => (prefix.length < HEADER_SIZE ? undefined : HEADER_SIZE),
  layoutFor: (headerLength) => {
    if (headerLength !== HEADER_SIZE) throw new RangeError(`a v1 header is ${HEADER_SIZE} bytes, not ${headerLength}`);
    return V1_LAYOUT;
  },
  describe: (header): HeaderSummary => ({ ...readHeaderInfo(header), format: V1_FORMAT_NAME }),
  createSealer: (spec): ChunkSealer => FileEncryptor.create(specKey(spec)),
  resumeSealer: (spec, header): ChunkSealer => FileEncryptor.fromHeader(specKey(spec), header),
  createOpener: (credentials, header): ChunkOpener => FileDecryptor.open(credentialKey(credentials), header),
};
