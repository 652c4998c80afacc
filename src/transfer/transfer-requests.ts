/**
 * What the transfer engine is asked to do: the requests of an upload and a
 * download, the reservation a request holds while it is checked, and the
 * factory of checkpoints that journals a transfer (resume.ts).
 */
import type { Stats } from 'node:fs';
import type { ObjectInfo } from '../storage/storage.js';
import type { DownloadResult, TransferDirection } from '../../protocol/index.js';
import type { Credentials, EncryptionSpec, StoredHeader } from '../crypto/index.js';
import type { DownloadCheckpoints, ResumedTransfer, UploadCheckpoints } from './checkpoints.js';
import type { SourceFile } from './local-files.js';
import type { GroupCheckpoints } from './transfer-group.js';
import type { GroupParameters } from './transfer-journal.js';

/** Makes the checkpoints of a new transfer; undefined when it cannot be journaled (it then runs without). */
export interface CheckpointFactory {
  upload(transferId: string, request: UploadRequest): Promise<UploadCheckpoints | undefined>;
  download(transferId: string, request: DownloadRequest, sizes: StoredSizes): Promise<DownloadCheckpoints | undefined>;
  /** A transfer group (uploadFolder, downloadFolder): its request journaled, its members logged as they go. */
  group?(transferId: string, request: GroupJournalRequest): Promise<GroupCheckpoints | undefined>;
}

/** What a group's journal record holds (the key by its file's path only). */
export interface GroupJournalRequest {
  readonly direction: TransferDirection;
  readonly name: string;
  readonly totalBytes: number;
  readonly parameters: GroupParameters;
}

/** A stored object's size as the store lists it, and its plaintext size. */
export interface StoredSizes {
  readonly storedSize: number;
  readonly plaintextSize: number;
  /**
   * The header, when it had to be read to learn the plaintext size (a
   * format whose header length varies, such as age): the download uses it
   * rather than reading it a second time. Not yet authenticated.
   */
  readonly header?: StoredHeader;
  /**
   * The whole stored object, when it was small enough to be read at once
   * with its header (TransferEngine.download): its parts are served from
   * it, not read again. Not yet authenticated, like the header.
   */
  readonly storedBytes?: Uint8Array;
}

export interface UploadRequest {
  readonly transferId?: string;
  readonly source: SourceFile;
  readonly name: string;
  readonly overwrite: boolean;
  /** The format to write and what it seals with (v1: v1Encryption(masterKey)). */
  readonly encryption: EncryptionSpec;
  /** Echoed in the result. */
  readonly keyPath: string;
  readonly keyCreated: boolean;
  /**
   * The card id of the age identity it encrypts with (public): journaled, so
   * that a resume can use the unlocked identity when it is this one.
   */
  readonly keyCardId?: string;
  /**
   * The extra recipients the request named (age), journaled with the key
   * path so that a resumed upload that must start its write over seals to
   * the same recipients. Public keys only.
   */
  readonly recipients?: readonly string[];
  /** A transfer resumed after a restart: its checkpoints, start time and bytes already done. */
  readonly resume?: { readonly checkpoints: UploadCheckpoints; readonly resumed: ResumedTransfer };
  /** The id its request reserved (see reserving()); it replaces transferId. */
  readonly reservation?: TransferReservation;
  /**
   * One file of a transfer group (uploadFolder): listed with the group's id,
   * not counted against maxQueuedTransfers (the group feeds its files to the
   * queue a few at a time), and not journaled on its own.
   */
  readonly groupId?: string;
  /**
   * A group member that runs in a slot its group already holds (small files
   * share one, see TransferEngine.inSharedSlot): it does not queue for a
   * slot of its own.
   */
  readonly inGroupSlot?: boolean;
  /** Told what the store answered when the object was published (a group logs its version as the member's proof). */
  readonly onStored?: (stored: ObjectInfo) => void;
}

export interface DownloadRequest {
  readonly transferId?: string;
  readonly name: string;
  readonly destination: string;
  readonly overwrite: boolean;
  /** Create the destination's missing folders instead of answering NOT_FOUND. */
  readonly createDirectories?: boolean;
  /**
   * A folder download's file: what its group's lstat of the destination
   * found a moment before (to journal it), used instead of looking again.
   */
  readonly destinationLooked?: { readonly stats: Stats | undefined };
  /** A folder download's file: its group made the destination's folder (see DestinationOptions.folderReady). */
  readonly destinationFolderReady?: boolean;
  /** What opens the object, whatever its format (v1: masterKeyCredentials(masterKey)). */
  readonly credentials: Credentials;
  /** The key file, journaled so the download can resume after a restart; without it the download is not journaled. */
  readonly keyPath?: string;
  /** The card id of the age identity that opens it (public), journaled as for an upload. */
  readonly keyCardId?: string;
  /** The request accepted an age file without an author stanza: journaled, so a resume opens it the same way. */
  readonly acceptUnauthored?: boolean;
  /** Names the author the opener verified (age), for the result; without it the result names none. */
  readonly describeAuthor?: (cardId: string) => NonNullable<DownloadResult['author']>;
  readonly resume?: { readonly checkpoints: DownloadCheckpoints; readonly resumed: ResumedTransfer };
  readonly reservation?: TransferReservation;
  /** One file of a transfer group (downloadFolder), as for UploadRequest.groupId. */
  readonly groupId?: string;
  /** As for UploadRequest.inGroupSlot. */
  readonly inGroupSlot?: boolean;
  /**
   * The object's stored size as a listing gave it (a folder download): a
   * small object of the local store is then read whole, header and body in
   * one read, without a stat first. Only a hint: the size read is the one used.
   */
  readonly listedStoredSize?: number;
}

/**
 * A transfer's id, held from the moment its request arrived while the
 * request is still being checked (see TransferEngine.reserving). A cancel
 * meanwhile aborts its controller, which the transfer then takes over.
 */
export interface TransferReservation {
  readonly transferId: string;
  readonly direction: TransferDirection;
  readonly name: string;
  readonly abortController: AbortController;
}
