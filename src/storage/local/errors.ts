/**
 * Operating-system errors of the local store, mapped to the reasons the
 * storage contract allows for each operation. Messages never carry a path:
 * Node's own messages do ("ENOENT: no such file or directory, open '/home/…'"),
 * so they travel only as `cause`, which the server never sends to clients.
 */
import type { ErrorReason } from '../../../protocol/errors.js';
import { CloudlockerError, fromSystemError, systemErrorCode } from '../../errors.js';

/** How the local store is named in messages. */
const WHAT = 'the local store';

/**
 * An operating-system error as a CloudlockerError whose reason is one of
 * `allowed` (the reasons the contract names for the operation), or else
 * STORAGE_UNAVAILABLE with the error code in the message. A CloudlockerError
 * this backend raised itself (NOT_FOUND, ALREADY_EXISTS, CANCELLED) passes
 * through unchanged.
 */
export function toStorageError(err: unknown, allowed: readonly ErrorReason[]): CloudlockerError {
  if (err instanceof CloudlockerError) return err;
  let mapped: CloudlockerError | undefined;
  try {
    mapped = fromSystemError(err, WHAT);
  } catch {
    // fromSystemError rethrows errors with no protocol meaning (EIO, EMFILE, ...).
    mapped = undefined;
  }
  if (mapped !== undefined && allowed.includes(mapped.reason)) return mapped;
  const code = systemErrorCode(err);
  const detail = code === undefined ? '' : ` (${code})`;
  return new CloudlockerError(
    'STORAGE_UNAVAILABLE',
    `The local store failed${detail}: check that its disk is present, healthy and writable.`,
    { cause: err },
  );
}

export function notFound(cause?: unknown): CloudlockerError {
  return new CloudlockerError('NOT_FOUND', 'No remote file has this name.', { cause });
}

export function alreadyExists(cause?: unknown): CloudlockerError {
  return new CloudlockerError(
    'ALREADY_EXISTS',
    'A remote file with this name already exists: choose another name or pass overwrite: true.',
    { cause },
  );
}

export function cancelled(signal?: AbortSignal): CloudlockerError {
  return new CloudlockerError('CANCELLED', undefined, { cause: signal?.reason });
}

/** Rejects with CANCELLED when `signal` has aborted. */
export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted === true) throw cancelled(signal);
}

export function isMissingFileError(err: unknown): boolean {
  const code = systemErrorCode(err);
  return code === 'ENOENT' || code === 'ENOTDIR';
}
