/**
 * What the transfer engine asks of a transfer that can resume after a
 * restart (journal-checkpoints.ts implements these over the transfer
 * journal; resume.ts hands them out).
 * A transfer without checkpoints runs exactly as before.
 */
import type { ReadTarget } from '../fs/read-fully.js';
import type { DestinationFile } from './local-files.js';
import type { DownloadResult, ErrorObject, TransferOutcome, UploadResult } from '../../protocol/index.js';
import type { ChunkedLayout, ChunkSealer, EncryptionSpec, FormatRegistry } from '../crypto/index.js';
import type { ObjectWriter, Storage } from '../storage/storage.js';

/** The abort reason of a transfer stopped by a server shutdown: it is kept to resume, not cancelled. */
export class TransferInterruption extends Error {
  override readonly name = 'TransferInterruption';
  constructor() {
    super('The server is shutting down; the transfer resumes when it starts again.');
  }
}

export function isInterruption(signal: AbortSignal): boolean {
  return signal.aborted && signal.reason instanceof TransferInterruption;
}

export interface TransferCheckpoints {
  /** Whether the part was done before a restart (the engine skips it). Valid once prepare() resolved. */
  isDone(partIndex: number): boolean;
  /** The part is durably stored (upload: the store acknowledged it) or written to the temporary (download). */
  partDone(partIndex: number, writer?: ObjectWriter): Promise<void>;
  /** The object (upload) or file (download) is about to be published: after a crash from here on, it may already be complete. */
  committing?(): Promise<void>;
  /** Record the outcome before anyone is told of it. */
  finish(outcome: TransferOutcome, detail: { result?: UploadResult | DownloadResult; error?: ErrorObject }): Promise<void>;
}

export interface UploadPreparation {
  readonly storage: Storage;
  readonly formats: FormatRegistry;
  /** What a new write seals with; a resumed one must be sealed with the same (its header is checked against it). */
  readonly encryption: EncryptionSpec;
  /** The open source (reads only). */
  readonly source: ReadTarget;
  readonly signal: AbortSignal;
  /** The source's size; the stored size follows from the sealer's layout. */
  readonly plaintextSize: number;
  /** Format chunks per part the engine chooses for a new write (from its minimum part size and part cap). */
  readonly chunksPerPartFor: (writer: ObjectWriter, chunks: ChunkedLayout) => number;
}

export interface PreparedUpload {
  readonly encryptor: ChunkSealer;
  readonly writer: ObjectWriter;
  readonly chunksPerPart: number;
}

export interface UploadCheckpoints extends TransferCheckpoints {
  /**
   * Fresh start: a new encryptor and writer, journaled. Resume: the journaled
   * encryptor (from its header) and the store's unfinished write, after
   * checking the source is unchanged (SOURCE_CHANGED otherwise, and the
   * partial object is discarded).
   */
  prepare(context: UploadPreparation): Promise<PreparedUpload>;
  /**
   * The part is encrypted and about to be written; `tagDigest` is
   * partTagDigest of its stored bytes, which identifies its plaintext under
   * this upload's key (see part-seal.ts).
   */
  partSealed(partIndex: number, tagDigest: Uint8Array): Promise<void>;
}

export interface DownloadPreparation {
  /** The stored object's authenticated header (all the bytes before its first chunk). */
  readonly header: Uint8Array;
  /** Its chunks, as its format lays them out after that header. */
  readonly chunks: ChunkedLayout;
  /** The resolved target file and its temporary beside it. */
  readonly target: string;
  readonly tempPath: string;
  readonly preferredChunksPerPart: number;
}

export interface DownloadCheckpoints extends TransferCheckpoints {
  /** The temporary to write into (kept from before a restart when the object is the same) and the part layout. */
  prepare(context: DownloadPreparation): Promise<{ readonly temp: DestinationFile; readonly chunksPerPart: number }>;
}

/** A resumed transfer keeps its id, start time and the counters of the parts already done. */
export interface ResumedTransfer {
  readonly startedAt: number;
  readonly doneBytes: number;
}
