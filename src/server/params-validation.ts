/**
 * Checks a request's params against its method's JSON Schema (protocol/) and
 * the remote-name rule, before any handler runs. Problems come back as
 * -32602 with `data: { param, problem }`, short and never echoing input.
 */
import type { ErrorObject, ValidateFunction } from 'ajv';
import { InvalidParamsError } from '../errors.js';
import { REMOTE_NAME_PATTERN, remoteNameProblem, type AnyMethod, type JsonSchema } from '../../protocol/index.js';
import { PARAMS_VALIDATORS } from './params-validators.generated.js';

/** Why params were refused: `param` names the offending field (undefined when params as a whole are wrong). */
function paramsProblem(param: string | undefined, problem: string): InvalidParamsError {
  return new InvalidParamsError(`Invalid params: ${param === undefined ? 'params' : param} ${problem}`, param, { problem });
}

/** Longest param name or value excerpt quoted back in an error. */
const MAX_QUOTED = 64;

/**
 * The validator Ajv would compile from the method's paramsSchema
 * (`{ strict: true, allErrors: false }` with ajv-formats), compiled at build
 * time by tools/gen-validators.ts: compiling at start-up was the largest part
 * of the start (docs/benchmarks.md). test/protocol/validators.test.ts fails
 * when the generated file no longer matches protocol/.
 */
export function validatorFor(descriptor: AnyMethod): ValidateFunction {
  const validate = PARAMS_VALIDATORS.get(descriptor.method);
  if (validate === undefined) {
    throw new Error(`no precompiled params validator for ${descriptor.method}: run \`npm run gen:validators\``);
  }
  return validate;
}

/**
 * The params a handler receives: `{}` when absent (or `[]` for a method that
 * takes none), else the object itself once it has passed. Throws
 * InvalidParamsError.
 */
export function validateParams(descriptor: AnyMethod, params: unknown): Record<string, unknown> {
  const properties = propertiesOf(descriptor.paramsSchema);
  let value: unknown = params;
  if (value === undefined) value = {};
  if (Array.isArray(value)) {
    if (value.length === 0 && Object.keys(properties).length === 0) value = {};
    else throw paramsProblem(undefined, 'must be an object of named params (positional params are not supported)');
  }
  if (typeof value !== 'object' || value === null) {
    throw paramsProblem(undefined, 'must be an object of named params');
  }
  const record = value as Record<string, unknown>;
  const validate = validatorFor(descriptor);
  if (!validate(record)) {
    const [error] = validate.errors ?? [];
    throw toValidationError(error, record, properties);
  }
  // JSON Schema cannot count UTF-8 bytes or spot unpaired surrogates: the name rule does.
  for (const [param, schema] of Object.entries(properties)) {
    const field = record[param];
    if (isRemoteNameSchema(schema) && typeof field === 'string') {
      const problem = remoteNameProblem(field);
      if (problem !== undefined) throw paramsProblem(param, problem);
    }
  }
  return record;
}

function toValidationError(
  error: ErrorObject | undefined,
  params: Record<string, unknown>,
  properties: Record<string, JsonSchema>,
): InvalidParamsError {
  if (error === undefined) return paramsProblem(undefined, 'are invalid');
  if (error.keyword === 'additionalProperties') {
    const extra = String((error.params as { additionalProperty: unknown }).additionalProperty);
    // An empty key would read as "Invalid params:  is not a parameter": show it as "".
    return paramsProblem(extra === '' ? '""' : quote(extra), `is not a parameter of this method (known: ${Object.keys(properties).join(', ') || 'none'})`);
  }
  if (error.keyword === 'required') {
    const missing = String((error.params as { missingProperty: unknown }).missingProperty);
    return paramsProblem(missing, 'is required');
  }
  const param = error.instancePath.split('/').filter((part) => part !== '').join('.');
  const topLevel = param.split('.')[0] ?? '';
  const schema = properties[topLevel];
  const value = params[topLevel];
  if (schema !== undefined && isRemoteNameSchema(schema) && typeof value === 'string') {
    // Say which name rule was broken instead of "must match pattern <regex>".
    return paramsProblem(param, remoteNameProblem(value) ?? 'is not a valid remote name');
  }
  if (error.keyword === 'pattern') return paramsProblem(param || undefined, 'has characters or a form that is not allowed');
  if (error.keyword === 'enum') {
    const allowed = (error.params as { allowedValues: unknown[] }).allowedValues.map((item) => JSON.stringify(item)).join(', ');
    return paramsProblem(param || undefined, `must be one of ${allowed}`);
  }
  return paramsProblem(param || undefined, error.message ?? 'is invalid');
}

function propertiesOf(schema: JsonSchema): Record<string, JsonSchema> {
  return (schema['properties'] ?? {}) as Record<string, JsonSchema>;
}

function isRemoteNameSchema(schema: JsonSchema): boolean {
  return schema['pattern'] === REMOTE_NAME_PATTERN;
}

function quote(text: string): string {
  const printable = text.replace(/[\u0000-\u001f\u007f-\u009f]/g, '?');
  return printable.length > MAX_QUOTED ? `${printable.slice(0, MAX_QUOTED)}…` : printable;
}
