/**
 * What every backend's rewriteHeader (storage.ts) shares: the arguments'
 * checks and the error for an object that is no longer the version read.
 */
import { CloudlockerError } from '../errors.js';

/** Programming errors of the caller, as RangeError / TypeError. */
export function checkRewriteArguments(expectedVersion: string, oldHeaderLength: number, newHeader: Uint8Array): void {
  if (typeof expectedVersion !== 'string' || expectedVersion === '') {
    throw new TypeError('expectedVersion must be the ObjectInfo.version of the object read.');
  }
  if (!Number.isSafeInteger(oldHeaderLength) || oldHeaderLength < 0) {
    throw new RangeError(`oldHeaderLength must be an integer >= 0; got ${oldHeaderLength}.`);
  }
  if (!(newHeader instanceof Uint8Array)) throw new TypeError('newHeader must be bytes.');
}

/** The object is no longer the version the caller read (another writer replaced or deleted it): nothing was changed. */
export function sourceChanged(name: string): CloudlockerError {
  return new CloudlockerError(
    'SOURCE_CHANGED',
    `The remote file "${name}" was changed by another writer while it was being rewritten; nothing was changed: read it again and retry.`,
    { details: { conflict: 'version' } },
  );
}
