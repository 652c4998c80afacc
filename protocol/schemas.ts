/**
 * JSON Schemas (draft 2020-12 subset that OpenRPC and Ajv both read) for
 * every param and result of protocol v1. The TypeScript types in types.ts
 * are derived from these with json-schema-to-ts, so a schema and its type
 * cannot drift apart.
 *
 * Schemas are plain `as const` data: the renderer can import them with no
 * Node code behind them.
 */
import { PROTOCOL_VERSION } from './constants.js';

/** Remote-name limit in UTF-8 bytes; the schema can only bound code points (maxLength), names.ts checks bytes. */
export const MAX_NAME_BYTES = 1024;
export const MAX_PATH_LENGTH = 4096;
export const MAX_PASSPHRASE_LENGTH = 1024;
export const MAX_LIST_LIMIT = 1000;

/**
 * One segment: no '/', no backslash, no C0/C1 control character, not '.' or
 * '..'. A name is one or more segments joined by '/'. Byte length and
 * well-formed UTF-8 are checked in names.ts, which JSON Schema cannot say.
 */
const SEGMENT = '(?!\\.\\.?(?:/|$))[^/\\\\\\u0000-\\u001f\\u007f-\\u009f]+';
export const REMOTE_NAME_PATTERN = `^${SEGMENT}(?:/${SEGMENT})*$`;

export const remoteNameSchema = {
  type: 'string',
  minLength: 1,
  maxLength: MAX_NAME_BYTES,
  pattern: REMOTE_NAME_PATTERN,
  description:
    'Remote file name: 1-1024 bytes of UTF-8, "/"-separated segments, no empty, "." or ".." segment, no leading "/", no backslash, no control characters.',
} as const;

export const localPathSchema = {
  type: 'string',
  minLength: 1,
  maxLength: MAX_PATH_LENGTH,
  pattern: '^[^\\u0000]+$',
  description: "A path on the server's machine; relative paths are resolved against the server's working directory.",
} as const;

export const passphraseSchema = {
  type: 'string',
  minLength: 1,
  maxLength: MAX_PASSPHRASE_LENGTH,
  writeOnly: true,
  description: 'Passphrase of a protected key file. Never logged, never stored, never echoed.',
} as const;

export const transferIdSchema = {
  type: 'string',
  pattern: '^[A-Za-z0-9_-]{1,64}$',
  description: 'Transfer id: 1-64 characters of A-Z, a-z, 0-9, "_" and "-". Chosen by the client or else by the server.',
} as const;

export const keyIdSchema = {
  type: 'string',
  minLength: 1,
  maxLength: 128,
  description: "Non-secret identifier of a key: a v1 master key's id, or an age identity's card id (32 hex digits).",
} as const;

/** Format v2 (age): the kinds of key file createKey (and upload, when it creates one) can make. */
export const keyTypeSchema = {
  type: 'string',
  enum: ['X25519', 'mlkem768x25519', 'v1'],
  description:
    "Kind of key file to create: an age identity, 'X25519' (classical, the default) or 'mlkem768x25519' (post-quantum hybrid); 'v1' for a format v1 key file.",
} as const;

/** Most extra recipients one upload may name (the uploader is the 32nd). */
export const MAX_EXTRA_RECIPIENTS = 31;

export const recipientsSchema = {
  type: 'array',
  maxItems: MAX_EXTRA_RECIPIENTS,
  items: { type: 'string', minLength: 1, maxLength: 4096 },
  description:
    'Extra recipients the file is also encrypted to: age recipients (age1…, age1pq1…) or cloudlocker public cards (cloudlockercard1…). Needs an age identity; classical and post-quantum are not mixed.',
} as const;

export const storedFormatSchema = {
  type: 'string',
  enum: ['v1', 'age'],
  description: "Stored format: 'v1' (cloudlocker format v1) or 'age' (format v2: a standard age file).",
} as const;

export const timestampSchema = {
  type: 'string',
  format: 'date-time',
  description: 'ISO 8601 date and time in UTC.',
} as const;

const byteCount = { type: 'integer', minimum: 0 } as const;

/** The `error` member of a failed response (also used inside TransferStatus). */
export const errorObjectSchema = {
  type: 'object',
  properties: {
    code: { type: 'integer' },
    message: { type: 'string' },
    data: {
      type: 'object',
      properties: { reason: { type: 'string' } },
      additionalProperties: true,
    },
  },
  required: ['code', 'message'],
  additionalProperties: false,
} as const;

export const transferDirectionSchema = { type: 'string', enum: ['upload', 'download'] } as const;
/** Which sharing method a transfer is (absent for upload and download): share and unshare write the store ('upload'), export a local file ('download'). */
export const transferOperationSchema = {
  type: 'string',
  enum: ['share', 'unshare', 'export'],
  description: "The sharing method this transfer runs: shareFile, unshareFile (direction 'upload': they write the store) or exportFile ('download': it writes a local file). Absent for upload and download.",
} as const;
export const transferStateSchema = {
  type: 'string',
  enum: ['queued', 'running', 'interrupted', 'completed', 'failed', 'cancelled'],
  description:
    "'interrupted': stopped by a server crash or shutdown with its progress kept; it resumes by itself when the server starts again (resumeOnStart) or on resumeTransfer, and cancelTransfer discards it.",
} as const;

export const uploadResultSchema = {
  type: 'object',
  properties: {
    transferId: transferIdSchema,
    name: remoteNameSchema,
    size: byteCount,
    storedSize: byteCount,
    keyId: keyIdSchema,
    keyPath: { type: 'string', description: 'The key file that was used (absolute path).' },
    keyCreated: { type: 'boolean', description: 'Whether the upload created that key file.' },
  },
  required: ['transferId', 'name', 'size', 'storedSize', 'keyId', 'keyPath', 'keyCreated'],
  additionalProperties: false,
} as const;

export const downloadResultSchema = {
  type: 'object',
  properties: {
    transferId: transferIdSchema,
    name: remoteNameSchema,
    path: { type: 'string', description: 'Absolute path of the saved file.' },
    size: byteCount,
    author: {
      type: 'object',
      description:
        'Who made an age (format v2) file, as its verified author stanza says: you, or one of your contacts. Absent for v1 files, for an unauthored file accepted with acceptUnauthored, and for a download resumed after a restart.',
      properties: {
        kind: { type: 'string', enum: ['self', 'contact'] },
        cardId: { type: 'string', pattern: '^[0-9a-f]{32}$' },
        name: { type: 'string', description: "The contact's name (kind contact)." },
      },
      required: ['kind', 'cardId'],
      additionalProperties: false,
    },
  },
  required: ['transferId', 'name', 'path', 'size'],
  additionalProperties: false,
} as const;

// -- Folder transfers (transfer groups) -------------------------------------

/** The name an empty folder's marker takes inside it: a 0-byte encrypted file that downloads as the empty folder. */
export const EMPTY_FOLDER_MARKER = '.cloudlocker-folder';

export const uploadFolderParamsSchema = {
  type: 'object',
  properties: {
    path: { ...localPathSchema, description: 'The local folder to upload: every regular file under it, at any depth.' },
    keyPath: {
      ...localPathSchema,
      description:
        'As for upload: one key for every file of the folder (a directory: "<last segment of name>.key.txt" in it). Default: the unlocked identity (see unlock); LOCKED when none is. It must not lie inside the folder uploaded.',
    },
    name: { ...remoteNameSchema, description: "The stored folder's name; files are stored as <name>/<relative path>. Default: the folder's base name." },
    overwrite: { type: 'boolean', default: false },
    transferId: transferIdSchema,
    keyPassphrase: passphraseSchema,
  },
  required: ['path'],
  additionalProperties: false,
} as const;

const folderFileProblemSchema = {
  type: 'object',
  properties: {
    path: { type: 'string', description: 'The local file, relative to the uploaded folder.' },
    name: { type: 'string', description: 'The remote name it would have had.' },
    error: errorObjectSchema,
  },
  required: ['path', 'error'],
  additionalProperties: false,
} as const;

const folderSkippedSchema = {
  type: 'object',
  properties: {
    path: { type: 'string', description: 'The local entry, relative to the uploaded folder.' },
    reason: { type: 'string', enum: ['symbolic-link', 'special-file', 'unstorable-name'] },
  },
  required: ['path', 'reason'],
  additionalProperties: false,
} as const;

export const uploadFolderResultSchema = {
  type: 'object',
  properties: {
    transferId: transferIdSchema,
    name: remoteNameSchema,
    filesTotal: { ...byteCount, description: 'Regular files found (and empty-folder markers), each one transfer of the group.' },
    filesStored: { ...byteCount, description: 'Of those, stored.' },
    size: { ...byteCount, description: 'Plaintext bytes stored.' },
    emptyFolders: { ...byteCount, description: 'Empty folders stored as markers.' },
    failed: { type: 'array', items: folderFileProblemSchema, description: 'Files that could not be stored, and why; none of them is partly stored.' },
    skipped: { type: 'array', items: folderSkippedSchema, description: 'Entries left out on purpose: links (not followed), special files, names that cannot be stored.' },
    keyId: keyIdSchema,
    keyPath: { type: 'string' },
    keyCreated: { type: 'boolean' },
  },
  required: ['transferId', 'name', 'filesTotal', 'filesStored', 'size', 'emptyFolders', 'failed', 'skipped', 'keyId', 'keyPath', 'keyCreated'],
  additionalProperties: false,
} as const;

export const downloadFolderParamsSchema = {
  type: 'object',
  properties: {
    name: { ...remoteNameSchema, description: 'The stored folder (without the trailing "/"): every file whose name starts with "<name>/".' },
    keyPath: { ...localPathSchema, description: 'The key file (or identity) its files were encrypted to. Default: the unlocked identity (see unlock); LOCKED when none is.' },
    destination: {
      ...localPathSchema,
      description: 'The local folder to recreate the tree in, as <destination>/<last segment of name>/<relative path>. A missing folder is NOT_FOUND unless createDirectories is true.',
    },
    overwrite: { type: 'boolean', default: false },
    createDirectories: { type: 'boolean', default: false, description: 'Create the destination folder if it is missing.' },
    transferId: transferIdSchema,
    keyPassphrase: passphraseSchema,
  },
  required: ['name', 'destination'],
  additionalProperties: false,
} as const;

export const downloadFolderResultSchema = {
  type: 'object',
  properties: {
    transferId: transferIdSchema,
    name: remoteNameSchema,
    path: { type: 'string', description: 'Absolute path of the recreated folder.' },
    filesTotal: { ...byteCount, description: 'Stored files found under the folder, empty-folder markers included.' },
    filesSaved: byteCount,
    size: { ...byteCount, description: 'Plaintext bytes written.' },
    emptyFolders: byteCount,
    failed: { type: 'array', items: folderFileProblemSchema, description: 'Files not saved, and why; none of them is partly written.' },
  },
  required: ['transferId', 'name', 'path', 'filesTotal', 'filesSaved', 'size', 'emptyFolders', 'failed'],
  additionalProperties: false,
} as const;

/** What a group's status adds: its files' progress. */
export const transferGroupSchema = {
  type: 'object',
  properties: {
    filesTotal: byteCount,
    filesDone: { ...byteCount, description: 'Files finished (stored or failed).' },
    filesFailed: byteCount,
    currentFile: { type: 'string', description: 'The remote name of the file most recently started.' },
  },
  required: ['filesTotal', 'filesDone', 'filesFailed'],
  additionalProperties: false,
} as const;

/** shareFile's result (also a completed share transfer's result). */
export const shareFileResultSchema = {
  type: 'object',
  properties: {
    transferId: transferIdSchema,
    name: remoteNameSchema,
    recipientCount: { type: 'integer', minimum: 1, description: 'Recipient stanzas the file now has.' },
    storedSize: { type: 'integer', minimum: 0 },
    headerRewrite: {
      type: 'string',
      enum: ['local-copy', 'server-side-copy', 'streamed', 'in-place'],
      description: 'How the store kept the payload this time: "in-place" (the local store wrote a same-length header over the old one) or a copy (getServerInfo\'s storage.headerRewrite).',
    },
    alreadyRecipients: {
      type: 'integer',
      minimum: 0,
      description: 'How many of `with` were left out because this file already names them as recipients (shared earlier by you).',
    },
  },
  required: ['name', 'recipientCount', 'storedSize', 'headerRewrite'],
  additionalProperties: false,
} as const;

/** unshareFile's result (also a completed unshare transfer's result). */
export const unshareFileResultSchema = {
  type: 'object',
  properties: {
    transferId: transferIdSchema,
    name: remoteNameSchema,
    recipientCount: { type: 'integer', minimum: 1 },
    storedSize: { type: 'integer', minimum: 0 },
  },
  required: ['name', 'recipientCount', 'storedSize'],
  additionalProperties: false,
} as const;

/** exportFile's result (also a completed export transfer's result). */
export const exportFileResultSchema = {
  type: 'object',
  properties: {
    transferId: transferIdSchema,
    name: remoteNameSchema,
    path: { type: 'string', description: 'Absolute path of the age file written.' },
    size: { type: 'integer', minimum: 0, description: 'Its size in bytes.' },
  },
  required: ['name', 'path', 'size'],
  additionalProperties: false,
} as const;

const transferStatusProperties = {
  transferId: transferIdSchema,
  direction: transferDirectionSchema,
  name: remoteNameSchema,
  state: transferStateSchema,
  totalBytes: byteCount,
  cryptoBytes: { ...byteCount, description: 'Plaintext bytes encrypted (upload) or decrypted and authenticated (download).' },
  transferredBytes: { ...byteCount, description: 'Plaintext-equivalent bytes stored (upload) or fetched (download).' },
  bytesPerSecond: { type: 'number', minimum: 0 },
  etaSeconds: { type: ['number', 'null'], minimum: 0, description: 'null while unknown.' },
  error: errorObjectSchema,
  result: {
    description: "With state 'completed': the upload, download, uploadFolder, shareFile, unshareFile or exportFile result (stored name, sizes, key path or saved path), so a client that was away learns it.",
    anyOf: [uploadResultSchema, downloadResultSchema, uploadFolderResultSchema, downloadFolderResultSchema, shareFileResultSchema, unshareFileResultSchema, exportFileResultSchema],
  },
  group: { ...transferGroupSchema, description: 'A transfer group (uploadFolder): its files done, total and current.' },
  groupId: { ...transferIdSchema, description: 'The group this transfer is one file of.' },
  operation: transferOperationSchema,
  startedAt: timestampSchema,
  finishedAt: timestampSchema,
} as const;

const transferStatusRequired = [
  'transferId',
  'direction',
  'name',
  'state',
  'totalBytes',
  'cryptoBytes',
  'transferredBytes',
  'bytesPerSecond',
  'etaSeconds',
  'startedAt',
] as const;

export const transferStatusSchema = {
  type: 'object',
  properties: transferStatusProperties,
  required: transferStatusRequired,
  additionalProperties: false,
} as const;

const seqSchema = {
  type: 'integer',
  minimum: 0,
  description: 'Server-wide notification sequence number; rises by one with every notification.',
} as const;

export const fileEntrySchema = {
  type: 'object',
  properties: {
    name: remoteNameSchema,
    size: byteCount,
    storedSize: byteCount,
    modifiedAt: timestampSchema,
  },
  required: ['name', 'size', 'storedSize', 'modifiedAt'],
  additionalProperties: false,
} as const;

export const folderEntrySchema = {
  type: 'object',
  properties: {
    name: {
      type: 'string',
      minLength: 2,
      maxLength: MAX_NAME_BYTES + 1,
      description: 'The folder: the common start of the names inside it, ending with "/" (e.g. "reports/2026/").',
    },
    fileCount: { ...byteCount, description: 'Files under the folder at any depth, where the store counts them cheaply (local store); absent elsewhere.' },
  },
  required: ['name'],
  additionalProperties: false,
} as const;

/** Methods with no params accept an absent `params`, `{}` or `[]`. */
const noParams = { type: 'object', properties: {}, additionalProperties: false } as const;

// ---------------------------------------------------------------------------
// Params and results, method by method.

export const uploadParamsSchema = {
  type: 'object',
  properties: {
    path: { ...localPathSchema, description: 'The local file to upload.' },
    keyPath: {
      ...localPathSchema,
      description:
        'An existing key file to use; a path that does not exist to create a new key there; or an existing directory to create "<last segment of name>.key.txt" in. Default: the unlocked identity (see unlock); LOCKED when none is.',
    },
    name: { ...remoteNameSchema, description: "Remote name; default: the local file's base name." },
    overwrite: { type: 'boolean', default: false },
    transferId: transferIdSchema,
    keyPassphrase: passphraseSchema,
    recipients: recipientsSchema,
    keyType: { ...keyTypeSchema, default: 'X25519', description: `${keyTypeSchema.description} Used only when the upload creates the key file.` },
  },
  required: ['path'],
  additionalProperties: false,
} as const;

export const downloadParamsSchema = {
  type: 'object',
  properties: {
    name: remoteNameSchema,
    keyPath: {
      ...localPathSchema,
      description: 'The key file (or identity) the remote file was encrypted to. Default: the unlocked identity (see unlock); LOCKED when none is.',
    },
    destination: {
      ...localPathSchema,
      description:
        "An existing directory, or a path ending in a separator (\"/\", or \"\\\\\" on Windows), to save into under the name's last segment; otherwise the target file path. A missing folder is NOT_FOUND unless createDirectories is true.",
    },
    overwrite: { type: 'boolean', default: false },
    createDirectories: {
      type: 'boolean',
      default: false,
      description: "Create the destination's missing folders instead of answering NOT_FOUND.",
    },
    transferId: transferIdSchema,
    keyPassphrase: passphraseSchema,
    acceptUnauthored: {
      type: 'boolean',
      default: false,
      description:
        'Accept an age file without an author stanza (a plain age file made elsewhere, being imported). Without it such a file is refused (AUTHOR_MISSING).',
    },
  },
  required: ['name', 'destination'],
  additionalProperties: false,
} as const;

export const listFilesParamsSchema = {
  type: 'object',
  properties: {
    prefix: {
      type: 'string',
      maxLength: MAX_NAME_BYTES,
      pattern: '^[^\\\\\\u0000-\\u001f\\u007f-\\u009f]*$',
      description: 'Only names starting with this string.',
    },
    limit: { type: 'integer', minimum: 1, maximum: MAX_LIST_LIMIT, default: MAX_LIST_LIMIT },
    cursor: { type: 'string', minLength: 1, maxLength: 4096, description: 'nextCursor of the previous page.' },
    delimiter: {
      const: '/',
      description: 'Folder view: names with a "/" after the prefix are rolled up into folders (result.folders) instead of listed.',
    },
  },
  additionalProperties: false,
} as const;

export const listFilesResultSchema = {
  type: 'object',
  properties: {
    files: { type: 'array', items: fileEntrySchema },
    folders: { type: 'array', items: folderEntrySchema, description: 'With delimiter: the sub-folders on this page.' },
    nextCursor: { type: ['string', 'null'], description: 'null on the last page.' },
  },
  required: ['files', 'nextCursor'],
  additionalProperties: false,
} as const;

export const getFileInfoParamsSchema = {
  type: 'object',
  properties: { name: remoteNameSchema },
  required: ['name'],
  additionalProperties: false,
} as const;

export const getFileInfoResultSchema = {
  type: 'object',
  properties: {
    name: remoteNameSchema,
    size: byteCount,
    storedSize: byteCount,
    modifiedAt: timestampSchema,
    keyId: {
      ...keyIdSchema,
      description:
        "v1: the id of the master key it was encrypted with (compare with a v1 key file's keyId). age: the author's card id (same as authorCardId), absent for a plain age file; it does not tell which identity opens the file (age recipients are anonymous: try the identity).",
    },
    formatVersion: { type: 'integer', minimum: 1 },
    format: storedFormatSchema,
    authorCardId: {
      type: 'string',
      pattern: '^[0-9a-f]{32}$',
      description: "age: the card id its author stanza names (read without a key, so not verified: download verifies it).",
    },
    stanzaCount: { type: 'integer', minimum: 1, description: 'age: how many stanzas its header holds (recipients and author; the header slot is not counted).' },
  },
  required: ['name', 'size', 'storedSize', 'modifiedAt', 'formatVersion', 'format'],
  additionalProperties: false,
} as const;

export const deleteFileParamsSchema = {
  type: 'object',
  properties: {
    name: remoteNameSchema,
    recursive: {
      type: 'boolean',
      default: false,
      description: 'Delete the folder "<name>/": every file whose name starts with it, at any depth.',
    },
    operationId: {
      ...transferIdSchema,
      description: 'With recursive: your id for the deletion, carried by its deleteProgress notifications (default: a random UUID).',
    },
  },
  required: ['name'],
  additionalProperties: false,
} as const;

export const deleteFileResultSchema = {
  type: 'object',
  properties: {
    name: remoteNameSchema,
    deleted: { const: true },
    deletedCount: { ...byteCount, description: 'With recursive: how many files were deleted.' },
  },
  required: ['name', 'deleted'],
  additionalProperties: false,
} as const;

/** Progress of a folder deletion (deleteFile with recursive). */
export const deleteProgressParamsSchema = {
  type: 'object',
  properties: {
    operationId: { ...transferIdSchema, description: "The deletion's operationId (the request's, or a random UUID)." },
    name: { ...remoteNameSchema, description: 'The folder being deleted (without the trailing "/").' },
    deletedCount: { ...byteCount, description: 'Files deleted so far.' },
    totalCount: { ...byteCount, description: 'Files listed in the folder when the deletion began.' },
    done: { type: 'boolean', description: 'The last notification of this deletion (the request answers next).' },
  },
  required: ['operationId', 'name', 'deletedCount', 'totalCount', 'done'],
  additionalProperties: false,
} as const;

export const createKeyParamsSchema = {
  type: 'object',
  properties: {
    path: { ...localPathSchema, description: 'Where to write the new key file; must not exist.' },
    passphrase: passphraseSchema,
    type: { ...keyTypeSchema, default: 'X25519' },
  },
  required: ['path'],
  additionalProperties: false,
} as const;

const cardSchema = {
  type: 'string',
  pattern: '^cloudlockercard1[02-9ac-hj-np-z]+$',
  description: 'Public card: the age recipient and the public signing key in one string (docs/format.md, "Public card").',
} as const;

const recipientSchema = {
  type: 'string',
  pattern: '^age1[02-9ac-hj-np-z]+$',
  description: 'The age recipient (public key) others encrypt to: age1… or age1pq1….',
} as const;

export const createKeyResultSchema = {
  type: 'object',
  properties: {
    path: { type: 'string' },
    keyId: keyIdSchema,
    type: keyTypeSchema,
    format: storedFormatSchema,
    recipient: recipientSchema,
    card: cardSchema,
  },
  required: ['path', 'keyId', 'type', 'format'],
  additionalProperties: false,
} as const;

// getIdentity (format v2)
export const getIdentityParamsSchema = {
  type: 'object',
  properties: {
    keyPath: { ...localPathSchema, description: 'An age identity file; default: the unlocked identity (see unlock).' },
    passphrase: passphraseSchema,
  },
  additionalProperties: false,
} as const;

export const getIdentityResultSchema = {
  type: 'object',
  properties: {
    keyPath: { type: 'string', description: 'Absolute path of the identity file.' },
    type: { type: 'string', enum: ['X25519', 'mlkem768x25519'] },
    recipient: recipientSchema,
    card: cardSchema,
    cardId: { type: 'string', pattern: '^[0-9a-f]{32}$', description: "The card's id: compare it with getFileInfo's authorCardId." },
    unlocked: { type: 'boolean', description: 'true when this is the unlocked identity (no keyPath was given).' },
    idleTimeoutMs: { type: 'integer', minimum: 1, description: "The unlocked identity's idle timeout, when one is set." },
  },
  required: ['keyPath', 'type', 'recipient', 'card', 'cardId'],
  additionalProperties: false,
} as const;

export const cancelTransferParamsSchema = {
  type: 'object',
  properties: { transferId: transferIdSchema },
  required: ['transferId'],
  additionalProperties: false,
} as const;

export const cancelTransferResultSchema = {
  type: 'object',
  properties: {
    transferId: transferIdSchema,
    cancelled: { type: 'boolean', description: 'false when the transfer had already finished.' },
  },
  required: ['transferId', 'cancelled'],
  additionalProperties: false,
} as const;

export const resumeTransferParamsSchema = {
  type: 'object',
  properties: {
    transferId: transferIdSchema,
    keyPassphrase: {
      ...passphraseSchema,
      description:
        'Passphrase of the transfer\'s key file, if it is protected (a protected key cannot resume by itself at start). Not needed while the identity the transfer started with is unlocked. Never logged, never stored, never echoed.',
    },
  },
  required: ['transferId'],
  additionalProperties: false,
} as const;

/** The upload or the download result: the fields of both, those of the other direction absent. */
export const resumeTransferResultSchema = {
  type: 'object',
  description: "The result the transfer's upload, download, uploadFolder or downloadFolder request would have answered with.",
  properties: {
    ...uploadResultSchema.properties,
    ...downloadResultSchema.properties,
    // A transfer group's result (uploadFolder, downloadFolder) adds these.
    filesTotal: uploadFolderResultSchema.properties.filesTotal,
    filesStored: uploadFolderResultSchema.properties.filesStored,
    filesSaved: downloadFolderResultSchema.properties.filesSaved,
    emptyFolders: uploadFolderResultSchema.properties.emptyFolders,
    failed: uploadFolderResultSchema.properties.failed,
    skipped: uploadFolderResultSchema.properties.skipped,
  },
  required: ['transferId', 'name', 'size'],
  additionalProperties: false,
} as const;

export const acknowledgeTransfersParamsSchema = {
  type: 'object',
  properties: {
    transferIds: {
      type: 'array',
      items: transferIdSchema,
      minItems: 1,
      maxItems: 1000,
      description: 'Finished transfers whose outcome the client has taken note of.',
    },
  },
  required: ['transferIds'],
  additionalProperties: false,
} as const;

export const acknowledgeTransfersResultSchema = {
  type: 'object',
  properties: {
    acknowledged: {
      type: 'array',
      items: transferIdSchema,
      description: 'The ids that were finished and are now forgotten; unknown and unfinished ids are left out.',
    },
  },
  required: ['acknowledged'],
  additionalProperties: false,
} as const;

export const listTransfersParamsSchema = {
  type: 'object',
  properties: {
    sinceSeq: {
      type: 'integer',
      minimum: 0,
      description: 'Only transfers that changed after this notification seq.',
    },
  },
  additionalProperties: false,
} as const;

export const listTransfersResultSchema = {
  type: 'object',
  properties: {
    seq: { ...seqSchema, description: 'The seq of the latest notification sent so far.' },
    instanceId: {
      type: 'string',
      minLength: 1,
      maxLength: 64,
      description: 'Random and new at every start of the server: when it changes, the server restarted (its seq began again).',
    },
    transfers: { type: 'array', items: transferStatusSchema },
  },
  required: ['seq', 'transfers'],
  additionalProperties: false,
} as const;

export const getServerInfoParamsSchema = noParams;

export const serverLimitsSchema = {
  type: 'object',
  properties: {
    maxMessageBytes: { type: 'integer', minimum: 1 },
    maxBatchSize: { type: 'integer', minimum: 1 },
    maxConcurrentTransfers: { type: 'integer', minimum: 1 },
    maxQueuedTransfers: { type: 'integer', minimum: 0 },
    progressIntervalMs: { type: 'integer', minimum: 1 },
    maxListLimit: { type: 'integer', minimum: 1 },
  },
  required: [
    'maxMessageBytes',
    'maxBatchSize',
    'maxConcurrentTransfers',
    'maxQueuedTransfers',
    'progressIntervalMs',
    'maxListLimit',
  ],
  additionalProperties: false,
} as const;

export const getServerInfoResultSchema = {
  type: 'object',
  properties: {
    name: { const: 'cloudlocker' },
    version: { type: 'string' },
    protocolVersion: { const: PROTOCOL_VERSION },
    formatVersion: { type: 'integer', minimum: 1 },
    storage: {
      type: 'object',
      properties: {
        kind: { type: 'string', enum: ['local', 's3'] },
        location: { type: 'string' },
        atomicNoOverwrite: { type: 'boolean' },
        headerRewrite: { type: 'string', enum: ['local-copy', 'server-side-copy', 'streamed', 'in-place'] },
        warnings: { type: 'array', items: { type: 'string' } },
      },
      required: ['kind', 'location'],
      additionalProperties: false,
    },
    limits: serverLimitsSchema,
  },
  required: ['name', 'version', 'protocolVersion', 'formatVersion', 'storage', 'limits'],
  additionalProperties: false,
} as const;

export const rpcDiscoverParamsSchema = noParams;

export const rpcDiscoverResultSchema = {
  type: 'object',
  description: 'The OpenRPC document of this API (openrpc.json).',
  properties: { openrpc: { type: 'string' } },
  required: ['openrpc'],
  additionalProperties: true,
} as const;

// ---------------------------------------------------------------------------
// Notifications.

export const transferProgressParamsSchema = {
  type: 'object',
  properties: { ...transferStatusProperties, seq: seqSchema },
  required: [...transferStatusRequired, 'seq'],
  additionalProperties: false,
} as const;

export const transferFinishedParamsSchema = {
  type: 'object',
  properties: {
    seq: seqSchema,
    transferId: transferIdSchema,
    direction: transferDirectionSchema,
    name: remoteNameSchema,
    operation: transferOperationSchema,
    outcome: { type: 'string', enum: ['completed', 'failed', 'cancelled'] },
    result: {
      description: "The upload, download, uploadFolder, shareFile, unshareFile or exportFile result, when outcome is 'completed'.",
      anyOf: [uploadResultSchema, downloadResultSchema, uploadFolderResultSchema, downloadFolderResultSchema, shareFileResultSchema, unshareFileResultSchema, exportFileResultSchema],
    },
    error: errorObjectSchema,
  },
  required: ['seq', 'transferId', 'direction', 'name', 'outcome'],
  additionalProperties: false,
} as const;
