/**
 * Format v2 (age) behind the format seam (stored-format.ts): a standard age
 * file whose header length varies (text stanzas, then the MAC line, then
 * the 16-byte payload nonce: the "prefix" of file.ts), ChaCha20-Poly1305
 * chunks of 64 KiB. Its encryption spec is the uploader's identity, the
 * extra recipients and the object name (the author stanza binds it); its
 * credentials are an identity, the name asked for, the trusted authors and
 * whether an unauthored file is accepted. Every refusal is an AgeError whose
 * ageReason picks the protocol reason (errors.ts).
 */
import { ChunkedLayout } from '../chunked-layout.js';
import type { ChunkOpener, ChunkSealer, Credentials, EncryptionSpec, HeaderSummary, StoredFormat } from '../stored-format.js';
import { authorKeyOf, type AuthorKey } from './author.js';
import { AgeError } from './errors.js';
import { AgeOpener, AgeSealer, agePrefixLength, describeAgePrefix } from './file.js';
import { AGE_MAGIC, MAX_HEADER_SIZE, looksLikeAge } from './header.js';
import { AgeIdentity } from './identity.js';
import { AGE_CHUNK_SIZE, AGE_MAX_CHUNK_COUNT, AGE_TAG_SIZE, PAYLOAD_NONCE_SIZE } from './payload.js';

export const AGE_FORMAT_NAME = 'age';
export const AGE_IDENTITY_CREDENTIALS = 'age-identity';
/** The version getFileInfo and getServerInfo report for age objects. */
export const AGE_FORMAT_VERSION = 2;

export interface AgeEncryptionSpec extends EncryptionSpec {
  readonly format: typeof AGE_FORMAT_NAME;
  /** The uploader: first recipient and author. */
  readonly identity: AgeIdentity;
  /** The object name the author stanza binds. */
  readonly name: string;
  /** Extra recipients (age1…, age1pq1…, cloudlockercard1…), already checked by resolveRecipients. */
  readonly recipients: readonly string[];
}

export interface AgeIdentityCredentials extends Credentials {
  readonly kind: typeof AGE_IDENTITY_CREDENTIALS;
  readonly identity: AgeIdentity;
  /** The object name asked for: the author must have signed this name. */
  readonly name: string;
  /** Trusted authors; undefined: the identity's own card only (contacts come with the users issue). */
  readonly authors?: readonly AuthorKey[];
  /** Accept a file without an author stanza (a plain age file made elsewhere). */
  readonly acceptUnauthored: boolean;
}

export function ageEncryption(identity: AgeIdentity, name: string, recipients: readonly string[] = []): AgeEncryptionSpec {
  return { format: AGE_FORMAT_NAME, identity, name, recipients };
}

export function ageCredentials(
  identity: AgeIdentity,
  name: string,
  options: { authors?: readonly AuthorKey[]; acceptUnauthored?: boolean } = {},
): AgeIdentityCredentials {
  return {
    kind: AGE_IDENTITY_CREDENTIALS,
    identity,
    name,
    acceptUnauthored: options.acceptUnauthored === true,
    ...(options.authors === undefined ? {} : { authors: options.authors }),
  };
}

/** Chunks of every age object; each object's header length is its own. */
const AGE_CHUNKS = new ChunkedLayout({
  formatLabel: '2 (age)',
  headerLength: AGE_MAGIC.length,
  chunkSize: AGE_CHUNK_SIZE,
  tagSize: AGE_TAG_SIZE,
  maxChunkCount: AGE_MAX_CHUNK_COUNT,
});

function specOf(spec: EncryptionSpec): AgeEncryptionSpec {
  const candidate = spec as Partial<AgeEncryptionSpec>;
  if (spec.format !== AGE_FORMAT_NAME || !(candidate.identity instanceof AgeIdentity) || typeof candidate.name !== 'string') {
    throw new TypeError('format age seals with an age encryption spec (ageEncryption(identity, name, recipients))');
  }
  return candidate as AgeEncryptionSpec;
}

function credentialsOf(credentials: Credentials): AgeIdentityCredentials {
  const candidate = credentials as Partial<AgeIdentityCredentials>;
  if (credentials.kind !== AGE_IDENTITY_CREDENTIALS || !(candidate.identity instanceof AgeIdentity) || typeof candidate.name !== 'string') {
    throw new AgeError('NO_STANZA', 'it is an age file, which opens only with an age identity (this key file holds a v1 key)');
  }
  return candidate as AgeIdentityCredentials;
}

/** A sealer as the seam sees it: the age prefix is the header, the author's card id the key id. */
function asChunkSealer(sealer: AgeSealer, cardId: string): ChunkSealer {
  const layout = AGE_CHUNKS.withHeaderLength(sealer.prefix.length);
  return {
    header: sealer.prefix,
    layout,
    keyId: cardId,
    encryptChunk: (index, plaintext, isFinal, out, outOffset) => sealer.encryptChunk(index, plaintext, isFinal, out, outOffset),
    sealChunksOn: (workers, firstChunk, plaintext, finalChunk, out, outOffset) => sealer.sealChunksOn(workers, firstChunk, plaintext, finalChunk, out, outOffset),
  };
}

export const formatAge: StoredFormat = {
  name: AGE_FORMAT_NAME,
  formatVersion: AGE_FORMAT_VERSION,
  magicLength: AGE_MAGIC.length,
  detect: (firstBytes) => firstBytes.length >= AGE_MAGIC.length && looksLikeAge(firstBytes.subarray(0, AGE_MAGIC.length)),
  fixedHeaderLength: undefined,
  // One X25519 stanza and the author stanza with the MAC line are ~400 bytes; a hybrid stanza is ~1.6 KiB.
  headerReadHint: 4096,
  maxHeaderLength: MAX_HEADER_SIZE + PAYLOAD_NONCE_SIZE,
  headerLength: (prefix) => {
    const length = agePrefixLength(prefix);
    return length === undefined || prefix.length < length ? undefined : length;
  },
  layoutFor: (headerLength) => AGE_CHUNKS.withHeaderLength(headerLength),
  describe: (header): HeaderSummary => {
    const info = describeAgePrefix(header);
    if (info === undefined) throw new AgeError('HEADER_INVALID', 'it ends inside its header');
    return {
      formatVersion: AGE_FORMAT_VERSION,
      format: AGE_FORMAT_NAME,
      keyId: info.authorCardId,
      authorCardId: info.authorCardId,
      stanzaCount: info.stanzaCount,
    };
  },
  createSealer: (spec, plaintextSize): ChunkSealer => {
    const { identity, name, recipients } = specOf(spec);
    return asChunkSealer(AgeSealer.create({ identity, name, recipients, plaintextSize }), identity.card.cardId);
  },
  resumeSealer: (spec, header): ChunkSealer => {
    const { identity, name } = specOf(spec);
    return asChunkSealer(AgeSealer.resume(identity, header, name), identity.card.cardId);
  },
  createOpener: (credentials, header): ChunkOpener => {
    const { identity, name, authors, acceptUnauthored } = credentialsOf(credentials);
    const opener = AgeOpener.open(header, {
      identity,
      name,
      authors: authors ?? [authorKeyOf(identity.card)],
      acceptUnauthored,
    });
    return {
      layout: AGE_CHUNKS.withHeaderLength(opener.prefixLength),
      ...(opener.authorCardId === undefined ? {} : { authorCardId: opener.authorCardId }),
      decryptChunk: (index, stored, isFinal, out, outOffset) => opener.decryptChunk(index, stored, isFinal, out, outOffset),
      openChunksOn: (workers, firstChunk, stored, finalChunk, out, outOffset) => opener.openChunksOn(workers, firstChunk, stored, finalChunk, out, outOffset),
    };
  },
};
