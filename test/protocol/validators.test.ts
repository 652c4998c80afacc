/**
 * The service validates params and settings with validators compiled at build
 * time (tools/gen-validators.ts → src/server/params-validators.generated.ts,
 * src/config/settings-validator.generated.ts), so nothing compiles a schema at
 * start-up. These tests fail when a committed file is not what the tool writes
 * from today's schemas, options and Ajv version, and check on generated input
 * that each precompiled validator answers exactly as Ajv compiling the same
 * schema at run time does: same verdict, same error objects.
 */
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { Ajv, type Options, type ValidateFunction } from 'ajv';
import addFormats from 'ajv-formats';
import fc from 'fast-check';
import { METHODS, type JsonSchema } from '../../protocol/index.js';
import { SETTINGS_SCHEMA } from '../../src/config/config-schema.js';
import { SETTINGS_VALIDATOR } from '../../src/config/settings-validator.generated.js';
import { PARAMS_VALIDATORS } from '../../src/server/params-validators.generated.js';
import { findRepoRoot } from '../../tools/gen-openrpc.js';
import { PARAMS_AJV_OPTIONS, REGENERATE_COMMAND, SETTINGS_AJV_OPTIONS, renderValidatorFiles } from '../../tools/gen-validators.js';

const root = findRepoRoot();

function compiledAtRunTime(options: Options, schema: JsonSchema): ValidateFunction {
  const ajv = new Ajv(options);
  addFormats.default(ajv);
  return ajv.compile(schema);
}

/** Objects with the schema's own property names (and a few others) holding values of every JSON kind, some near the limits. */
function candidateObjects(schema: JsonSchema): fc.Arbitrary<unknown> {
  const names = Object.keys((schema['properties'] ?? {}) as Record<string, unknown>);
  const text = fc.oneof(
    fc.string({ maxLength: 12 }),
    fc.string({ unit: 'binary', maxLength: 12 }),
    fc.constantFrom('', '.', '..', 'a/b', 'a//b', '/a', 'a\\b', 'x\u0000y', 'transfer_1-A', '2026-12-05T07:00:00Z', 'info', 'json', 's3'),
    fc.integer({ min: 0, max: 5000 }).map((length) => 'n'.repeat(length)),
    fc.constantFrom(63, 64, 65, 128, 129, 255, 256, 1023, 1024, 1025, 2048, 2049, 4096, 4097).map((length) => 'n'.repeat(length)),
  );
  const value = fc.oneof(
    text,
    fc.integer({ min: -10, max: 70_000 }),
    fc.constantFrom(-1, 0, 1, 9, 10, 999, 1000, 1001, 1023, 1024, 60_000, 60_001, 65_535, 65_536, 100 * 1024 * 1024 + 1),
    fc.double(),
    fc.boolean(),
    fc.constant(null),
    fc.array(text, { maxLength: 4 }),
    fc.array(fc.integer(), { maxLength: 2 }),
    fc.dictionary(fc.constantFrom(...names, 'extra'), text, { maxKeys: 2 }),
  );
  return fc.oneof(
    { weight: 8, arbitrary: fc.dictionary(fc.constantFrom(...names, ...names, 'extra', '', '__proto__'), value, { maxKeys: names.length + 1 }) },
    { weight: 1, arbitrary: fc.jsonValue() },
  );
}

function sameAnswers(precompiled: ValidateFunction, reference: ValidateFunction, schema: JsonSchema): void {
  fc.assert(
    fc.property(candidateObjects(schema), (data) => {
      const expected = [reference(data), reference.errors];
      const actual = [precompiled(data), precompiled.errors];
      expect(actual).toEqual(expected);
    }),
    { numRuns: 300 },
  );
}

describe('precompiled validators (tools/gen-validators.ts)', () => {
  it.each(renderValidatorFiles().map((file) => [file.path, file.text] as const))(
    '%s is exactly what the tool writes from the current schemas',
    (file, expected) => {
      const committed = readFileSync(path.join(root, ...file.split('/')), 'utf8');
      if (committed !== expected) {
        throw new Error(`${file} is stale (a schema, an option or the Ajv version changed). Regenerate with:\n  npm run gen:validators\nor, while the tree does not compile:\n  ${REGENERATE_COMMAND}\n`);
      }
    },
  );

  it('has one params validator for each protocol method and no other', () => {
    expect([...PARAMS_VALIDATORS.keys()]).toEqual(METHODS.map((descriptor) => descriptor.method));
  });

  it.each(METHODS.map((descriptor) => [descriptor.method, descriptor.paramsSchema] as const))(
    '%s params: same verdicts and errors as Ajv compiling the schema at run time',
    (method, schema) => {
      sameAnswers(PARAMS_VALIDATORS.get(method)!, compiledAtRunTime(PARAMS_AJV_OPTIONS, schema), schema);
    },
  );

  it('settings: same verdicts and errors as Ajv compiling SETTINGS_SCHEMA at run time', () => {
    sameAnswers(SETTINGS_VALIDATOR, compiledAtRunTime(SETTINGS_AJV_OPTIONS, SETTINGS_SCHEMA), SETTINGS_SCHEMA);
  });

  it('the comparison bites: a validator of a slightly different schema is told apart', () => {
    const upload = METHODS.find((descriptor) => descriptor.method === 'upload')!;
    // Nothing required: looser than upload's schema whatever it requires (keyPath became optional with the users issue).
    const looser = { ...upload.paramsSchema, required: [] };
    expect(() => sameAnswers(PARAMS_VALIDATORS.get('upload')!, compiledAtRunTime(PARAMS_AJV_OPTIONS, looser), upload.paramsSchema)).toThrow();
  });

  it.each(renderValidatorFiles().map((file) => [file.path, file.text] as const))(
    '%s imports only Ajv runtime helpers, never the compiler',
    (_file, text) => {
      const imports = [...text.matchAll(/^import (?!type ).* from '([^']+)';$/gm)].map((match) => match[1]!);
      for (const specifier of imports) expect(specifier).toMatch(/^(ajv\/dist\/runtime\/|ajv-formats\/dist\/formats\.js$)/);
      expect(text).not.toMatch(/\brequire\(/);
    },
  );

  it('nothing under src/ loads Ajv itself (its compiler) at run time: type imports only', () => {
    const sources = readdirSync(path.join(root, 'src'), { recursive: true, encoding: 'utf8' }).filter((file) => file.endsWith('.ts'));
    expect(sources.length).toBeGreaterThan(50);
    const offenders = sources.filter((file) => {
      const text = readFileSync(path.join(root, 'src', file), 'utf8');
      return /^import (?!type )[^;]*from '(ajv|ajv-formats)(\/dist\/(core|compile|standalone)[^']*)?';/m.test(text) || /import\(['"]ajv/.test(text);
    });
    expect(offenders).toEqual([]);
  });
});
