/**
 * The storage layer's own name check (objectNameProblem), rule by rule at
 * each boundary, with the exact reason a client is told, and compareUtf8 at
 * the edges of the surrogate range. Written for the mutation audit (issue 18):
 * src/storage/names.ts is what keeps a name from turning into a path outside
 * the store, and the protocol-level tests go through another check first.
 */
import { describe, expect, it } from '@jest/globals';
import { InvalidParamsError } from '../../src/errors.js';
import { assertObjectName, compareUtf8, decodeNameCursor, isWellFormedText, MAX_OBJECT_NAME_BYTES, objectNameProblem } from '../../src/storage/names.js';

describe('objectNameProblem, rule by rule', () => {
  it.each([
    ['', 'must be a non-empty string'],
    ['x\ud800', 'must be valid Unicode (no unpaired surrogates)'],
    ['\ud800x', 'must be valid Unicode (no unpaired surrogates)'],
    ['x\udc00', 'must be valid Unicode (no unpaired surrogates)'],
    ['\udc00\udc00', 'must be valid Unicode (no unpaired surrogates)'],
    ['\udc00\ud800', 'must be valid Unicode (no unpaired surrogates)'],
    ['a'.repeat(MAX_OBJECT_NAME_BYTES + 1), `must be at most ${MAX_OBJECT_NAME_BYTES} bytes of UTF-8`],
    ['é'.repeat(MAX_OBJECT_NAME_BYTES / 2) + 'a', `must be at most ${MAX_OBJECT_NAME_BYTES} bytes of UTF-8`],
    ['/a', 'must not start with "/"'],
    ['a\\b', 'must not contain a backslash'],
    ['a\u0000', 'must not contain control characters'],
    ['a\u001fb', 'must not contain control characters'],
    ['a\u007f', 'must not contain control characters'],
    ['a\u0080', 'must not contain control characters'],
    ['a\u009f', 'must not contain control characters'],
    ['a/', 'must not contain an empty segment'],
    ['a//b', 'must not contain an empty segment'],
    ['.', 'must not contain a "." or ".." segment'],
    ['..', 'must not contain a "." or ".." segment'],
    ['a/./b', 'must not contain a "." or ".." segment'],
    ['a/..', 'must not contain a "." or ".." segment'],
  ])('refuses %j: %s', (name, problem) => {
    expect(objectNameProblem(name)).toBe(problem);
  });

  it.each([
    ['a'],
    ['a'.repeat(MAX_OBJECT_NAME_BYTES)],
    ['é'.repeat(MAX_OBJECT_NAME_BYTES / 2)],
    ['a/b/c'],
    ['.hidden'],
    ['...'],
    ['a.'],
    ['a b\u007e\u00a0'],
    ['\u{1F600}/\ud83d\ude00'],
    ['trailing\uFFFD'],
  ])('accepts %j', (name) => {
    expect(objectNameProblem(name)).toBeUndefined();
  });

  it('refuses what is not a string', () => {
    for (const value of [42, undefined, null, ['a']]) expect(objectNameProblem(value as unknown as string)).toBe('must be a non-empty string');
  });

  it('assertObjectName names the parameter and the rule', () => {
    expect(() => assertObjectName('a//b', 'destination')).toThrow(InvalidParamsError);
    try {
      assertObjectName('a//b', 'destination');
    } catch (err) {
      expect((err as InvalidParamsError).param).toBe('destination');
      expect((err as Error).message).toBe('The remote name must not contain an empty segment.');
    }
    expect(() => assertObjectName('fine/name')).not.toThrow();
    try {
      assertObjectName('');
    } catch (err) {
      expect((err as InvalidParamsError).param).toBe('name');
    }
    expect(() => assertObjectName('')).toThrow(InvalidParamsError);
  });

  it('isWellFormedText tells unpaired surrogates from pairs', () => {
    expect(['a', '\ud83d\ude00', ''].map(isWellFormedText)).toEqual([true, true, true]);
    expect(['\ud83d', '\ude00', 'a\ud83da', '\ude00\ud83d'].map(isWellFormedText)).toEqual([false, false, false, false]);
  });
});

describe('compareUtf8 at the edges of the surrogate range', () => {
  it.each([
    ['\ud7ff', '\ue000'],
    ['\ud7ff', '\u{10000}'],
    ['\ue000', '\u{10000}'],
    ['\uffff', '\u{10000}'],
    ['\u{10000}', '\u{10FFFF}'],
  ])('%j sorts before %j, as their UTF-8 bytes do', (lower, higher) => {
    expect(Buffer.compare(Buffer.from(lower), Buffer.from(higher))).toBe(-1);
    expect(compareUtf8(lower, higher)).toBeLessThan(0);
    expect(compareUtf8(higher, lower)).toBeGreaterThan(0);
  });
});

describe('decodeNameCursor', () => {
  it('refuses what is not a string with InvalidParamsError on "cursor"', () => {
    for (const value of [42, undefined, null]) {
      expect(() => decodeNameCursor(value as unknown as string)).toThrow(InvalidParamsError);
    }
  });

  it('says what to do with a cursor it does not know', () => {
    expect(() => decodeNameCursor('!')).toThrow('The cursor is not one this server returned: start the listing again without it.');
  });
});
