/**
 * The storage contract: what every backend (local directory, S3-compatible
 * store) implements, and how each method fails. The transfer engine is the
 * only caller. Object names are the protocol's remote names, already
 * validated (see protocol/names.ts); backends map them to their own key space
 * safely.
 *
 * Errors: every method rejects with a CloudlockerError whose reason is one of
 * those named beside it, or STORAGE_UNAVAILABLE when the backend itself
 * failed (after its own retries), or CANCELLED when the given signal aborted.
 * Backends never put credentials, keys or local paths of the user into
 * messages.
 */

import type { ObjectMetadata } from './metadata.js';

export type { ObjectMetadata } from './metadata.js';

/** What a backend can do; the conformance suite skips a case only through these. */
export interface StorageCapabilities {
  /** An aborted write is cleaned up on the store (S3: AbortMultipartUpload works). */
  readonly abortCleansUp: boolean;
  /**
   * complete({ overwrite: false }) is atomic against a concurrent writer of
   * the same name, in this process or another (two services sharing a store).
   * S3: found by probing at init() (see docs/storage.md, "No-overwrite").
   */
  readonly atomicNoOverwrite: boolean;
  /**
   * How rewriteHeader moves the payload (found by probing at init() on S3):
   * - "local-copy": copied file to file on this machine (the local store);
   * - "server-side-copy": copied inside the store, never through this
   *   process (S3 UploadPartCopy with CopySourceRange), so a rewrite costs
   *   about what the header costs plus one 5 MiB first part;
   * - "streamed": read from the store and written back through this process
   *   (a store without UploadPartCopy, such as s3rver): costs a download and
   *   an upload of the object;
   * - "in-place": the local store writes a new header of the old one's
   *   length over it in place (crash-safe through a redo record), and falls
   *   back to "local-copy" for a header of another length.
   */
  readonly headerRewrite: HeaderRewriteMethod;
}

export type HeaderRewriteMethod = 'local-copy' | 'server-side-copy' | 'streamed' | 'in-place';

/** rewriteHeader's answer: the new object's info, and how this rewrite kept the payload when the backend says. */
export interface RewrittenObjectInfo extends ObjectInfo {
  readonly headerRewrite?: HeaderRewriteMethod;
}

export interface RewriteHeaderOptions {
  readonly signal?: AbortSignal;
  /**
   * Told how many payload bytes are in the new object so far, of `total`:
   * once with 0 when the copy starts (the version checked), then as it goes,
   * last with `total` just before publishing. A returned promise is awaited
   * before the rewrite goes on (pacing; tests act mid-rewrite with it).
   */
  readonly onProgress?: (done: number, total: number) => void | Promise<void>;
}

/** A stored object opened for reading (Storage.openReader). */
export interface ObjectReader {
  /**
   * Reads `target.length` bytes of the object starting at `offset` into
   * `target` and resolves with how many it read: fewer only when the object
   * ends first. Rejects as readRangeInto does.
   */
  readInto(offset: number, target: Uint8Array, signal?: AbortSignal): Promise<number>;
  /** Releases the object; never rejects. Reads after it reject. */
  close(): Promise<void>;
}

export interface ObjectInfo {
  readonly name: string;
  /** Stored (encrypted) size in bytes. */
  readonly storedSize: number;
  readonly modifiedAt: Date;
  /**
   * Changes whenever the object's content is replaced (S3: its ETag; local:
   * derived from the file's identity, size and modification time). Opaque:
   * compare for equality only. Undefined where the store gave none.
   */
  readonly version?: string;
  /**
   * The object's user metadata (metadata.ts: non-secret, unauthenticated,
   * checked when read back): from stat(), complete() and rewriteHeader();
   * list() does not give it. Undefined when the object has none.
   */
  readonly metadata?: ObjectMetadata;
}

export interface ListOptions {
  /** Only names that start with this string (byte-wise, not segment-wise). */
  readonly prefix?: string;
  /** Opaque cursor from a previous page's nextCursor. */
  readonly cursor?: string;
  /** Page size, 1..1000. */
  readonly limit: number;
  /**
   * "/": a folder view. Names with a "/" after the prefix are not listed one
   * by one but rolled up into one folder (the prefix up to and including
   * that "/"), as S3's Delimiter does. Files and folders share the page, in
   * one byte order: the page holds at most `limit` of them together, and
   * may hold fewer though more follow (only nextCursor null ends a listing).
   */
  readonly delimiter?: '/';
}

/** A folder of a delimited listing. */
export interface FolderInfo {
  /** The folder's prefix, ending with "/" (e.g. "reports/2026/"). */
  readonly name: string;
  /** How many objects lie under it at any depth, where the backend counts them cheaply (local); undefined elsewhere. */
  readonly objectCount?: number;
}

export interface ListPage {
  /** Sorted by name in UTF-8 byte order (the order S3 uses). */
  readonly objects: ObjectInfo[];
  /** With a delimiter: the folders of the page, sorted the same way; undefined without one. */
  readonly folders?: FolderInfo[];
  /** null on the last page. */
  readonly nextCursor: string | null;
}

export interface WriteOptions {
  readonly signal?: AbortSignal;
  /**
   * The object's final size if known. Lets a backend choose between a single
   * PUT and a multipart upload.
   */
  readonly expectedSize?: number;
  /**
   * User metadata for the object (rules in metadata.ts; InvalidParamsError,
   * param "metadata", when broken). Kept with the object from complete() on.
   * resumeWrite must be given the same (S3 keeps what beginWrite gave).
   */
  readonly metadata?: ObjectMetadata;
}

/**
 * A write in progress. The object is invisible (to stat, list, read) until
 * complete() resolves, and stays invisible for ever if abort() is called or
 * the process dies. Parts are numbered from 0 and cover the object
 * contiguously: part i starts at `offset` and every part except the last is
 * at least `minPartSize` bytes. Parts may be written in any order and
 * concurrently.
 */
export interface CompleteOptions {
  readonly overwrite: boolean;
  /** Publish only over the object of this version (implies overwrite); see ObjectWriter.complete. */
  readonly ifVersion?: string;
}

export interface ObjectWriter {
  /** Smallest size every part except the last must have (S3: 5 MiB; local: 1). */
  readonly minPartSize: number;
  /** Most parts one object may have (S3: 10 000); undefined when there is no limit. */
  readonly maxParts?: number;
  /**
   * The caller reuses `data` once the promise settles: a backend that needs
   * the bytes later (to buffer a small object) copies them.
   * Rejects: NO_SPACE, PERMISSION_DENIED, STORAGE_UNAVAILABLE, CANCELLED.
   */
  writePart(partIndex: number, offset: number, data: Uint8Array): Promise<void>;
  /**
   * Publish the object atomically. With overwrite false and an object of that
   * name already present: ALREADY_EXISTS (and the write is aborted).
   * With `ifVersion`, replace only the object whose ObjectInfo.version is
   * `ifVersion` (a read-modify-write such as unshareFile): any other object
   * or none at the name gives SOURCE_CHANGED and the write is aborted. It
   * holds as rewriteHeader's publish does (local: under the name's lock;
   * S3: If-Match where honoured, else the name's claim around a check).
   * Rejects: ALREADY_EXISTS, SOURCE_CHANGED, NO_SPACE, STORAGE_UNAVAILABLE, CANCELLED.
   */
  complete(options: CompleteOptions): Promise<ObjectInfo>;
  /** Discard everything written. Never rejects; safe to call twice or after a failure. */
  abort(): Promise<void>;

  // -- Resuming after a restart (see Storage.resumeWrite) --------------------

  /**
   * What Storage.resumeWrite needs to continue this write in another process
   * (local: the temporary's file name; S3: the multipart upload id), or
   * undefined while nothing written could be resumed (S3: before the
   * multipart upload exists, or an object small enough to be buffered whole
   * for one PUT). Not a secret; the caller keeps it in its journal. May
   * change from undefined to a value once, after a writePart resolves.
   */
  readonly resumeToken?: string | undefined;
  /**
   * What the store needs to know of part `partIndex`, once its writePart has
   * resolved, to publish the object after a resume (S3: the part's ETag,
   * since not every S3-compatible server offers ListParts); undefined when
   * nothing is needed (local). The caller keeps it beside the part.
   */
  partReceipt?(partIndex: number): string | undefined;
  /**
   * Stop using this writer but keep what it wrote, so that a later
   * Storage.resumeWrite(name, resumeToken) can continue it (a clean shutdown
   * with transfers under way). Waits for writes in flight; the writer is
   * unusable afterwards. Never rejects. Without a resumeToken this is abort().
   */
  suspend?(): Promise<void>;
}

/** A part a resumed write already holds, as the caller journaled it. */
export interface ResumedPart {
  readonly partIndex: number;
  readonly offset: number;
  readonly length: number;
  /** What partReceipt() gave for it (S3: the ETag). */
  readonly receipt?: string;
}

export interface ResumeWriteOptions extends WriteOptions {
  /** The parts that were written before, which complete() includes without their being written again. */
  readonly parts: readonly ResumedPart[];
}

export interface InitOptions {
  /**
   * resumeTokens of unfinished writes that must survive init(): the transfer
   * journal hands over those it may resume. Everything else a crashed run
   * left behind is removed as before (S3: only stale uploads, by age).
   */
  readonly keepWrites?: readonly string[];
}

export interface Storage {
  /** "local" or "s3". */
  readonly kind: string;
  /** Where objects go, for getServerInfo: a directory or s3://bucket/prefix. No credentials. */
  readonly location: string;
  /** Settled by init() where the backend probes its store (S3). */
  readonly capabilities: StorageCapabilities;
  /**
   * What init() found that the user should know (e.g. no-overwrite cannot be
   * made atomic on this store), for the log and getServerInfo. Empty when
   * nothing; no credentials.
   */
  readonly warnings?: readonly string[];
  /**
   * Optional: ranged reads of about this many bytes amortise the store's cost
   * per request (S3: one HTTP request per read), so downloads read in parts
   * at least this large. Undefined: no preference (the local store).
   */
  readonly preferredReadSize?: number;

  /**
   * Remove leftovers of a crashed run (temporaries, stale multipart uploads),
   * except the writes named in `keepWrites`.
   */
  init(options?: InitOptions): Promise<void>;

  /** Start writing `name`. Rejects: PERMISSION_DENIED, NO_SPACE, STORAGE_UNAVAILABLE. */
  beginWrite(name: string, options?: WriteOptions): Promise<ObjectWriter>;

  /**
   * Continue a write begun by beginWrite (in this or an earlier process)
   * whose writer's resumeToken was `resumeToken`. The new writer knows
   * `options.parts` as written: complete() publishes them with whatever
   * parts are written through it; parts may also be written again. The
   * caller must pass only parts whose writePart had resolved, and with the
   * same offsets and lengths. Its own resumeToken is `resumeToken`.
   * Rejects: NOT_FOUND when the store no longer holds that write (removed by
   * init(), aborted, expired) — the caller then starts again with
   * beginWrite; PERMISSION_DENIED, STORAGE_UNAVAILABLE, CANCELLED.
   */
  resumeWrite(name: string, resumeToken: string, options: ResumeWriteOptions): Promise<ObjectWriter>;

  /**
   * Discard an unfinished write known only by its resumeToken (cancelling an
   * interrupted transfer). Never rejects; a token the store no longer knows
   * is ignored.
   */
  discardWrite(name: string, resumeToken: string): Promise<void>;

  /**
   * Exactly `length` bytes starting at `offset`, or fewer only when the object
   * ends first. Rejects: NOT_FOUND, STORAGE_UNAVAILABLE, CANCELLED.
   */
  readRange(name: string, offset: number, length: number, signal?: AbortSignal): Promise<Uint8Array>;

  /**
   * Optional: readRange into the caller's buffer, so that a download can
   * reuse its part buffers instead of the backend allocating one per part
   * (on the local store that halves what a download allocates, and with it
   * the garbage collector's work and the server's peak memory). Reads
   * `target.length` bytes starting at `offset` and resolves with how many it
   * read: fewer only when the object ends first. Rejects as readRange does.
   */
  readRangeInto?(name: string, offset: number, target: Uint8Array, signal?: AbortSignal): Promise<number>;

  /**
   * Optional: open `name` once for many readRangeInto-style reads (a
   * download's parts), instead of finding, opening and closing the object
   * for each. The reader reads the object as it was when opened, whatever
   * happens to the name afterwards. Rejects: NOT_FOUND, STORAGE_UNAVAILABLE,
   * CANCELLED. The caller closes it.
   */
  openReader?(name: string, signal?: AbortSignal): Promise<ObjectReader>;

  /**
   * Optional: readRange as the bytes arrive, for a store that sends them
   * over a network (S3), so a download decrypts and writes while the rest is
   * still on its way and never holds a whole range. Yields the bytes of
   * [offset, offset + length) in order: all of them, or fewer only when the
   * object ends first. A connection that breaks off mid-body is retried from
   * where it stopped, as readRange retries. Rejects (the request, or the
   * iteration) as readRange does. Stopping the iteration early releases the
   * request. With it, downloads read parts of about preferredReadSize.
   * Each yielded piece is valid only until the next one is asked for (the
   * backend may read the next bytes into the same memory): a caller that
   * keeps a piece past that copies it.
   */
  readRangeStream?(name: string, offset: number, length: number, signal?: AbortSignal): AsyncIterable<Uint8Array>;

  /** Rejects: NOT_FOUND, STORAGE_UNAVAILABLE. */
  stat(name: string): Promise<ObjectInfo>;

  /**
   * Rejects: STORAGE_UNAVAILABLE; a cursor this backend did not produce
   * rejects with InvalidParamsError (-32602).
   */
  list(options: ListOptions): Promise<ListPage>;

  /** Rejects: NOT_FOUND, STORAGE_UNAVAILABLE. */
  delete(name: string): Promise<void>;

  /**
   * Replace the first `oldHeaderLength` bytes of the object `name` with
   * `newHeader` (of any length), keeping the rest of the object (the
   * payload) byte for byte, provided the object is still the one whose
   * ObjectInfo.version is `expectedVersion`. What sharing a file needs:
   * only the encrypted file's header changes.
   *
   * The object's user metadata is kept as it was.
   *
   * All or nothing: a reader sees the old object or the new one, never a
   * mix; on any failure, cancel or crash the old object stays as it was.
   * The payload comes from the version read: if the object is replaced
   * before or during the rewrite, it rejects with SOURCE_CHANGED and changes
   * nothing. How strongly the final "still that version?" check holds
   * against a concurrent writer in another process is the store's (see
   * docs/storage.md, "Rewriting a header"). Resolves with the new object's
   * info (a new version). `oldHeaderLength` beyond the object's size is a
   * RangeError (the caller's bug: it read the header from that version).
   *
   * Rejects: NOT_FOUND, SOURCE_CHANGED, PERMISSION_DENIED, NO_SPACE, STORAGE_UNAVAILABLE, CANCELLED.
   */
  rewriteHeader(
    name: string,
    expectedVersion: string,
    oldHeaderLength: number,
    newHeader: Uint8Array,
    options?: RewriteHeaderOptions,
  ): Promise<RewrittenObjectInfo>;

  /** Release sockets and handles. */
  close(): Promise<void>;
}
