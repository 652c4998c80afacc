/**
 * The remote-name rule (protocol/names.ts) and the JSON Schema pattern that
 * clients validate with must agree on characters and segments; names.ts adds
 * only what a schema cannot say (UTF-8 byte length, unpaired surrogates).
 */
import fc from 'fast-check';
import {
  MAX_NAME_BYTES,
  REMOTE_NAME_PATTERN,
  isValidRemoteName,
  lastSegment,
  remoteNameProblem,
  remoteNameSchema,
  utf8ByteLength,
} from '../../protocol/index.js';
import { createStrictAjv } from './contract-checks.js';

const validateWithSchema = createStrictAjv().compile(remoteNameSchema);
/** The pattern as Ajv runs it: Ajv 8 compiles `pattern` with the "u" flag. */
const pattern = new RegExp(REMOTE_NAME_PATTERN, 'u');
/** What remoteNameProblem says when only its final pattern test refused: the rule has no words for that case. */
const FALLBACK_PROBLEM = 'is not a valid remote name';

function hasLoneSurrogate(text: string): boolean {
  return /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/.test(text);
}

describe('remoteNameProblem', () => {
  it.each(['a', 'a/b', 'é/日本.txt', 'a..b', '.hidden', 'a/.b/c..', '...', 'reports/2026/q3.pdf', '😀', 'a b', '\u2028'])(
    'accepts %j',
    (name) => {
      expect(remoteNameProblem(name)).toBeUndefined();
      expect(isValidRemoteName(name)).toBe(true);
    },
  );

  it.each([
    ['empty', '', 'must not be empty'],
    ['/a', '/a', 'must not start with "/"'],
    ['a//b', 'a//b', 'must not contain an empty segment'],
    ['a/', 'a/', 'must not contain an empty segment'],
    ['.', '.', 'must not contain a "." or ".." segment'],
    ['..', '..', 'must not contain a "." or ".." segment'],
    ['a/../b', 'a/../b', 'must not contain a "." or ".." segment'],
    ['a/./b', 'a/./b', 'must not contain a "." or ".." segment'],
    ['a\\b (backslash)', 'a\\b', 'must not contain a backslash'],
    ['a NUL b', 'a\u0000b', 'must not contain control characters'],
    ['a LF b', 'a\nb', 'must not contain control characters'],
    ['U+0085 (C1 control)', '\u0085', 'must not contain control characters'],
    ['a DEL b', 'a\u007fb', 'must not contain control characters'],
    ['1025 bytes of "a"', 'a'.repeat(1025), `must be at most ${MAX_NAME_BYTES} bytes of UTF-8`],
    ['a + lone high surrogate', 'a\ud800', 'must be valid Unicode'],
    ['lone low surrogate + a', '\udc00a', 'must be valid Unicode'],
  ])('refuses %s', (_label, name, problem) => {
    expect(remoteNameProblem(name)).toContain(problem);
    expect(isValidRemoteName(name)).toBe(false);
  });

  it('counts the 1024-byte limit in UTF-8 bytes, not in characters', () => {
    const cases: Array<[string, boolean]> = [
      ['a'.repeat(1024), true],
      ['a'.repeat(1025), false],
      ['é'.repeat(512), true], // 2 bytes each: exactly 1024
      [`${'é'.repeat(512)}a`, false],
      [`${'日'.repeat(341)}a`, true], // 3 × 341 + 1 = 1024
      ['日'.repeat(342), false], // 1026 bytes, only 342 characters
      ['😀'.repeat(256), true], // 4 bytes each: 1024, 512 UTF-16 units
      [`${'😀'.repeat(256)}a`, false],
      [`${'ab/'.repeat(341)}x`, true], // 1024 bytes across 342 segments
    ];
    for (const [name, valid] of cases) {
      expect([utf8ByteLength(name) <= MAX_NAME_BYTES, isValidRemoteName(name)]).toEqual([valid, valid]);
    }
  });

  it('lets the JSON Schema accept every name of at most 1024 bytes that the rule accepts', () => {
    // maxLength counts code points, which never exceed the UTF-8 byte count.
    for (const name of ['a'.repeat(1024), 'é'.repeat(512), `${'日'.repeat(341)}a`, '😀'.repeat(256)]) {
      expect(validateWithSchema(name)).toBe(true);
    }
    expect(validateWithSchema('a'.repeat(1025))).toBe(false);
  });
});

describe('lastSegment and utf8ByteLength', () => {
  it('takes the part after the last "/"', () => {
    expect(lastSegment('a/b/c.txt')).toBe('c.txt');
    expect(lastSegment('c.txt')).toBe('c.txt');
  });

  it('counts UTF-8 bytes', () => {
    expect([utf8ByteLength('a'), utf8ByteLength('é'), utf8ByteLength('日'), utf8ByteLength('😀')]).toEqual([1, 2, 3, 4]);
  });
});

describe('the JSON Schema pattern and remoteNameProblem agree', () => {
  // Characters that each rule treats specially, plus ordinary ones of every UTF-8 length.
  const interesting = ['a', 'Z', '0', ' ', '-', 'é', '日', '😀', '.', '/', '\\', '\u0000', '\t', '\n', '\u001f', '\u007f', '\u0080', '\u0085', '\u009f', '\u00a0', '\u2028', '\ufeff'];
  const tricky = fc.array(fc.constantFrom(...interesting), { maxLength: 12 }).map((chars) => chars.join(''));
  /** Any well-formed string: lone surrogates are names.ts's business, not the schema's. */
  const anyText = fc.string({ unit: 'binary', maxLength: 16 }).filter((text) => !hasLoneSurrogate(text));
  const names = fc.oneof(tricky, anyText);

  it('on every generated name (the schema as Ajv runs it, and the bare pattern with "u")', () => {
    fc.assert(
      fc.property(names, (name) => {
        const ruleAccepts = remoteNameProblem(name) === undefined;
        return validateWithSchema(name) === ruleAccepts && (name.length > 0 && pattern.test(name)) === ruleAccepts;
      }),
      { numRuns: 2000 },
    );
  });

  it('and every refusal has a reason in words, never only the final pattern test', () => {
    // If the pattern refused something the worded rules let through, the two
    // copies of the rule would have drifted apart: catch that here.
    fc.assert(
      fc.property(names, (name) => remoteNameProblem(name) !== FALLBACK_PROBLEM),
      { numRuns: 2000 },
    );
  });

  it('generates both valid and invalid names (the properties above are not vacuous)', () => {
    const sample = fc.sample(tricky, { numRuns: 500, seed: 1 });
    const valid = sample.filter((name) => isValidRemoteName(name)).length;
    expect(valid).toBeGreaterThan(10);
    expect(sample.length - valid).toBeGreaterThan(10);
  });
});
