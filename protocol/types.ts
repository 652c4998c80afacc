/**
 * Params and result types of protocol v1, derived from the JSON Schemas so
 * that the two cannot disagree.
 */
import type { FromSchema as FromSchemaWithDefaults, JSONSchema } from 'json-schema-to-ts';
import type * as S from './schemas.js';
import type * as U from './user-schemas.js';

/** A param with a default (overwrite, limit) stays optional for the caller. */
type FromSchema<Schema extends JSONSchema> = FromSchemaWithDefaults<Schema, { keepDefaultedPropertiesOptional: true }>;

export type UploadParams = FromSchema<typeof S.uploadParamsSchema>;
export type UploadResult = FromSchema<typeof S.uploadResultSchema>;
export type DownloadParams = FromSchema<typeof S.downloadParamsSchema>;
export type DownloadResult = FromSchema<typeof S.downloadResultSchema>;
export type UploadFolderParams = FromSchema<typeof S.uploadFolderParamsSchema>;
export type UploadFolderResult = FromSchema<typeof S.uploadFolderResultSchema>;
export type DownloadFolderParams = FromSchema<typeof S.downloadFolderParamsSchema>;
export type DownloadFolderResult = FromSchema<typeof S.downloadFolderResultSchema>;
export type TransferGroup = FromSchema<typeof S.transferGroupSchema>;
export type ListFilesParams = FromSchema<typeof S.listFilesParamsSchema>;
export type ListFilesResult = FromSchema<typeof S.listFilesResultSchema>;
export type FileEntry = FromSchema<typeof S.fileEntrySchema>;
export type FolderEntry = FromSchema<typeof S.folderEntrySchema>;
export type GetFileInfoParams = FromSchema<typeof S.getFileInfoParamsSchema>;
export type GetFileInfoResult = FromSchema<typeof S.getFileInfoResultSchema>;
export type DeleteFileParams = FromSchema<typeof S.deleteFileParamsSchema>;
export type DeleteFileResult = FromSchema<typeof S.deleteFileResultSchema>;
export type CreateKeyParams = FromSchema<typeof S.createKeyParamsSchema>;
export type CreateKeyResult = FromSchema<typeof S.createKeyResultSchema>;
export type GetIdentityParams = FromSchema<typeof S.getIdentityParamsSchema>;
export type GetIdentityResult = FromSchema<typeof S.getIdentityResultSchema>;
export type CancelTransferParams = FromSchema<typeof S.cancelTransferParamsSchema>;
export type CancelTransferResult = FromSchema<typeof S.cancelTransferResultSchema>;
export type ResumeTransferParams = FromSchema<typeof S.resumeTransferParamsSchema>;
export type ResumeTransferResult = FromSchema<typeof S.resumeTransferResultSchema>;
export type AcknowledgeTransfersParams = FromSchema<typeof S.acknowledgeTransfersParamsSchema>;
export type AcknowledgeTransfersResult = FromSchema<typeof S.acknowledgeTransfersResultSchema>;
export type ListTransfersParams = FromSchema<typeof S.listTransfersParamsSchema>;
export type ListTransfersResult = FromSchema<typeof S.listTransfersResultSchema>;
export type GetServerInfoParams = FromSchema<typeof S.getServerInfoParamsSchema>;
export type GetServerInfoResult = FromSchema<typeof S.getServerInfoResultSchema>;
export type ServerLimits = FromSchema<typeof S.serverLimitsSchema>;
export type RpcDiscoverParams = FromSchema<typeof S.rpcDiscoverParamsSchema>;
export type RpcDiscoverResult = FromSchema<typeof S.rpcDiscoverResultSchema>;

export type TransferStatus = FromSchema<typeof S.transferStatusSchema>;
export type TransferState = TransferStatus['state'];
export type TransferDirection = TransferStatus['direction'];
export type TransferOperation = NonNullable<TransferStatus['operation']>;
export type TransferOutcome = TransferFinishedParams['outcome'];
export type ErrorObject = FromSchema<typeof S.errorObjectSchema>;

export type TransferProgressParams = FromSchema<typeof S.transferProgressParamsSchema>;
export type TransferFinishedParams = FromSchema<typeof S.transferFinishedParamsSchema>;

// -- Users, identities and contacts (user-schemas.ts) ------------------------
export type UnlockParams = FromSchema<typeof U.unlockParamsSchema>;
export type UnlockResult = FromSchema<typeof U.unlockResultSchema>;
export type LockParams = FromSchema<typeof U.lockParamsSchema>;
export type LockResult = FromSchema<typeof U.lockResultSchema>;
export type PublishIdentityParams = FromSchema<typeof U.publishIdentityParamsSchema>;
export type PublishIdentityResult = FromSchema<typeof U.publishIdentityResultSchema>;
export type SignInParams = FromSchema<typeof U.signInParamsSchema>;
export type SignInResult = FromSchema<typeof U.signInResultSchema>;
export type ChangePassphraseParams = FromSchema<typeof U.changePassphraseParamsSchema>;
export type ChangePassphraseResult = FromSchema<typeof U.changePassphraseResultSchema>;
export type Contact = FromSchema<typeof U.contactSchema>;
export type AddContactParams = FromSchema<typeof U.addContactParamsSchema>;
export type AddContactResult = FromSchema<typeof U.addContactResultSchema>;
export type ListContactsParams = FromSchema<typeof U.listContactsParamsSchema>;
export type ListContactsResult = FromSchema<typeof U.listContactsResultSchema>;
export type RemoveContactParams = FromSchema<typeof U.removeContactParamsSchema>;
export type RemoveContactResult = FromSchema<typeof U.removeContactResultSchema>;
export type DeleteProgressParams = FromSchema<typeof S.deleteProgressParamsSchema>;
export type IdentityChangedParams = FromSchema<typeof U.identityChangedParamsSchema>;
export type ShareFileParams = FromSchema<typeof U.shareFileParamsSchema>;
export type ShareFileResult = FromSchema<typeof S.shareFileResultSchema>;
export type UnshareFileParams = FromSchema<typeof U.unshareFileParamsSchema>;
export type UnshareFileResult = FromSchema<typeof S.unshareFileResultSchema>;
export type ExportFileParams = FromSchema<typeof U.exportFileParamsSchema>;
export type ExportFileResult = FromSchema<typeof S.exportFileResultSchema>;
