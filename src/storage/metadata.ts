/**
 * User metadata on stored objects (WriteOptions.metadata, ObjectInfo.metadata):
 * a few short, NON-SECRET strings kept beside an object (S3: user metadata
 * headers; local: a sidecar file bound to the object's version), for what a
 * caller wants to know without reading the object.
 *
 * It is neither encrypted nor authenticated: the store sees it in clear and
 * could change it. Nothing secret, nothing that identifies content, and
 * nothing a security decision rests on belongs here (that is the encrypted
 * format's job). Since the store is not trusted, what it hands back is checked
 * against the same rules as what is written, and refused whole if it breaks
 * them (stat rejects with STORAGE_UNAVAILABLE): a caller never sees
 * malformed metadata.
 *
 * The rules fit every S3-compatible store: S3 lower-cases metadata keys and
 * sends values as HTTP header values (ASCII, trimmed), and caps all user
 * metadata at 2 KiB.
 */
import { CloudlockerError, InvalidParamsError } from '../errors.js';

export type ObjectMetadata = Readonly<Record<string, string>>;

export const MAX_METADATA_ENTRIES = 16;
/** Keys and values together, in bytes (well under S3's 2 KiB, which the upload marker shares). */
export const MAX_METADATA_BYTES = 1024;
/** Lower-case letters, digits and '-', starting with a letter or digit, at most 48 bytes. */
const KEY_PATTERN = /^[a-z0-9][a-z0-9-]{0,47}$/;
/** Printable ASCII, no leading or trailing space (HTTP trims them), 1 byte at least. */
const VALUE_PATTERN = /^[\x21-\x7e](?:[\x20-\x7e]*[\x21-\x7e])?$/;

/** The first rule `metadata` breaks, or undefined when it is well-formed. */
export function metadataProblem(metadata: unknown): string | undefined {
  if (typeof metadata !== 'object' || metadata === null || Array.isArray(metadata)) return 'metadata must be an object of strings';
  const entries = Object.entries(metadata);
  if (entries.length > MAX_METADATA_ENTRIES) return `metadata has more than ${MAX_METADATA_ENTRIES} entries`;
  let bytes = 0;
  for (const [key, value] of entries) {
    if (!KEY_PATTERN.test(key)) return `metadata key ${JSON.stringify(key.slice(0, 60))} is not 1-48 of a-z, 0-9 and "-" (starting with a letter or digit)`;
    if (typeof value !== 'string' || !VALUE_PATTERN.test(value)) return `metadata value of ${JSON.stringify(key)} is not printable ASCII without leading or trailing spaces`;
    bytes += key.length + value.length;
  }
  if (bytes > MAX_METADATA_BYTES) return `metadata holds more than ${MAX_METADATA_BYTES} bytes`;
  return undefined;
}

/** Checks metadata given to a write: InvalidParamsError (param "metadata") when it breaks a rule. */
export function checkMetadataToWrite(metadata: ObjectMetadata | undefined): void {
  if (metadata === undefined) return;
  const problem = metadataProblem(metadata);
  if (problem !== undefined) throw new InvalidParamsError(`Invalid ${problem}.`, 'metadata');
}

/**
 * Metadata the store handed back, checked: a plain copy when well-formed,
 * undefined when empty, STORAGE_UNAVAILABLE when it breaks a rule.
 */
export function checkStoredMetadata(name: string, metadata: Record<string, unknown>): ObjectMetadata | undefined {
  const problem = metadataProblem(metadata);
  if (problem !== undefined) throw malformedMetadata(name, problem);
  const entries = Object.entries(metadata as Record<string, string>);
  if (entries.length === 0) return undefined;
  return Object.freeze(Object.fromEntries(entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))));
}

/** What stat rejects with when the store's metadata for `name` breaks a rule. */
export function malformedMetadata(name: string, problem: string): CloudlockerError {
  return new CloudlockerError(
    'STORAGE_UNAVAILABLE',
    `The store returned malformed metadata for "${name}" (${problem}): it was not passed on.`,
    { details: { metadata: 'malformed' } },
  );
}
