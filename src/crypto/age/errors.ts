/**
 * Why an age object or identity could not be used. Every failure carries one
 * of these reasons, and each maps to a protocol reason (PROTOCOL_REASON):
 * the author and recipient failures have their own, the header and payload
 * failures are INTEGRITY; `details.ageReason` keeps the finer one.
 * Messages never contain keys, file keys, passphrases or plaintext.
 */
import { CloudlockerError } from '../../errors.js';
import type { ErrorReason } from '../../../protocol/errors.js';

export type AgeFailure =
  /** The header is not a well-formed age header (or over our limits). */
  | 'HEADER_INVALID'
  /** None of the recipient stanzas opens with this identity. */
  | 'NO_STANZA'
  /** A stanza for this identity is there, but the header MAC does not verify. */
  | 'HEADER_MAC'
  /** The payload fails authentication, is cut short, extended or reordered. */
  | 'PAYLOAD_INVALID'
  /** No cloudlocker.dev/author stanza (a plain age file, or one stripped of it). */
  | 'AUTHOR_MISSING'
  /** The author stanza names a card that is not one of the expected authors. */
  | 'AUTHOR_UNKNOWN'
  /** The author stanza is malformed, duplicated, or its signature does not verify. */
  | 'AUTHOR_INVALID'
  /** The author signed this file for another object name. */
  | 'WRONG_NAME';

/** The protocol reason each failure is reported as (the error table in docs/protocol.md). */
export const PROTOCOL_REASON: Record<AgeFailure, ErrorReason> = {
  HEADER_INVALID: 'INTEGRITY',
  NO_STANZA: 'NOT_A_RECIPIENT',
  HEADER_MAC: 'INTEGRITY',
  PAYLOAD_INVALID: 'INTEGRITY',
  AUTHOR_MISSING: 'AUTHOR_MISSING',
  AUTHOR_UNKNOWN: 'AUTHOR_UNKNOWN',
  AUTHOR_INVALID: 'AUTHOR_INVALID',
  WRONG_NAME: 'WRONG_NAME',
};

const PREFIX: Record<AgeFailure, string> = {
  HEADER_INVALID: 'The stored file is not a valid age file or was altered',
  NO_STANZA: 'This file was not encrypted to your identity',
  HEADER_MAC: 'The stored file was altered: its age header fails authentication',
  PAYLOAD_INVALID: 'The stored file was altered or is incomplete',
  AUTHOR_MISSING: 'The stored file carries no author signature (it may have been planted by someone who only knows your public key)',
  AUTHOR_UNKNOWN: 'The stored file was signed by an author you do not trust',
  AUTHOR_INVALID: 'The stored file has a forged or damaged author signature',
  WRONG_NAME: 'The stored file was made for another name (it may have been moved or swapped)',
};

export class AgeError extends CloudlockerError {
  readonly ageReason: AgeFailure;
  constructor(ageReason: AgeFailure, detail: string, details: Record<string, unknown> = {}) {
    super(PROTOCOL_REASON[ageReason], `${PREFIX[ageReason]}: ${detail}`, { details: { ...details, ageReason } });
    this.ageReason = ageReason;
  }
}

export function isAgeError(err: unknown, reason?: AgeFailure): err is AgeError {
  return err instanceof AgeError && (reason === undefined || err.ageReason === reason);
}
