import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { InvalidParamsError } from '../../src/errors.js';
import { compareUtf8, decodeNameCursor, encodeNameCursor, objectNameProblem } from '../../src/storage/names.js';

const anyText = fc.string({ unit: 'binary', maxLength: 20 });

describe('compareUtf8', () => {
  it('orders like a byte-wise comparison of the UTF-8 encodings (property)', () => {
    fc.assert(
      fc.property(anyText, anyText, (a, b) => {
        const expected = Math.sign(Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8')));
        expect(Math.sign(compareUtf8(a, b))).toBe(expected);
      }),
      { numRuns: 5000 },
    );
  });

  it('puts U+FF5E before an emoji, unlike JavaScript string comparison', () => {
    expect('\uff5e' > '😀').toBe(true);
    expect(compareUtf8('\uff5e', '😀')).toBeLessThan(0);
    expect(compareUtf8('a', 'a/b')).toBeLessThan(0);
    expect(compareUtf8('a/b', 'ab')).toBeLessThan(0);
    expect(compareUtf8('same', 'same')).toBe(0);
  });
});

describe('list cursors', () => {
  it('round-trip every valid name (property)', () => {
    fc.assert(
      fc.property(
        anyText.filter((name) => objectNameProblem(name) === undefined),
        (name) => {
          const cursor = encodeNameCursor(name);
          expect(cursor).toMatch(/^[A-Za-z0-9_-]+$/);
          expect(decodeNameCursor(cursor)).toBe(name);
        },
      ),
    );
  });

  it.each([
    ['empty', ''],
    ['not base64url', '!!not a cursor!!'],
    ['padded base64', 'YQ=='],
    ['non-canonical base64url', 'YR'],
    ['invalid UTF-8', Buffer.from([0xff, 0xfe]).toString('base64url')],
    ['not a valid name', Buffer.from('../x').toString('base64url')],
  ])('a cursor that is %s rejects with InvalidParamsError on "cursor"', (_label, cursor) => {
    let caught: unknown;
    try {
      decodeNameCursor(cursor);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(InvalidParamsError);
    expect((caught as InvalidParamsError).param).toBe('cursor');
  });
});
