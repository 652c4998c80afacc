/**
 * Every method and notification of protocol v1 as a typed descriptor, in the
 * manner of vscode-languageserver's protocol package: a method literal, the
 * params and result schemas, the application errors it can answer with, and
 * phantom params/result types so that `client.request(Upload, params)` infers
 * its result type.
 */
import type { ErrorReason } from './errors.js';
import * as S from './schemas.js';
import * as U from './user-schemas.js';
import type * as T from './types.js';

/** A JSON Schema object as these descriptors hold them (plain data). */
export type JsonSchema = { readonly [keyword: string]: unknown };

export interface MethodDescriptor<M extends string = string, P = unknown, R = unknown> {
  readonly kind: 'method';
  readonly method: M;
  readonly summary: string;
  readonly paramsSchema: JsonSchema;
  readonly resultSchema: JsonSchema;
  /** Application errors this method can answer with, besides the JSON-RPC ones. */
  readonly errors: readonly ErrorReason[];
  /** Phantom member: carries the types, never set at run time. */
  readonly __types?: { readonly params: P; readonly result: R };
}

export interface NotificationDescriptor<M extends string = string, P = unknown> {
  readonly kind: 'notification';
  readonly method: M;
  readonly summary: string;
  readonly paramsSchema: JsonSchema;
  readonly __types?: { readonly params: P };
}

export type ParamsOf<D> =
  D extends MethodDescriptor<string, infer P, unknown> ? P : D extends NotificationDescriptor<string, infer P> ? P : never;
export type ResultOf<D> = D extends MethodDescriptor<string, unknown, infer R> ? R : never;

function defineMethod<P, R>() {
  return <const M extends string>(descriptor: Omit<MethodDescriptor<M, P, R>, 'kind' | '__types'>): MethodDescriptor<M, P, R> => ({
    kind: 'method',
    ...descriptor,
  });
}

function defineNotification<P>() {
  return <const M extends string>(
    descriptor: Omit<NotificationDescriptor<M, P>, 'kind' | '__types'>,
  ): NotificationDescriptor<M, P> => ({ kind: 'notification', ...descriptor });
}

const TRANSFER_ERRORS = [
  'NOT_FOUND',
  'ALREADY_EXISTS',
  'KEY_INVALID',
  'STORAGE_UNAVAILABLE',
  'CANCELLED',
  'PERMISSION_DENIED',
  'NO_SPACE',
  'BUSY',
] as const satisfies readonly ErrorReason[];

export const Upload = defineMethod<T.UploadParams, T.UploadResult>()({
  method: 'upload',
  summary: 'Encrypt a local file and store it; answers when the transfer has finished.',
  paramsSchema: S.uploadParamsSchema,
  resultSchema: S.uploadResultSchema,
  errors: [...TRANSFER_ERRORS, 'SOURCE_CHANGED', 'LOCKED'],
});

/** What refuses an age (format v2) object on reading, besides INTEGRITY. */
const AGE_READ_ERRORS = ['NOT_A_RECIPIENT', 'AUTHOR_MISSING', 'AUTHOR_UNKNOWN', 'AUTHOR_INVALID', 'WRONG_NAME'] as const satisfies readonly ErrorReason[];

export const Download = defineMethod<T.DownloadParams, T.DownloadResult>()({
  method: 'download',
  summary: 'Fetch, authenticate and decrypt a stored file to a local path; answers when the transfer has finished.',
  paramsSchema: S.downloadParamsSchema,
  resultSchema: S.downloadResultSchema,
  errors: [...TRANSFER_ERRORS, 'KEY_MISMATCH', 'INTEGRITY', ...AGE_READ_ERRORS, 'LOCKED'],
});

export const UploadFolder = defineMethod<T.UploadFolderParams, T.UploadFolderResult>()({
  method: 'uploadFolder',
  summary:
    'Encrypt and store every regular file under a local folder as <name>/<relative path>, as one transfer group; answers when every file has been tried.',
  paramsSchema: S.uploadFolderParamsSchema,
  resultSchema: S.uploadFolderResultSchema,
  errors: [...TRANSFER_ERRORS, 'LOCKED'],
});

export const DownloadFolder = defineMethod<T.DownloadFolderParams, T.DownloadFolderResult>()({
  method: 'downloadFolder',
  summary:
    'Fetch, authenticate and decrypt every stored file under <name>/ into a local folder, recreating the tree, as one transfer group; answers when every file has been tried.',
  paramsSchema: S.downloadFolderParamsSchema,
  resultSchema: S.downloadFolderResultSchema,
  errors: [...TRANSFER_ERRORS, 'KEY_MISMATCH', 'INTEGRITY', 'LOCKED'],
});

export const ListFiles = defineMethod<T.ListFilesParams, T.ListFilesResult>()({
  method: 'listFiles',
  summary: 'List stored files sorted by name, a page at a time.',
  paramsSchema: S.listFilesParamsSchema,
  resultSchema: S.listFilesResultSchema,
  errors: ['STORAGE_UNAVAILABLE'],
});

export const GetFileInfo = defineMethod<T.GetFileInfoParams, T.GetFileInfoResult>()({
  method: 'getFileInfo',
  summary: "A stored file's sizes, date, format, key id or author card id and stanza count (reads its header, needs no key).",
  paramsSchema: S.getFileInfoParamsSchema,
  resultSchema: S.getFileInfoResultSchema,
  errors: ['NOT_FOUND', 'INTEGRITY', 'STORAGE_UNAVAILABLE'],
});

export const DeleteFile = defineMethod<T.DeleteFileParams, T.DeleteFileResult>()({
  method: 'deleteFile',
  summary: 'Delete a stored file, or with recursive a folder (with deleteProgress notifications and the count).',
  paramsSchema: S.deleteFileParamsSchema,
  resultSchema: S.deleteFileResultSchema,
  errors: ['NOT_FOUND', 'STORAGE_UNAVAILABLE'],
});

export const CreateKey = defineMethod<T.CreateKeyParams, T.CreateKeyResult>()({
  method: 'createKey',
  summary:
    'Create a new key file (mode 0600): an age identity (X25519 by default, or post-quantum hybrid), or a v1 key file when asked; optionally protected by a passphrase; never overwrites.',
  paramsSchema: S.createKeyParamsSchema,
  resultSchema: S.createKeyResultSchema,
  errors: ['ALREADY_EXISTS', 'NOT_FOUND', 'PERMISSION_DENIED', 'NO_SPACE'],
});

export const GetIdentity = defineMethod<T.GetIdentityParams, T.GetIdentityResult>()({
  method: 'getIdentity',
  summary:
    "An age identity file's public side: its recipient and public card (never the secret); without keyPath, the unlocked identity's (LOCKED when none is).",
  paramsSchema: S.getIdentityParamsSchema,
  resultSchema: S.getIdentityResultSchema,
  errors: ['NOT_FOUND', 'KEY_INVALID', 'PERMISSION_DENIED', 'LOCKED'],
});

export const CancelTransfer = defineMethod<T.CancelTransferParams, T.CancelTransferResult>()({
  method: 'cancelTransfer',
  summary:
    'Cancel a queued, running or interrupted transfer; its own request then answers with CANCELLED. An interrupted one is cleaned up: its partial object or temporary file and its journal entry are removed.',
  paramsSchema: S.cancelTransferParamsSchema,
  resultSchema: S.cancelTransferResultSchema,
  errors: ['NOT_FOUND'],
});

export const ResumeTransfer = defineMethod<T.ResumeTransferParams, T.ResumeTransferResult>()({
  method: 'resumeTransfer',
  summary:
    "Resume an interrupted transfer under its own transferId, from the parts already done; answers when it has finished, like the upload or download that started it.",
  paramsSchema: S.resumeTransferParamsSchema,
  resultSchema: S.resumeTransferResultSchema,
  errors: [...TRANSFER_ERRORS, 'KEY_MISMATCH', 'INTEGRITY', 'SOURCE_CHANGED', ...AGE_READ_ERRORS],
});

export const AcknowledgeTransfers = defineMethod<T.AcknowledgeTransfersParams, T.AcknowledgeTransfersResult>()({
  method: 'acknowledgeTransfers',
  summary:
    'Forget finished transfers: they are kept (also across restarts) until acknowledged or for 24 hours, so a client that was away learns how they ended.',
  paramsSchema: S.acknowledgeTransfersParamsSchema,
  resultSchema: S.acknowledgeTransfersResultSchema,
  errors: [],
});

export const ListTransfers = defineMethod<T.ListTransfersParams, T.ListTransfersResult>()({
  method: 'listTransfers',
  summary: 'Current and recently finished transfers; with sinceSeq, only those changed after that seq.',
  paramsSchema: S.listTransfersParamsSchema,
  resultSchema: S.listTransfersResultSchema,
  errors: [],
});

export const GetServerInfo = defineMethod<T.GetServerInfoParams | undefined, T.GetServerInfoResult>()({
  method: 'getServerInfo',
  summary: 'Server name, versions, storage backend and limits.',
  paramsSchema: S.getServerInfoParamsSchema,
  resultSchema: S.getServerInfoResultSchema,
  errors: [],
});

export const RpcDiscover = defineMethod<T.RpcDiscoverParams | undefined, T.RpcDiscoverResult>()({
  method: 'rpc.discover',
  summary: 'The OpenRPC document of this API.',
  paramsSchema: S.rpcDiscoverParamsSchema,
  resultSchema: S.rpcDiscoverResultSchema,
  errors: [],
});

export const TransferProgress = defineNotification<T.TransferProgressParams>()({
  method: 'transferProgress',
  summary:
    'Progress of a transfer, at most one per transfer per progressIntervalMs, none when nothing changed; counters never go down.',
  paramsSchema: S.transferProgressParamsSchema,
});

export const TransferFinished = defineNotification<T.TransferFinishedParams>()({
  method: 'transferFinished',
  summary: 'A transfer has completed, failed or been cancelled. Exactly one per transfer; never dropped.',
  paramsSchema: S.transferFinishedParamsSchema,
});

export const DeleteProgress = defineNotification<T.DeleteProgressParams>()({
  method: 'deleteProgress',
  summary: 'Progress of a folder deletion (deleteFile with recursive): files deleted of those listed, at most one per progressIntervalMs, and a last one with done: true.',
  paramsSchema: S.deleteProgressParamsSchema,
});

// -- Users, identities and contacts (issue 14) --------------------------------

export const Unlock = defineMethod<T.UnlockParams, T.UnlockResult>()({
  method: 'unlock',
  summary:
    'Read an identity file once and keep the identity in memory, so that calls needing a key may leave keyPath out, until lock, shutdown or the idle timeout.',
  paramsSchema: U.unlockParamsSchema,
  resultSchema: U.unlockResultSchema,
  errors: ['NOT_FOUND', 'KEY_INVALID', 'PERMISSION_DENIED'],
});

export const Lock = defineMethod<T.LockParams | undefined, T.LockResult>()({
  method: 'lock',
  summary: 'Forget the unlocked identity (its secret bytes are overwritten).',
  paramsSchema: U.lockParamsSchema,
  resultSchema: U.lockResultSchema,
  errors: [],
});

export const PublishIdentity = defineMethod<T.PublishIdentityParams, T.PublishIdentityResult>()({
  method: 'publishIdentity',
  summary:
    'Keep a passphrase-protected copy of the identity (age scrypt, work factor 2^18) in the store under a reserved name for this user name, so that a new device can sign in with the passphrase alone.',
  paramsSchema: U.publishIdentityParamsSchema,
  resultSchema: U.publishIdentityResultSchema,
  errors: ['LOCKED', 'PASSPHRASE_WEAK', 'ALREADY_EXISTS', 'NOT_FOUND', 'KEY_INVALID', 'PERMISSION_DENIED', 'STORAGE_UNAVAILABLE'],
});

export const SignIn = defineMethod<T.SignInParams, T.SignInResult>()({
  method: 'signIn',
  summary:
    "Fetch this user name's identity copy from the store, open it with the passphrase, check it, write the identity file at keyPath (0600, never over a file) and unlock it.",
  paramsSchema: U.signInParamsSchema,
  resultSchema: U.signInResultSchema,
  errors: ['NOT_FOUND', 'KEY_INVALID', 'IDENTITY_COPY_INVALID', 'ALREADY_EXISTS', 'PERMISSION_DENIED', 'NO_SPACE', 'STORAGE_UNAVAILABLE'],
});

export const ChangePassphrase = defineMethod<T.ChangePassphraseParams, T.ChangePassphraseResult>()({
  method: 'changePassphrase',
  summary: 'Re-encrypt the identity copy in the store to a new passphrase, replacing it atomically; the identity stays the same.',
  paramsSchema: U.changePassphraseParamsSchema,
  resultSchema: U.changePassphraseResultSchema,
  errors: ['NOT_FOUND', 'KEY_INVALID', 'IDENTITY_COPY_INVALID', 'PASSPHRASE_WEAK', 'STORAGE_UNAVAILABLE'],
});

export const AddContact = defineMethod<T.AddContactParams, T.AddContactResult>()({
  method: 'addContact',
  summary: "Add a named contact from their public card (checksum verified); names and cards are unique.",
  paramsSchema: U.addContactParamsSchema,
  resultSchema: U.addContactResultSchema,
  errors: ['ALREADY_EXISTS', 'CONTACTS_INVALID', 'PERMISSION_DENIED', 'NO_SPACE'],
});

export const ListContacts = defineMethod<T.ListContactsParams | undefined, T.ListContactsResult>()({
  method: 'listContacts',
  summary: 'The contacts, sorted by name.',
  paramsSchema: U.listContactsParamsSchema,
  resultSchema: U.listContactsResultSchema,
  errors: ['CONTACTS_INVALID', 'PERMISSION_DENIED'],
});

export const RemoveContact = defineMethod<T.RemoveContactParams, T.RemoveContactResult>()({
  method: 'removeContact',
  summary: 'Remove a contact (case does not matter). Files they made are then refused as by an unknown author.',
  paramsSchema: U.removeContactParamsSchema,
  resultSchema: U.removeContactResultSchema,
  errors: ['NOT_FOUND', 'CONTACTS_INVALID', 'PERMISSION_DENIED', 'NO_SPACE'],
});

export const ShareFile = defineMethod<T.ShareFileParams, T.ShareFileResult>()({
  method: 'shareFile',
  summary:
    "Give contacts (or any card or age recipient) access to a stored age file by rewriting only its header: the payload is kept byte for byte (copied inside the store where it can).",
  paramsSchema: U.shareFileParamsSchema,
  resultSchema: S.shareFileResultSchema,
  errors: [
    'NOT_FOUND',
    'LOCKED',
    'KEY_INVALID',
    'NOT_A_RECIPIENT',
    'AUTHOR_MISSING',
    'AUTHOR_UNKNOWN',
    'AUTHOR_INVALID',
    'WRONG_NAME',
    'INTEGRITY',
    'SOURCE_CHANGED',
    'CONTACTS_INVALID',
    'STORAGE_UNAVAILABLE',
    'NO_SPACE',
    'CANCELLED',
    'BUSY',
  ],
});

export const UnshareFile = defineMethod<T.UnshareFileParams, T.UnshareFileResult>()({
  method: 'unshareFile',
  summary:
    'Take access away: re-encrypt a stored age file you wrote under a new file key to you and `keep` only (a full rewrite: a former recipient may have kept the old file key).',
  paramsSchema: U.unshareFileParamsSchema,
  resultSchema: S.unshareFileResultSchema,
  errors: [
    'NOT_FOUND',
    'LOCKED',
    'KEY_INVALID',
    'NOT_A_RECIPIENT',
    'AUTHOR_MISSING',
    'AUTHOR_UNKNOWN',
    'AUTHOR_INVALID',
    'WRONG_NAME',
    'INTEGRITY',
    'SOURCE_CHANGED',
    'CONTACTS_INVALID',
    'STORAGE_UNAVAILABLE',
    'NO_SPACE',
    'CANCELLED',
    'BUSY',
  ],
});

export const ExportFile = defineMethod<T.ExportFileParams, T.ExportFileResult>()({
  method: 'exportFile',
  summary:
    'Write a standalone age file of a stored file for one recipient (header rewrapped for them alone, payload copied unchanged) that `age -d` opens.',
  paramsSchema: U.exportFileParamsSchema,
  resultSchema: S.exportFileResultSchema,
  errors: [
    'NOT_FOUND',
    'ALREADY_EXISTS',
    'LOCKED',
    'KEY_INVALID',
    'NOT_A_RECIPIENT',
    'AUTHOR_MISSING',
    'AUTHOR_UNKNOWN',
    'AUTHOR_INVALID',
    'WRONG_NAME',
    'INTEGRITY',
    'SOURCE_CHANGED',
    'CONTACTS_INVALID',
    'STORAGE_UNAVAILABLE',
    'PERMISSION_DENIED',
    'NO_SPACE',
    'CANCELLED',
    'BUSY',
  ],
});

export const IdentityChanged = defineNotification<T.IdentityChangedParams>()({
  method: 'identityChanged',
  summary: 'An identity was unlocked, or the unlocked one was locked (by lock, the idle timeout or shutdown). Sent to every connection.',
  paramsSchema: U.identityChangedParamsSchema,
});

/** The users methods, in the order docs list them. */
export const USER_METHODS = [Unlock, Lock, PublishIdentity, SignIn, ChangePassphrase, AddContact, ListContacts, RemoveContact, ShareFile, UnshareFile, ExportFile] as const;

/** Every method, in the order docs and the OpenRPC document list them. */
export const METHODS = [
  Upload,
  Download,
  UploadFolder,
  DownloadFolder,
  ListFiles,
  GetFileInfo,
  DeleteFile,
  CreateKey,
  GetIdentity,
  CancelTransfer,
  ResumeTransfer,
  AcknowledgeTransfers,
  ListTransfers,
  GetServerInfo,
  RpcDiscover,
  ...USER_METHODS,
] as const;

export const NOTIFICATIONS = [TransferProgress, TransferFinished, DeleteProgress, IdentityChanged] as const;

export type AnyMethod = (typeof METHODS)[number];
export type MethodName = AnyMethod['method'];
export type AnyNotification = (typeof NOTIFICATIONS)[number];
export type NotificationName = AnyNotification['method'];

/** Lookup that cannot reach Object.prototype ("constructor", "__proto__" are not methods). */
export const METHODS_BY_NAME: ReadonlyMap<string, AnyMethod> = new Map(METHODS.map((d) => [d.method, d]));

export function findMethod(name: string): AnyMethod | undefined {
  return METHODS_BY_NAME.get(name);
}

export type MethodDescriptorOf<N extends MethodName> = Extract<AnyMethod, { method: N }>;
