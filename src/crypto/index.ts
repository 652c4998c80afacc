/**
 * The crypto layer: the format seam (stored-format.ts, formats.ts), the
 * stored-file formats behind it (v1/), and key files. No I/O beyond what
 * it is handed (buffers, async iterables, a positioned reader), except the
 * key-file functions, which read and write the one file they are given.
 */
// Types only: stored-format.ts has no run-time code.
export type {
  ChunkOpener,
  ChunkSealer,
  Credentials,
  EncryptionSpec,
  HeaderSummary,
  StoredFormat,
} from './stored-format.js';
export { ChunkedLayout, type ChunkGeometry } from './chunked-layout.js';
export { FormatRegistry, storedFormats, type HeaderReader, type StoredHeader } from './formats.js';
export {
  formatV1,
  masterKeyCredentials,
  v1Encryption,
  type MasterKeyCredentials,
  type V1EncryptionSpec,
} from './v1/v1-format.js';
export {
  DEFAULT_NEW_KEY_TYPE,
  NEW_KEY_TYPES,
  createNewKeyFile,
  keyFileCredentials,
  keyFileEncryption,
  keyFileFormat,
  loadKeyFile,
  publicFacts,
  refuseMalformedName,
  refuseRecipientsForNewKey,
  type CreatedKeyFile,
  type LoadedKey,
  type NewKeyType,
  type OpeningContext,
  type SealingContext,
} from './key-file-formats.js';
export * from './v1/format.js';
export { MAGIC_HEX, readHeaderInfo } from './v1/header.js';
export { FileDecryptor, FileEncryptor } from './v1/file-cipher.js';
export { decryptBuffer, encryptBuffer } from './v1/whole-buffer.js';
export { decryptStream, encryptStream, type ByteSource } from './v1/stream.js';
export { decryptRange, type PlaintextRange, type PositionedReader } from './v1/ranged-read.js';
export { generateMasterKey, importMasterKey, isMasterKey, type MasterKey } from './master-key.js';
export { systemRandom, type RandomSource } from './random.js';
export {
  createKeyFile,
  describeKeyFile,
  inspectKeyFile,
  parseKeyFile,
  readKeyFile,
  KEY_FILE_MODE,
  KEY_FILE_TYPE,
  KEY_FILE_VERSION,
  MAX_KEY_FILE_SIZE,
  type CreateKeyFileOptions,
  type KeyFileInfo,
  type KeyFileJson,
} from './key-file.js';
export { DEFAULT_SCRYPT_PARAMS, SCRYPT_LIMITS, type ScryptParams, type WrappedKeyJson } from './key-wrap.js';
