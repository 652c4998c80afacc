/**
 * The errors the crypto layer reports, worded for the person who will read
 * them. They never contain key bytes, passphrases or file contents; key ids
 * are not secret and are included where they help pick the right key file.
 */
import { CloudlockerError } from '../errors.js';

const INTEGRITY_PREFIX = 'The stored file was altered or is incomplete';
const INTEGRITY_ADVICE = 'it cannot be trusted; restore it from another copy or upload it again.';

/** `detail` says what failed, in plain words, without secrets. */
export function integrityError(detail: string, details?: Record<string, unknown>): CloudlockerError {
  return new CloudlockerError('INTEGRITY', `${INTEGRITY_PREFIX}: ${detail}; ${INTEGRITY_ADVICE}`, { details });
}

export function keyMismatchError(expectedKeyId: string, actualKeyId: string): CloudlockerError {
  return new CloudlockerError(
    'KEY_MISMATCH',
    `This file was encrypted with key ${expectedKeyId}, not with the key in use (${actualKeyId}): ` +
      'use the key file that uploaded it.',
    { details: { fileKeyId: expectedKeyId, keyId: actualKeyId } },
  );
}

export function keyInvalidError(detail: string, details?: Record<string, unknown>): CloudlockerError {
  return new CloudlockerError('KEY_INVALID', `The key file could not be used: ${detail}`, { details });
}
