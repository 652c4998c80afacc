/**
 * Name helpers every storage backend shares: the defensive name check, the
 * UTF-8 byte order listings are sorted by, and the opaque list cursor.
 *
 * The protocol layer validates remote names before they reach storage; the
 * check here repeats the rules a backend's safety depends on, so that a bug
 * above cannot turn a name into a path outside the store.
 */
import { InvalidParamsError } from '../errors.js';

/** Longest object name in UTF-8 bytes (protocol v1). */
export const MAX_OBJECT_NAME_BYTES = 1024;
/** Largest list page (protocol v1 `listFiles.limit`). */
export const MAX_LIST_LIMIT = 1000;

const UNPAIRED_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;
// C0, DEL and C1: the protocol's "control characters".
const CONTROL_CHARACTER = /[\u0000-\u001f\u007f-\u009f]/;

/** Why `name` cannot name an object, or undefined when it can. */
export function objectNameProblem(name: string): string | undefined {
  if (typeof name !== 'string' || name.length === 0) return 'must be a non-empty string';
  // An unpaired surrogate would be replaced by U+FFFD when encoded as UTF-8,
  // so two different names would share one key.
  if (UNPAIRED_SURROGATE.test(name)) return 'must be valid Unicode (no unpaired surrogates)';
  if (Buffer.byteLength(name, 'utf8') > MAX_OBJECT_NAME_BYTES) {
    return `must be at most ${MAX_OBJECT_NAME_BYTES} bytes of UTF-8`;
  }
  if (name.startsWith('/')) return 'must not start with "/"';
  if (name.includes('\\')) return 'must not contain a backslash';
  if (CONTROL_CHARACTER.test(name)) return 'must not contain control characters';
  for (const segment of name.split('/')) {
    if (segment === '') return 'must not contain an empty segment';
    if (segment === '.' || segment === '..') return 'must not contain a "." or ".." segment';
  }
  return undefined;
}

/** Throws InvalidParamsError(param) unless `name` is a valid object name. */
export function assertObjectName(name: string, param = 'name'): void {
  const problem = objectNameProblem(name);
  if (problem !== undefined) throw new InvalidParamsError(`The remote name ${problem}.`, param);
}

/** True when `text` has no unpaired surrogate (so it has one UTF-8 encoding). */
export function isWellFormedText(text: string): boolean {
  return !UNPAIRED_SURROGATE.test(text);
}

/**
 * Compare two strings in UTF-8 byte order (the same as Unicode code point
 * order, and the order S3 lists keys in) without encoding them. JavaScript's
 * `<` compares UTF-16 code units, which puts U+E000..U+FFFF after the
 * supplementary planes; this moves surrogates above them instead.
 */
export function compareUtf8(a: string, b: string): number {
  const length = Math.min(a.length, b.length);
  for (let i = 0; i < length; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x !== y) return codePointRank(x) - codePointRank(y);
  }
  return a.length - b.length;
}

function codePointRank(codeUnit: number): number {
  if (codeUnit < 0xd800) return codeUnit;
  // Surrogates (supplementary code points) rank above every BMP character.
  return codeUnit < 0xe000 ? codeUnit + 0x2000 : codeUnit - 0x800;
}

/**
 * The list cursor: the last name of the previous page, base64url-encoded.
 * Opaque to clients; any backend that can list "names after X" can use it.
 */
export function encodeNameCursor(lastName: string): string {
  return Buffer.from(lastName, 'utf8').toString('base64url');
}

/**
 * The name or folder (a prefix ending in "/", from a delimited listing) a
 * list cursor stands for; InvalidParamsError('cursor') when it was not made
 * by encodeNameCursor.
 */
export function decodeListCursor(cursor: string): string {
  if (typeof cursor === 'string' && /^[A-Za-z0-9_-]+$/.test(cursor)) {
    const bytes = Buffer.from(cursor, 'base64url');
    if (bytes.length > 1 && bytes[bytes.length - 1] === 0x2f && bytes.toString('base64url') === cursor) {
      const folder = bytes.subarray(0, -1);
      const name = folder.toString('utf8');
      if (Buffer.from(name, 'utf8').equals(folder) && objectNameProblem(name) === undefined) return `${name}/`;
    }
  }
  return decodeNameCursor(cursor);
}

/**
 * The least string above every name that starts with `folder` (which ends in
 * "/"): "/" is 0x2F, so the folder with its last "/" turned into "0" (0x30).
 */
export function afterFolder(folder: string): string {
  return `${folder.slice(0, -1)}0`;
}

/** The name a cursor stands for; InvalidParamsError('cursor') when it was not made by encodeNameCursor. */
export function decodeNameCursor(cursor: string): string {
  const malformed = (): InvalidParamsError =>
    new InvalidParamsError('The cursor is not one this server returned: start the listing again without it.', 'cursor');
  if (typeof cursor !== 'string' || cursor.length === 0 || !/^[A-Za-z0-9_-]+$/.test(cursor)) throw malformed();
  const bytes = Buffer.from(cursor, 'base64url');
  // Only the canonical encoding of valid UTF-8 round-trips.
  if (bytes.toString('base64url') !== cursor) throw malformed();
  const name = bytes.toString('utf8');
  if (!Buffer.from(name, 'utf8').equals(bytes) || objectNameProblem(name) !== undefined) throw malformed();
  return name;
}
