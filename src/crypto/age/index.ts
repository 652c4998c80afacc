/**
 * Stored format v2: standard age files (C2SP age.md) with cloudlocker's
 * author stanza, age identity files and public cards. docs/format.md, part 2,
 * is the specification. No I/O except the identity-file functions.
 */
export { AgeError, isAgeError, type AgeFailure } from './errors.js';
export {
  AGE_MAGIC,
  MAX_HEADER_SIZE,
  MAX_STANZAS,
  looksLikeAge,
  parseHeader,
  parseHeaderPrefix,
  type ParsedHeader,
  type Stanza,
} from './header.js';
export {
  AGE_CHUNK_SIZE,
  AGE_STORED_CHUNK_SIZE,
  AGE_TAG_SIZE,
  PAYLOAD_NONCE_SIZE,
  AgePayloadOpener,
  AgePayloadSealer,
  ageChunkCountFor,
  agePlaintextSizeFor,
  ageStoredChunkLength,
  ageStoredChunkOffset,
  ageStoredSizeFor,
} from './payload.js';
export {
  AgeIdentity,
  AgeKeyFormatError,
  CARD_HRP,
  parseCard,
  parseRecipient,
  parseRecipientOrCard,
  type AgeCard,
} from './identity.js';
export { DEFAULT_SCRYPT_LOG_N, MAX_SCRYPT_LOG_N, type AgeRecipientKey, type RecipientType } from './stanzas.js';
export { AUTHOR_STANZA_TYPE, authorKeyOf, type AuthorKey } from './author.js';
export {
  MAX_RECIPIENTS,
  AgeOpener,
  AgeSealer,
  agePrefixLength,
  describeAgePrefix,
  resolveRecipients,
  type AgeHeaderInfo,
  type AgeOpenOptions,
  type AgeSealOptions,
} from './file.js';
export { openAgeBuffer, openAgeBufferWithPassphrase, openAgeStream, sealAgeBuffer, sealAgeStream } from './whole.js';
export {
  createIdentityFile,
  describeAnyKeyFile,
  encryptIdentityText,
  identityFileText,
  parseAnyKeyFile,
  parseIdentityFileText,
  readAnyKeyFile,
  readIdentityFile,
  type AnyKey,
  type CreateIdentityFileOptions,
  type IdentityFileInfo,
} from './identity-file.js';
