/**
 * The format seam: what the transfer engine, the resume journal and the
 * methods may know of a stored-file format. Each format lives in its own
 * folder (src/crypto/v1/, later src/crypto/age/) and is one entry in the
 * registry (formats.ts); nothing above crypto/ names a format's constants or
 * classes.
 *
 * Every format here is chunked the same way (chunked-layout.ts: fixed-size
 * chunks each with a tag, STREAM nonces, an empty file one empty chunk), so
 * the engine can seal and open chunk i anywhere in any order into its pooled
 * buffers; what varies is the header before the chunks, how the payload key
 * is reached, and the cipher.
 */
import type { ChunkedLayout } from './chunked-layout.js';
import type { PayloadWorkers } from './payload-workers.js';

/**
 * What a writer needs to seal a new object: the format (by name, as
 * registered) and that format's own parameters. v1: a master key
 * (v1Encryption). age will carry its recipients, the author's signing key and
 * the object name.
 */
export interface EncryptionSpec {
  readonly format: string;
}

/**
 * What a reader holds to open objects: a format looks for the credential it
 * needs in here and refuses (KEY_MISMATCH) when there is none that fits.
 * v1: a master key (v1Credentials); age: identities.
 */
export interface Credentials {
  readonly kind: string;
}

/** Seals the chunks of one new object (or of one resumed upload, from its header). */
export interface ChunkSealer {
  /** The bytes before the first chunk (layout.headerLength of them), written at offset 0. Holds no secret. */
  readonly header: Buffer;
  readonly layout: ChunkedLayout;
  /** Reported in the upload's result. */
  readonly keyId: string;
  /**
   * Seals chunk `index` (layout.chunkSize bytes, the final one 1..chunkSize,
   * 0 only for an empty file) into `out` at `outOffset` when given, without
   * allocating, and returns those stored bytes. Sealing an index again is
   * allowed only with the same plaintext (SOURCE_CHANGED otherwise).
   */
  encryptChunk(index: number, plaintext: Uint8Array, isFinal: boolean, out?: Buffer, outOffset?: number): Buffer;
  /**
   * Seals the consecutive chunks from `firstChunk` whose plaintext is all of
   * `plaintext` into `out` at `outOffset` on a thread of `workers`, and
   * resolves to the stored bytes written; `finalChunk` is the object's last
   * chunk index. Absent, or undefined returned, when this format or these
   * buffers cannot (payload-workers.ts): the caller seals with encryptChunk.
   */
  sealChunksOn?(workers: PayloadWorkers, firstChunk: number, plaintext: Uint8Array, finalChunk: number, out: Buffer, outOffset: number): Promise<number> | undefined;
}

/** Opens the chunks of one stored object whose header authenticated. */
export interface ChunkOpener {
  readonly layout: ChunkedLayout;
  /** age: the card id of the author whose stanza verified; undefined for v1 and for an accepted unauthored file. */
  readonly authorCardId?: string;
  /**
   * Authenticates and decrypts chunk `index` (its stored bytes) into `out`
   * at `outOffset` when given; INTEGRITY on any failure, and then nothing has
   * been written. `isFinal` is true exactly for the last chunk as the stored
   * size makes it.
   */
  decryptChunk(index: number, storedChunk: Uint8Array, isFinal: boolean, out?: Buffer, outOffset?: number): Buffer;
  /**
   * Authenticates and decrypts the consecutive chunks from `firstChunk`
   * whose stored bytes are all of `stored` into `out` at `outOffset` on a
   * thread of `workers`, and resolves to the plaintext bytes written; the
   * same failures as decryptChunk, for the first chunk that fails.
   * `finalChunk` is the object's last chunk index. Absent, or undefined
   * returned, when this format or these buffers cannot: the caller opens
   * with decryptChunk.
   */
  openChunksOn?(workers: PayloadWorkers, firstChunk: number, stored: Uint8Array, finalChunk: number, out: Buffer, outOffset: number): Promise<number> | undefined;
}

/** What can be read from a header without any key (getFileInfo). Not authenticated. */
export interface HeaderSummary {
  readonly formatVersion: number;
  /** The format's registered name ('v1', 'age'). */
  readonly format: string;
  /**
   * v1: the master key's id. age: the author's card id, when the header
   * names one (a plain age file has none).
   */
  readonly keyId: string | undefined;
  /** age: the card id its author stanza names (not verified without the key). */
  readonly authorCardId?: string;
  /** age: how many stanzas its header holds (recipients and author). */
  readonly stanzaCount?: number;
}

export interface StoredFormat {
  /** The name an EncryptionSpec chooses it by ('v1', 'age'). */
  readonly name: string;
  /** The version getFileInfo reports for its objects. */
  readonly formatVersion: number;
  /** How many first bytes detect() looks at. */
  readonly magicLength: number;
  /** Whether an object starting with these bytes (at least magicLength of them) is of this format. */
  detect(firstBytes: Uint8Array): boolean;
  /**
   * The header's length when every object of this format has the same
   * (v1: 96); undefined when it is known only once the header is parsed
   * (age: text lines ending in "--- <mac>", then the payload nonce). When
   * defined, the plaintext size follows from the stored size alone.
   */
  readonly fixedHeaderLength: number | undefined;
  /** Bytes a reader fetches first when looking for a header of this format. */
  readonly headerReadHint: number;
  /** The longest header accepted: a reader gives up (INTEGRITY) beyond it. */
  readonly maxHeaderLength: number;
  /**
   * Length of the header at the start of `prefix` (everything before the
   * first chunk), or undefined when `prefix` ends before the header does.
   * INTEGRITY when these bytes cannot start an object of this format.
   */
  headerLength(prefix: Uint8Array): number | undefined;
  /** The layout of an object whose header is `headerLength` bytes long. */
  layoutFor(headerLength: number): ChunkedLayout;
  /** The header's non-secret facts, checking what can be checked without a key. */
  describe(header: Uint8Array): HeaderSummary;
  /**
   * A sealer for a new object (a fresh header and payload key). With the
   * plaintext size known, a format may shape its header for it (age: a
   * header slot for large objects, so that sharing can rewrite the header in place).
   */
  createSealer(spec: EncryptionSpec, plaintextSize?: number): ChunkSealer;
  /** The sealer of an interrupted upload, from the header it wrote and the same spec (KEY_MISMATCH, INTEGRITY). */
  resumeSealer(spec: EncryptionSpec, header: Uint8Array): ChunkSealer;
  /** Authenticates `header` with the credentials and returns the opener (KEY_MISMATCH, INTEGRITY). */
  createOpener(credentials: Credentials, header: Uint8Array): ChunkOpener;
}
