import path from 'node:path';
import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { InvalidParamsError } from '../../../src/errors.js';
import {
  decodeObjectPath,
  encodeObjectPath,
  MAX_ENTRY_BYTES,
} from '../../../src/storage/local/name-encoding.js';
import { objectNameProblem } from '../../../src/storage/names.js';

/** Segments rich in what the encoding must handle: case, dots, Windows-hostile characters, Unicode. */
const segmentChar = fc.oneof(
  fc.constantFrom('a', 'A', 'z', 'Z', '0', '.', '_', '-', ' ', '%', '@', '&', ':', '?', '*', '<', '>', '|', '"', '~', '^'),
  fc.constantFrom('con', 'CON', 'nul', 'Com1', 'lpt9', 'aux', '.tmp', '..', 'é', 'e\u0301', '日本', '😀', '\uff5e'),
  fc.string({ unit: 'binary', minLength: 1, maxLength: 2 }),
);
const segment = fc.array(segmentChar, { minLength: 1, maxLength: 12 }).map((parts) => parts.join(''));
const longSegment = fc.array(segmentChar, { minLength: 60, maxLength: 200 }).map((parts) => parts.join(''));
const validName = fc
  .array(fc.oneof({ weight: 5, arbitrary: segment }, { weight: 1, arbitrary: longSegment }), { minLength: 1, maxLength: 5 })
  .map((segments) => segments.join('/'))
  .filter((name) => objectNameProblem(name) === undefined);

const WINDOWS_DEVICE_BASE = /^(?:con|prn|aux|nul|com[0-9]|lpt[0-9])(?:\.|$)/i;

function isPortableEntry(entry: string): boolean {
  return (
    // Lowercase ASCII only: case-insensitive and normalising file systems keep names apart.
    /^[a-z0-9._%@&-]+$/.test(entry) &&
    entry.length <= MAX_ENTRY_BYTES &&
    !entry.startsWith('.') && // never the temp folder, never hidden
    !entry.endsWith('.') && // Windows strips trailing dots
    !WINDOWS_DEVICE_BASE.test(entry)
  );
}

describe('encodeObjectPath / decodeObjectPath', () => {
  it('round-trips every valid name (property)', () => {
    fc.assert(
      fc.property(validName, (name) => {
        expect(decodeObjectPath(encodeObjectPath(name))).toBe(name);
      }),
      { numRuns: 2000 },
    );
  });

  it('produces only entries that are safe on Windows, macOS and Linux (property)', () => {
    fc.assert(
      fc.property(validName, (name) => {
        const unsafe = encodeObjectPath(name).filter((entry) => !isPortableEntry(entry));
        expect(unsafe).toEqual([]);
      }),
      { numRuns: 2000 },
    );
  });

  it('never maps a name outside the store (property)', () => {
    const root = path.resolve('/store');
    fc.assert(
      fc.property(validName, (name) => {
        const relative = path.relative(root, path.join(root, ...encodeObjectPath(name)));
        expect(relative.startsWith('..')).toBe(false);
        expect(path.isAbsolute(relative)).toBe(false);
      }),
      { numRuns: 1000 },
    );
  });

  it('maps distinct names to distinct paths, even ignoring case (property)', () => {
    fc.assert(
      fc.property(validName, validName, (a, b) => {
        fc.pre(a !== b);
        const pathA = encodeObjectPath(a).join('/').toLowerCase();
        const pathB = encodeObjectPath(b).join('/').toLowerCase();
        expect(pathA).not.toBe(pathB);
      }),
      { numRuns: 1000 },
    );
  });

  it.each([
    ['report.pdf', ['report.pdf@']],
    ['a/b', ['a', 'b@']],
    ['README', ['%52%45%41%44%4d%45@']],
    ['with space', ['with%20space@']],
    ['a:b', ['a%3ab@']],
    ['%41', ['%2541@']],
    ['x@', ['x%40@']],
    ['.tmp', ['%2etmp@']],
    ['trailing.', ['trailing%2e@']],
    ['con', ['%63on@']],
    ['con.txt', ['%63on.txt@']],
    ['console', ['console@']],
    ['com1/lpt2.x', ['%63om1', '%6cpt2.x@']],
    ['é', ['%c3%a9@']],
    // The edges of the literal set, and their neighbours (escaped): a round trip cannot tell
    // a needless escape from a literal, so only the exact entries pin what is literal.
    ['az09._-', ['az09._-@']],
    ['`{/:', ['%60%7b', '%3a@']],
    ['x/+^', ['x', '%2b%5e@']],
  ])('encodes %j as %j', (name, entries) => {
    expect(encodeObjectPath(name)).toEqual(entries);
  });

  it('splits a segment too long for one entry into continuation directories', () => {
    const name = `dir/${'x'.repeat(400)}`;
    const entries = encodeObjectPath(name);
    expect(entries[0]).toBe('dir');
    expect(entries.length).toBeGreaterThan(3);
    expect(entries.slice(1, -1).every((entry) => entry.endsWith('&'))).toBe(true);
    expect(entries[entries.length - 1].endsWith('@')).toBe(true);
    expect(decodeObjectPath(entries)).toBe(name);
  });

  it('fills a chunk to its budget exactly before it splits (135 literal bytes, then one more)', () => {
    // MAX_ENTRY_BYTES (140) less the marker and room to escape a first and last token: 135 tokens.
    expect(encodeObjectPath('a'.repeat(135))).toEqual([`${'a'.repeat(135)}@`]);
    expect(encodeObjectPath('a'.repeat(136))).toEqual([`${'a'.repeat(135)}&`, 'a@']);
  });

  it('names the problem in the error for a name that is not valid', () => {
    expect(() => encodeObjectPath('a//b')).toThrow('The remote name must not contain an empty segment.');
    let caught: unknown;
    try {
      encodeObjectPath('a//b');
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(InvalidParamsError);
    expect((caught as InvalidParamsError).param).toBe('name');
  });

  it('handles the longest name: 1024 bytes in one segment', () => {
    const name = '長'.repeat(341) + 'x'; // 1024 bytes of UTF-8
    expect(Buffer.byteLength(name)).toBe(1024);
    const entries = encodeObjectPath(name);
    expect(entries.every((entry) => entry.length <= MAX_ENTRY_BYTES)).toBe(true);
    expect(decodeObjectPath(entries)).toBe(name);
  });

  it.each([
    ['empty', ''],
    ['parent segment', '../x'],
    ['parent in the middle', 'a/../../etc/passwd'],
    ['dot segment', 'a/./b'],
    ['absolute', '/etc/passwd'],
    ['backslash', 'a\\..\\b'],
    ['empty segment', 'a//b'],
    ['trailing slash', 'a/'],
    ['control character', 'a\u0000b'],
    ['newline', 'a\nb'],
    ['C1 control', 'a\u0085b'],
    ['unpaired surrogate', 'a\ud800b'],
    ['too long', 'x'.repeat(1025)],
  ])('refuses a name that is not valid (%s) with InvalidParamsError', (_label, name) => {
    expect(() => encodeObjectPath(name)).toThrow(InvalidParamsError);
  });

  it.each([
    ['not an object file', ['readme']],
    ['a hidden file', ['.ds_store@']],
    ['uppercase (made by hand)', ['README@']],
    ['a needless escape', ['%61bc@']],
    ['uppercase hex', ['%C3%A9@']],
    ['a forbidden literal', ['a b@']],
    ['a dangling escape', ['ab%4@']],
    ['invalid UTF-8', ['%ff@']],
    ['a device name left bare', ['con@']],
    ['a continuation at the end', ['abc&@']],
    ['a split that is not canonical', ['ab&', 'c@']],
    ['no entries', []],
    // A well-formed path whose name no object can have: a stray file must be skipped, not throw.
    ['a control character', ['a%00b@']],
    ['a dot-dot segment', ['%2e%2e', 'x@']],
    ['an empty segment', ['a', '@']],
    // Canonical except for one of several entries.
    ['a needless escape after a canonical entry', ['a', '%62@']],
    ['a needless escape before a canonical entry', ['%61', 'b@']],
  ])('decodes nothing from %s', (_label, entries) => {
    expect(decodeObjectPath(entries)).toBeUndefined();
  });
});
