/**
 * The remote-name rule of protocol v1, as a function: JSON Schema can check
 * characters and segments (schemas.ts) but not the UTF-8 byte length or
 * unpaired surrogates, so the server runs this after schema validation.
 */
import { MAX_NAME_BYTES, REMOTE_NAME_PATTERN } from './schemas.js';

const namePattern = new RegExp(REMOTE_NAME_PATTERN, 'u');

/**
 * Names under this prefix belong to the service (the identity copies kept in
 * the store, `.cloudlocker/identities/<user name>`): no file method takes
 * one, and listings never show one (src/storage/reserved-names.ts).
 */
export const RESERVED_NAME_PREFIX = '.cloudlocker/';

export function isReservedName(name: string): boolean {
  return name === RESERVED_NAME_PREFIX.slice(0, -1) || name.startsWith(RESERVED_NAME_PREFIX);
}

/** Why `name` is not a valid remote name, or undefined when it is. */
export function remoteNameProblem(name: string): string | undefined {
  if (name.length === 0) return 'must not be empty';
  if (!isWellFormedUnicode(name)) return 'must be valid Unicode (no unpaired surrogates)';
  if (utf8ByteLength(name) > MAX_NAME_BYTES) return `must be at most ${MAX_NAME_BYTES} bytes of UTF-8`;
  if (name.startsWith('/')) return 'must not start with "/"';
  if (name.includes('\\')) return 'must not contain a backslash';
  if (/[\u0000-\u001f\u007f-\u009f]/u.test(name)) return 'must not contain control characters';
  for (const segment of name.split('/')) {
    if (segment === '') return 'must not contain an empty segment ("//" or a trailing "/")';
    if (segment === '.' || segment === '..') return 'must not contain a "." or ".." segment';
  }
  if (isReservedName(name)) return `must not start with "${RESERVED_NAME_PREFIX}" (reserved for the service's own use)`;
  // The checks above say why in words; the pattern is the schema's own rule.
  if (!namePattern.test(name)) return 'is not a valid remote name';
  return undefined;
}

export function isValidRemoteName(name: string): boolean {
  return remoteNameProblem(name) === undefined;
}

/** The last segment of a remote name: the default local file name on download. */
export function lastSegment(name: string): string {
  return name.slice(name.lastIndexOf('/') + 1);
}

export function utf8ByteLength(text: string): number {
  return new TextEncoder().encode(text).length;
}

function isWellFormedUnicode(text: string): boolean {
  // String.prototype.isWellFormed is Node 20+ but not in every browser engine yet.
  return !/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/.test(text);
}
