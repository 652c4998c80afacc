/**
 * How an object name becomes a path under the local store, reversibly and
 * safely on every desktop file system (see docs/storage.md, "Local directory").
 *
 * Each '/'-separated segment of the name becomes one or more directory
 * entries. A segment's UTF-8 bytes are written literally when they are
 * [a-z0-9._-] and as `%xx` (lowercase hex) otherwise, so an encoded entry
 * holds only lowercase ASCII: names that differ only by case or by Unicode
 * normalisation stay distinct on case-insensitive, normalising file systems
 * (APFS, NTFS), and no character any of them forbids can appear. On top:
 *
 * - a leading '.' is escaped, so no encoded entry starts with '.': names such
 *   as `.tmp` are free for the store's own use and hidden files that other
 *   programs drop in (.DS_Store) are never taken for objects;
 * - a trailing '.' is escaped (Windows strips it);
 * - a Windows device name (con, nul, com1, ... also with an extension, as in
 *   `con.txt`) gets its first letter escaped;
 * - an object's file ends in '@' and a directory never does, so `a` (an
 *   object) and `a/b` (an object under directory `a`) can both exist;
 * - a segment whose encoding would exceed MAX_ENTRY_BYTES is split into
 *   chunks: every chunk but the last is a directory ending in '&'. Entries
 *   thus stay under the 143-byte name limit of the strictest common file
 *   system (eCryptfs; 255 elsewhere).
 *
 * '@', '&' and '%' are never literal, so the markers cannot be forged by a
 * name. Decoding accepts only the canonical encoding (it re-encodes and
 * compares), so every object has exactly one path.
 */
import { InvalidParamsError } from '../../errors.js';
import { objectNameProblem } from '../names.js';

/** Ends the file name of every object. */
export const OBJECT_SUFFIX = '@';
/** Ends a directory holding the rest of a segment too long for one entry. */
export const CONTINUATION_SUFFIX = '&';
/** Longest directory entry the encoding produces, markers included (ASCII, so bytes = characters). */
export const MAX_ENTRY_BYTES = 140;
// Room for the marker and for escaping the chunk's first and last token (2 extra bytes each).
const CHUNK_BUDGET = MAX_ENTRY_BYTES - 1 - 2 - 2;

const WINDOWS_DEVICE_NAME = /^(?:con|prn|aux|nul|com[0-9]|lpt[0-9])$/;
const ENCODED_ENTRY = /^[a-z0-9._%@&-]+$/;

function isLiteralByte(byte: number): boolean {
  return (
    (byte >= 0x61 && byte <= 0x7a) || // a-z
    (byte >= 0x30 && byte <= 0x39) || // 0-9
    byte === 0x2e || // .
    byte === 0x5f || // _
    byte === 0x2d // -
  );
}

function escapeByte(byte: number): string {
  return '%' + byte.toString(16).padStart(2, '0');
}

/** One token per UTF-8 byte: the literal character or its escape. */
function tokenize(segment: string): string[] {
  const tokens: string[] = [];
  for (const byte of Buffer.from(segment, 'utf8')) {
    tokens.push(isLiteralByte(byte) ? String.fromCharCode(byte) : escapeByte(byte));
  }
  return tokens;
}

function escapeToken(token: string): string {
  return token.length === 1 ? escapeByte(token.charCodeAt(0)) : token;
}

/** Apply the per-entry rules (leading dot, trailing dot, device names) to one chunk of tokens. */
function finishChunk(tokens: string[], isLastChunk: boolean): string {
  const out = tokens.slice();
  if (out[0] === '.') out[0] = escapeToken(out[0]);
  const lastIndex = out.length - 1;
  if (isLastChunk && out[lastIndex] === '.') out[lastIndex] = escapeToken(out[lastIndex]);
  const text = out.join('');
  const dot = text.indexOf('.');
  const base = dot === -1 ? text : text.slice(0, dot);
  if (WINDOWS_DEVICE_NAME.test(base)) out[0] = escapeToken(out[0]);
  return out.join('');
}

/** The entries one segment becomes; the last one has no marker yet. */
function encodeSegment(segment: string): string[] {
  const tokens = tokenize(segment);
  const chunks: string[][] = [];
  let current: string[] = [];
  let currentBytes = 0;
  for (const token of tokens) {
    if (currentBytes + token.length > CHUNK_BUDGET) {
      chunks.push(current);
      current = [];
      currentBytes = 0;
    }
    current.push(token);
    currentBytes += token.length;
  }
  chunks.push(current);
  return chunks.map((chunk, index) => {
    const isLast = index === chunks.length - 1;
    const entry = finishChunk(chunk, isLast);
    return isLast ? entry : entry + CONTINUATION_SUFFIX;
  });
}

/**
 * The directory entries, from the store root down, of the file holding
 * object `name`. Throws InvalidParamsError('name') for a name no object can
 * have.
 */
export function encodeObjectPath(name: string): string[] {
  const problem = objectNameProblem(name);
  if (problem !== undefined) throw new InvalidParamsError(`The remote name ${problem}.`, 'name');
  const entries = name.split('/').flatMap(encodeSegment);
  entries[entries.length - 1] += OBJECT_SUFFIX;
  // Defence in depth: whatever the rules above do, nothing but these
  // characters reaches the file system, and no entry is "." or "..".
  for (const entry of entries) {
    if (!ENCODED_ENTRY.test(entry) || entry.startsWith('.') || entry.length > MAX_ENTRY_BYTES) {
      throw new Error('Internal error: name encoding produced an unsafe entry.');
    }
  }
  return entries;
}

/** Bytes of a `%xx`/literal string, or undefined if it is not one. */
function percentDecode(text: string): Buffer | undefined {
  const bytes: number[] = [];
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code === 0x25) {
      const hex = text.slice(i + 1, i + 3);
      if (!/^[0-9a-f]{2}$/.test(hex)) return undefined;
      bytes.push(parseInt(hex, 16));
      i += 2;
    } else if (isLiteralByte(code)) {
      bytes.push(code);
    } else {
      return undefined;
    }
  }
  return Buffer.from(bytes);
}

/**
 * The object name whose file is at `entries` (relative to the store root),
 * or undefined when those entries are not the canonical encoding of any name
 * (a stray file, a temporary, a hand-made path).
 */
export function decodeObjectPath(entries: readonly string[]): string | undefined {
  if (entries.length === 0) return undefined;
  const last = entries[entries.length - 1];
  if (!last.endsWith(OBJECT_SUFFIX)) return undefined;
  const segments: string[] = [];
  let pending = '';
  for (let i = 0; i < entries.length; i++) {
    const entry = i === entries.length - 1 ? entries[i].slice(0, -OBJECT_SUFFIX.length) : entries[i];
    if (entry.endsWith(CONTINUATION_SUFFIX)) {
      if (i === entries.length - 1) return undefined;
      pending += entry.slice(0, -CONTINUATION_SUFFIX.length);
      continue;
    }
    const bytes = percentDecode(pending + entry);
    if (bytes === undefined) return undefined;
    segments.push(bytes.toString('utf8'));
    pending = '';
  }
  const name = segments.join('/');
  if (objectNameProblem(name) !== undefined) return undefined;
  const canonical = encodeObjectPath(name);
  if (canonical.length !== entries.length || canonical.some((entry, i) => entry !== entries[i])) return undefined;
  return name;
}
