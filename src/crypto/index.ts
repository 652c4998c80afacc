/**
 * The crypto layer: stored-file format v1 and key files. No I/O beyond what
 * it is handed (buffers, async iterables, a positioned reader), except the
 * key-file functions, which read and write the one file they are given.
 */
export * from './format.js';
export { MAGIC_HEX, readHeaderInfo } from './header.js';
export { FileDecryptor, FileEncryptor } from './file-cipher.js';
export { decryptBuffer, encryptBuffer } from './whole-buffer.js';
export { decryptStream, encryptStream, type ByteSource } from './stream.js';
export { decryptRange, type PlaintextRange, type PositionedReader } from './ranged-read.js';
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
