/**
 * The one home of the protocol's error table (protocol-v1 "Errors").
 * Every error a client can see is created from this table, so a code, a reason
 * and its default message can only disagree with docs/protocol.md in one place
 * (a test compares them).
 */

/** JSON-RPC 2.0 standard codes. */
export const JsonRpcErrorCode = {
  PARSE_ERROR: -32700,
  INVALID_REQUEST: -32600,
  METHOD_NOT_FOUND: -32601,
  INVALID_PARAMS: -32602,
  INTERNAL_ERROR: -32603,
} as const;
export type JsonRpcErrorCode = (typeof JsonRpcErrorCode)[keyof typeof JsonRpcErrorCode];

export interface ApplicationErrorSpec {
  readonly code: number;
  /** What the error means, for docs and tooling. */
  readonly when: string;
  /** The default message: what went wrong and what to do. */
  readonly message: string;
}

/** Application error codes; each response carries `data.reason` = the key. */
export const ApplicationErrors = {
  NOT_FOUND: {
    code: -32001,
    when: 'local file, key file, remote file or transfer does not exist',
    message: 'Not found: check the name or path and try again.',
  },
  ALREADY_EXISTS: {
    code: -32002,
    when: 'target exists and overwrite is not true',
    message: 'The target already exists: choose another name or pass overwrite: true.',
  },
  KEY_INVALID: {
    code: -32003,
    when: 'key file unreadable, malformed, or wrong passphrase',
    message: 'The key file could not be used: it is malformed, unreadable, or the passphrase is wrong.',
  },
  KEY_MISMATCH: {
    code: -32004,
    when: 'the key is not the one the file was encrypted with',
    message: 'This key is not the one the file was encrypted with: use the key file that uploaded it.',
  },
  INTEGRITY: {
    code: -32005,
    when: 'stored data fails authentication: tampered, truncated, reordered',
    message: 'The stored file was altered or is incomplete: it fails authentication and cannot be trusted.',
  },
  STORAGE_UNAVAILABLE: {
    code: -32006,
    when: 'the storage backend failed after retries',
    message: 'The storage backend is unavailable: check that it is reachable and try again.',
  },
  CANCELLED: {
    code: -32007,
    when: 'the transfer was cancelled',
    message: 'The transfer was cancelled; nothing was kept.',
  },
  PERMISSION_DENIED: {
    code: -32008,
    when: 'the operating system refused a read or write',
    message: 'The operating system refused access: check the permissions of the file or folder.',
  },
  NO_SPACE: {
    code: -32009,
    when: 'the disk or quota is full',
    message: 'There is no space left: free some space and try again.',
  },
  SOURCE_CHANGED: {
    code: -32010,
    when: 'the local file changed while it was being uploaded',
    message: 'The file changed while it was being uploaded: upload it again once it is no longer being written.',
  },
  BUSY: {
    code: -32011,
    when: 'too many queued transfers',
    message: 'Too many transfers are queued: wait for some to finish and try again.',
  },
  // Format v2 (age): why an age object is refused on reading.
  NOT_A_RECIPIENT: {
    code: -32012,
    when: 'an age file holds no stanza for this identity',
    message: 'This file was not encrypted to your identity: use an identity it was made for.',
  },
  AUTHOR_MISSING: {
    code: -32013,
    when: 'an age file has no author stanza',
    message: 'The stored file carries no author signature: it may have been planted; accept unauthored files explicitly to import one.',
  },
  AUTHOR_UNKNOWN: {
    code: -32014,
    when: 'an age file was signed by an author who is not trusted',
    message: 'The stored file was signed by an author you do not trust.',
  },
  AUTHOR_INVALID: {
    code: -32015,
    when: "an age file's author stanza is malformed or its signature is forged",
    message: 'The stored file has a forged or damaged author signature: it cannot be trusted.',
  },
  WRONG_NAME: {
    code: -32016,
    when: 'an age file was made for another object name (moved or swapped)',
    message: 'The stored file was made for another name: it may have been moved or swapped.',
  },
  // -- Users, identities and contacts (issue 14): codes from -32030 up, so
  //    that other branches adding reasons do not collide.
  LOCKED: {
    code: -32030,
    when: 'the call needs an identity, none is unlocked and no keyPath was given',
    message: 'No identity is unlocked: unlock one first, or give keyPath.',
  },
  PASSPHRASE_WEAK: {
    code: -32031,
    when: 'a passphrase for the identity copy kept in the store is too easy to guess',
    message: 'That passphrase is too easy to guess for a copy kept in the store: choose a longer, less predictable one.',
  },
  IDENTITY_COPY_INVALID: {
    code: -32032,
    when: 'the identity copy in the store is not one this user made: damaged, for another user name, or planted',
    message: 'The identity copy in the store cannot be trusted: it is damaged or was not made for this user name. Nothing was written.',
  },
  CONTACTS_INVALID: {
    code: -32033,
    when: 'the contacts file in the data directory is damaged (it is left untouched)',
    message: 'The contacts file is damaged and was left untouched: repair or remove it.',
  },
} as const satisfies Record<string, ApplicationErrorSpec>;

export type ErrorReason = keyof typeof ApplicationErrors;
export const ERROR_REASONS = Object.keys(ApplicationErrors) as ErrorReason[];

/** The `error` member of a JSON-RPC response as this protocol sends it. */
export interface ProtocolError {
  code: number;
  message: string;
  data?: { reason?: ErrorReason; [key: string]: unknown };
}
