/**
 * Comparisons between the copies of the protocol contract: the descriptors
 * and error table in protocol/, an OpenRPC document, and docs/protocol.md.
 * Each check returns a list of problems (empty when the copies agree), so a
 * failing test names every disagreement at once, and the tests can feed a
 * deliberately broken copy to prove that a check notices.
 */
import { Ajv, type ValidateFunction } from 'ajv';
import addFormats from 'ajv-formats';
import {
  ApplicationErrors,
  JsonRpcErrorCode,
  METHODS,
  NOTIFICATIONS,
  REMOTE_NAME_PATTERN,
  errorObjectSchema,
  fileEntrySchema,
  folderEntrySchema,
  findMethod,
  remoteNameProblem,
  remoteNameSchema,
  serverLimitsSchema,
  transferStatusSchema,
  type ErrorReason,
  type JsonSchema,
  type MethodDescriptor,
  type NotificationDescriptor,
  type OpenRpcDocument,
} from '../../protocol/index.js';
import {
  cell,
  codeSpan,
  namedChildren,
  plain,
  sectionTitled,
  tableStartingWith,
  type DocSection,
  type DocTable,
  type JsonBlock,
} from './protocol-doc.js';

export const methods: readonly MethodDescriptor[] = METHODS;
export const notifications: readonly NotificationDescriptor[] = NOTIFICATIONS;

/** The schemas behind the "## Types" headings of the docs. */
export const DOCUMENTED_TYPES: Readonly<Record<string, JsonSchema>> = {
  TransferStatus: transferStatusSchema,
  FileEntry: fileEntrySchema,
  FolderEntry: folderEntrySchema,
  ServerLimits: serverLimitsSchema,
};

const JSON_RPC_ERROR_NAMES = new Set(Object.keys(JsonRpcErrorCode));
const APPLICATION_REASONS = new Set(Object.keys(ApplicationErrors));

// ---------------------------------------------------------------------------
// Schemas

/** Ajv as strict as it goes, with formats: a schema that compiles here is unambiguous. */
export function createStrictAjv(): Ajv {
  const ajv = new Ajv({ strict: true, allErrors: true });
  addFormats.default(ajv);
  return ajv;
}

const exampleAjv = createStrictAjv();
const validators = new Map<JsonSchema, ValidateFunction>();

function validatorFor(schema: JsonSchema): ValidateFunction {
  let validate = validators.get(schema);
  if (validate === undefined) {
    validate = exampleAjv.compile(schema);
    validators.set(schema, validate);
  }
  return validate;
}

/** Why `value` fails `schema` (and, for remote-name fields, the name rule), or []. */
export function schemaProblems(schema: JsonSchema, value: unknown, where: string): string[] {
  const validate = validatorFor(schema);
  const problems = validate(value) ? [] : [`${where}: ${exampleAjv.errorsText(validate.errors)}`];
  if (isRecord(value)) {
    for (const [name, propertySchema] of Object.entries(propertiesOf(schema))) {
      const field = value[name];
      if (propertySchema['pattern'] === REMOTE_NAME_PATTERN && typeof field === 'string') {
        const problem = remoteNameProblem(field);
        if (problem !== undefined) problems.push(`${where}: ${name} ${problem}`);
      }
    }
  }
  return problems;
}

export function propertiesOf(schema: JsonSchema): Record<string, JsonSchema> {
  return (schema['properties'] ?? {}) as Record<string, JsonSchema>;
}

export function requiredOf(schema: JsonSchema): Set<string> {
  return new Set((schema['required'] ?? []) as string[]);
}

/** The type a reader sees: "string", "number or null", "integer" for `const: 1`. */
function schemaTypeName(schema: JsonSchema): string | undefined {
  const type = schema['type'];
  if (typeof type === 'string') return type;
  if (Array.isArray(type)) return type.join(' or ');
  if ('const' in schema) {
    const value = schema['const'];
    return typeof value === 'number' && Number.isInteger(value) ? 'integer' : typeof value;
  }
  const anyOf = schema['anyOf'];
  if (Array.isArray(anyOf)) {
    const names = new Set(anyOf.map((branch) => schemaTypeName(branch as JsonSchema)));
    if (names.size === 1) return [...names][0];
  }
  return undefined;
}

// ---------------------------------------------------------------------------
// Descriptors and error table against an OpenRPC document

export function openRpcProblems(document: OpenRpcDocument): string[] {
  const problems: string[] = [];
  const names = document.methods.map((method) => method.name);
  const expectedNames = methods.map((descriptor) => descriptor.method);
  if (names.join() !== expectedNames.join()) problems.push(`methods: [${names.join(', ')}], descriptors: [${expectedNames.join(', ')}]`);

  for (const descriptor of methods) {
    const method = document.methods.find((candidate) => candidate.name === descriptor.method);
    if (method === undefined) continue;
    const where = `method ${descriptor.method}`;
    if (method.paramStructure !== 'by-name') problems.push(`${where}: paramStructure is ${method.paramStructure}`);
    problems.push(...contentDescriptorProblems(method.params, descriptor.paramsSchema, where));
    if (!deepEqual(method.result.schema, descriptor.resultSchema)) problems.push(`${where}: result schema differs from resultSchema`);

    const refs = method.errors.map((error) => error.$ref.replace('#/components/errors/', ''));
    for (const ref of refs) {
      if (document.components.errors[ref] === undefined) problems.push(`${where}: error $ref ${ref} is not in components.errors`);
    }
    const application = refs.filter((ref) => !JSON_RPC_ERROR_NAMES.has(ref));
    if (!sameSet(application, descriptor.errors)) {
      problems.push(`${where}: errors [${application.join(', ')}], descriptor: [${descriptor.errors.join(', ')}]`);
    }
    if (Object.keys(propertiesOf(descriptor.paramsSchema)).length > 0 && !refs.includes('INVALID_PARAMS')) {
      problems.push(`${where}: takes params but does not list INVALID_PARAMS`);
    }
  }

  const errors = document.components.errors;
  for (const [name, code] of Object.entries(JsonRpcErrorCode)) {
    if (errors[name]?.code !== code) problems.push(`components.errors.${name}: code ${errors[name]?.code}, expected ${code}`);
  }
  for (const [reason, spec] of Object.entries(ApplicationErrors)) {
    const actual = errors[reason];
    const expected = { code: spec.code, message: spec.message, data: { reason } };
    if (!deepEqual(actual, expected)) problems.push(`components.errors.${reason}: ${JSON.stringify(actual)}, expected ${JSON.stringify(expected)}`);
  }
  for (const name of Object.keys(errors)) {
    if (!JSON_RPC_ERROR_NAMES.has(name) && !APPLICATION_REASONS.has(name)) problems.push(`components.errors.${name} is in no error table`);
  }

  const notificationNames = document['x-notifications'].map((notification) => notification.name);
  const expectedNotifications = notifications.map((descriptor) => descriptor.method);
  if (notificationNames.join() !== expectedNotifications.join()) {
    problems.push(`x-notifications: [${notificationNames.join(', ')}], descriptors: [${expectedNotifications.join(', ')}]`);
  }
  for (const descriptor of notifications) {
    const notification = document['x-notifications'].find((candidate) => candidate.name === descriptor.method);
    if (notification !== undefined) {
      problems.push(...contentDescriptorProblems(notification.params, descriptor.paramsSchema, `notification ${descriptor.method}`));
    }
  }
  return problems;
}

function contentDescriptorProblems(
  params: OpenRpcDocument['methods'][number]['params'],
  paramsSchema: JsonSchema,
  where: string,
): string[] {
  const problems: string[] = [];
  const properties = propertiesOf(paramsSchema);
  const required = requiredOf(paramsSchema);
  const actual = params.map((param) => `${param.name}${param.required === true ? '' : '?'}`);
  const expected = Object.keys(properties).map((name) => `${name}${required.has(name) ? '' : '?'}`);
  if (actual.join() !== expected.join()) problems.push(`${where}: params [${actual.join(', ')}], schema: [${expected.join(', ')}]`);
  for (const param of params) {
    const schema = properties[param.name];
    if (schema !== undefined && !deepEqual(param.schema, schema)) problems.push(`${where}: schema of param ${param.name} differs`);
  }
  return problems;
}

// ---------------------------------------------------------------------------
// docs/protocol.md against the descriptors and error table

export function docMethodProblems(sections: readonly DocSection[]): string[] {
  const documented = namedChildren(sectionTitled(sections, 'Methods'));
  const problems = orderProblems(
    'Methods',
    documented.map((section) => section.codeName ?? ''),
    methods.map((descriptor) => descriptor.method),
  );
  for (const descriptor of methods) {
    const section = documented.find((candidate) => candidate.codeName === descriptor.method);
    if (section === undefined) continue;
    const where = `### \`${descriptor.method}\``;
    problems.push(...paramsTableProblems(section, descriptor.paramsSchema, where));

    const result = tableStartingWith(section, 'field');
    if (result !== undefined) problems.push(...fieldTableProblems(result, descriptor.resultSchema, `${where} result`));
    else if (descriptor.resultSchema['additionalProperties'] === false) problems.push(`${where}: no result table (| field | ...)`);

    problems.push(...errorsTableProblems(section, descriptor.errors, where));
    problems.push(...methodExampleProblems(section, descriptor, where));
  }
  return problems;
}

export function docNotificationProblems(sections: readonly DocSection[]): string[] {
  const documented = namedChildren(sectionTitled(sections, 'Notifications'));
  const problems = orderProblems(
    'Notifications',
    documented.map((section) => section.codeName ?? ''),
    notifications.map((descriptor) => descriptor.method),
  );
  for (const descriptor of notifications) {
    const section = documented.find((candidate) => candidate.codeName === descriptor.method);
    if (section === undefined) continue;
    const where = `### \`${descriptor.method}\``;
    problems.push(...paramsTableProblems(section, descriptor.paramsSchema, where));
    const examples = section.jsonBlocks.flatMap(rpcMessages);
    if (!examples.some((message) => message.kind === 'notification' && message.method === descriptor.method)) {
      problems.push(`${where}: no example notification`);
    }
    for (const message of examples) {
      if (message.kind !== 'notification' || message.method !== descriptor.method) {
        problems.push(`${where} line ${message.line}: example is not a ${descriptor.method} notification`);
      }
    }
  }
  return problems;
}

export function docTypeProblems(sections: readonly DocSection[]): string[] {
  const documented = namedChildren(sectionTitled(sections, 'Types'));
  const problems = orderProblems('Types', documented.map((section) => section.codeName ?? ''), Object.keys(DOCUMENTED_TYPES));
  for (const section of documented) {
    const schema = DOCUMENTED_TYPES[section.codeName ?? ''];
    const table = tableStartingWith(section, 'field');
    if (schema === undefined) continue;
    if (table === undefined) problems.push(`### \`${section.codeName}\`: no | field | table`);
    else problems.push(...fieldTableProblems(table, schema, `### \`${section.codeName}\``));
  }
  return problems;
}

export function docErrorTableProblems(sections: readonly DocSection[]): string[] {
  const errors = sectionTitled(sections, 'Errors');
  const problems: string[] = [];

  const jsonRpc = tableStartingWith(errors, 'code', 'name');
  if (jsonRpc === undefined) problems.push('## Errors: no | code | name | table of JSON-RPC codes');
  else {
    const documented = jsonRpc.rows.map((row) => `${cell(jsonRpc, row, 'code')} ${codeSpan(cell(jsonRpc, row, 'name'), jsonRpc.line)}`);
    const expected = Object.entries(JsonRpcErrorCode).map(([name, code]) => `${code} ${name}`);
    if (!sameSet(documented, expected)) problems.push(`JSON-RPC codes: docs [${documented.join(', ')}], errors.ts [${expected.join(', ')}]`);
  }

  const application = tableStartingWith(errors, 'code', 'reason');
  if (application === undefined) problems.push('## Errors: no | code | reason | when | default message | table');
  else {
    const documented = application.rows.map((row) => ({
      code: Number(cell(application, row, 'code')),
      reason: codeSpan(cell(application, row, 'reason'), application.line),
      when: plain(cell(application, row, 'when')),
      message: cell(application, row, 'default message'),
    }));
    const expected = Object.entries(ApplicationErrors).map(([reason, spec]) => ({
      code: spec.code,
      reason,
      when: spec.when,
      message: spec.message,
    }));
    for (let i = 0; i < Math.max(documented.length, expected.length); i += 1) {
      if (!deepEqual(documented[i], expected[i])) {
        problems.push(`application error row ${i + 1}: docs ${JSON.stringify(documented[i])}, errors.ts ${JSON.stringify(expected[i])}`);
      }
    }
  }
  return problems;
}

/** The "Remote names" examples table says, per name, what remoteNameProblem and the schema say. */
export function docNameExampleProblems(sections: readonly DocSection[]): string[] {
  const section = sectionTitled(sections, 'Remote names');
  const table = tableStartingWith(section, 'name (json)', 'valid');
  if (table === undefined) return ['## Remote names: no | name (JSON) | valid | table'];
  const validateName = validatorFor(remoteNameSchema);
  const problems: string[] = [];
  for (const row of table.rows) {
    const literal = codeSpan(cell(table, row, 'name (json)'), table.line);
    const name = JSON.parse(literal) as unknown;
    if (typeof name !== 'string') {
      problems.push(`name example ${literal} is not a JSON string`);
      continue;
    }
    const saysValid = cell(table, row, 'valid') === 'yes';
    const isValid = remoteNameProblem(name) === undefined;
    if (saysValid !== isValid) problems.push(`name example ${literal}: docs say ${saysValid ? 'valid' : 'invalid'}, remoteNameProblem disagrees`);
    if (saysValid && !validateName(name)) problems.push(`name example ${literal}: docs say valid, the JSON Schema refuses it`);
  }
  return problems;
}

/** Every JSON-RPC message anywhere in the page is well formed and valid against its method's schema. */
export function docExampleMessageProblems(sections: readonly DocSection[]): string[] {
  const problems: string[] = [];
  for (const section of allSections(sections)) {
    for (const message of section.jsonBlocks.flatMap(rpcMessages)) {
      const where = `json example at line ${message.line}`;
      if (message.kind === 'request') {
        const descriptor = findMethod(message.method);
        if (descriptor === undefined) problems.push(`${where}: no method ${message.method}`);
        else problems.push(...schemaProblems(descriptor.paramsSchema, message.params ?? {}, `${where} (${message.method} params)`));
      } else if (message.kind === 'notification') {
        const descriptor = notifications.find((candidate) => candidate.method === message.method);
        if (descriptor === undefined) problems.push(`${where}: no notification ${message.method}`);
        else problems.push(...schemaProblems(descriptor.paramsSchema, message.params, `${where} (${message.method} params)`));
      } else if (message.kind === 'error') {
        problems.push(...errorProblems(message.error, undefined, where));
      } else if (message.kind === 'invalid') {
        problems.push(`${where}: ${message.problem}`);
      }
    }
  }
  return problems;
}

/**
 * docs/protocol.md straight against an OpenRPC document (not only through the
 * descriptors): method and notification names, params with required-ness,
 * and each method's application errors.
 */
export function docOpenRpcProblems(sections: readonly DocSection[], document: OpenRpcDocument): string[] {
  const problems: string[] = [];
  const docMethods = namedChildren(sectionTitled(sections, 'Methods'));
  problems.push(
    ...orderProblems(
      'Methods vs OpenRPC methods',
      docMethods.map((section) => section.codeName ?? ''),
      document.methods.map((method) => method.name),
    ),
  );
  for (const method of document.methods) {
    const section = docMethods.find((candidate) => candidate.codeName === method.name);
    if (section === undefined) continue;
    const where = `### \`${method.name}\` vs OpenRPC`;
    problems.push(...docParamsVsContentDescriptors(section, method.params, where));
    const table = tableStartingWith(section, 'code', 'reason');
    const documented = table === undefined ? [] : table.rows.map((row) => codeSpan(cell(table, row, 'reason'), table.line));
    const listed = method.errors.map((error) => error.$ref.replace('#/components/errors/', '')).filter((ref) => !JSON_RPC_ERROR_NAMES.has(ref));
    if (!sameSet(documented, listed)) problems.push(`${where}: docs errors [${documented.join(', ')}], OpenRPC [${listed.join(', ')}]`);
    for (const reason of documented) {
      const component = document.components.errors[reason];
      const row = table?.rows.find((candidate) => candidate[table.header.indexOf('reason')] === `\`${reason}\``);
      if (component !== undefined && table !== undefined && row !== undefined && Number(cell(table, row, 'code')) !== component.code) {
        problems.push(`${where}: ${reason} code differs from components.errors`);
      }
    }
  }
  const docNotifications = namedChildren(sectionTitled(sections, 'Notifications'));
  problems.push(
    ...orderProblems(
      'Notifications vs x-notifications',
      docNotifications.map((section) => section.codeName ?? ''),
      document['x-notifications'].map((notification) => notification.name),
    ),
  );
  for (const notification of document['x-notifications']) {
    const section = docNotifications.find((candidate) => candidate.codeName === notification.name);
    if (section !== undefined) problems.push(...docParamsVsContentDescriptors(section, notification.params, `### \`${notification.name}\` vs OpenRPC`));
  }
  return problems;
}

function docParamsVsContentDescriptors(
  section: DocSection,
  params: OpenRpcDocument['methods'][number]['params'],
  where: string,
): string[] {
  const table = tableStartingWith(section, 'param');
  const documented =
    table === undefined
      ? []
      : table.rows.map((row) => `${codeSpan(row[0] ?? '', table.line)}${cell(table, row, 'required') === 'yes' ? '' : '?'}`);
  const listed = params.map((param) => `${param.name}${param.required === true ? '' : '?'}`);
  return documented.join() === listed.join() ? [] : [`${where}: docs params [${documented.join(', ')}], OpenRPC [${listed.join(', ')}]`];
}

// ---------------------------------------------------------------------------
// Pieces

function paramsTableProblems(section: DocSection, paramsSchema: JsonSchema, where: string): string[] {
  const table = tableStartingWith(section, 'param');
  if (table !== undefined) return fieldTableProblems(table, paramsSchema, `${where} params`);
  if (Object.keys(propertiesOf(paramsSchema)).length > 0) return [`${where}: no params table (| param | ...)`];
  return /^No params\.$/m.test(section.text) ? [] : [`${where}: takes no params but does not say "No params."`];
}

/** Rows of a | param | or | field | table against an object schema: names in order, required, type, default. */
function fieldTableProblems(table: DocTable, schema: JsonSchema, where: string): string[] {
  const problems: string[] = [];
  const properties = propertiesOf(schema);
  const required = requiredOf(schema);
  const names = table.rows.map((row) => codeSpan(row[0] ?? '', table.line));
  if (names.join() !== Object.keys(properties).join()) {
    problems.push(`${where}: [${names.join(', ')}], schema: [${Object.keys(properties).join(', ')}]`);
  }
  table.rows.forEach((row, i) => {
    const name = names[i] ?? '';
    const propertySchema = properties[name];
    if (propertySchema === undefined) return;
    if (table.header.includes('required')) {
      const says = cell(table, row, 'required');
      const expected = required.has(name) ? 'yes' : 'no';
      if (says !== expected) problems.push(`${where}: ${name} required is "${says}", schema says "${expected}"`);
    }
    const typeName = schemaTypeName(propertySchema);
    const typeCell = plain(cell(table, row, 'type'));
    const constText = 'const' in propertySchema ? JSON.stringify(propertySchema['const']) : undefined;
    if (typeName !== undefined && typeCell !== typeName && typeCell !== constText) {
      problems.push(`${where}: ${name} type is "${typeCell}", schema says "${typeName}"`);
    }
    if (table.header.includes('default') && propertySchema['default'] !== undefined) {
      const expected = `\`${JSON.stringify(propertySchema['default'])}\``;
      if (!cell(table, row, 'default').includes(expected)) problems.push(`${where}: ${name} default should show ${expected}`);
    }
  });
  return problems;
}

function errorsTableProblems(section: DocSection, reasons: readonly ErrorReason[], where: string): string[] {
  const table = tableStartingWith(section, 'code', 'reason');
  if (table === undefined) {
    if (reasons.length > 0) return [`${where}: no errors table (| code | reason | when |) for ${reasons.join(', ')}`];
    return /^Errors: none besides the JSON-RPC ones\.$/m.test(section.text) ? [] : [`${where}: no errors and no "Errors: none" line`];
  }
  const problems: string[] = [];
  const documented: string[] = [];
  for (const row of table.rows) {
    const reason = codeSpan(cell(table, row, 'reason'), table.line);
    documented.push(reason);
    const code = Number(cell(table, row, 'code'));
    const spec = (ApplicationErrors as Record<string, { code: number } | undefined>)[reason];
    if (spec === undefined) problems.push(`${where}: ${reason} is not an application error`);
    else if (spec.code !== code) problems.push(`${where}: ${reason} has code ${code}, errors.ts says ${spec.code}`);
  }
  if (!sameSet(documented, reasons)) problems.push(`${where}: errors [${documented.join(', ')}], descriptor: [${reasons.join(', ')}]`);
  return problems;
}

function methodExampleProblems(section: DocSection, descriptor: MethodDescriptor, where: string): string[] {
  const problems: string[] = [];
  const messages = section.jsonBlocks.flatMap(rpcMessages);
  const requests = messages.filter((message) => message.kind === 'request');
  if (!requests.some((message) => message.method === descriptor.method)) problems.push(`${where}: no example request`);
  const requestIds = new Set(requests.map((message) => JSON.stringify(message.id)));
  let results = 0;
  for (const message of messages) {
    if (message.kind === 'request' && message.method !== descriptor.method) {
      problems.push(`${where} line ${message.line}: example request is for ${message.method}`);
    }
    if (message.kind === 'result' || message.kind === 'error') {
      if (!requestIds.has(JSON.stringify(message.id))) problems.push(`${where} line ${message.line}: response id matches no example request`);
    }
    if (message.kind === 'result') {
      results += 1;
      problems.push(...schemaProblems(descriptor.resultSchema, message.result, `${where} line ${message.line} result`));
    }
    if (message.kind === 'error') problems.push(...errorProblems(message.error, descriptor, `${where} line ${message.line}`));
  }
  if (results === 0 && descriptor.resultSchema['additionalProperties'] === false) problems.push(`${where}: no example result`);
  return problems;
}

/** An error object is well formed, its code and reason agree, and the method may answer with it. */
function errorProblems(error: unknown, descriptor: MethodDescriptor | undefined, where: string): string[] {
  const problems = schemaProblems(errorObjectSchema, error, `${where} error`);
  if (!isRecord(error)) return problems;
  const reason = isRecord(error['data']) ? error['data']['reason'] : undefined;
  if (reason === undefined) {
    if (!Object.values(JsonRpcErrorCode).includes(error['code'] as never)) problems.push(`${where}: code ${String(error['code'])} without data.reason`);
    return problems;
  }
  const spec = (ApplicationErrors as Record<string, { code: number } | undefined>)[String(reason)];
  if (spec === undefined) problems.push(`${where}: unknown reason ${String(reason)}`);
  else if (spec.code !== error['code']) problems.push(`${where}: ${String(reason)} with code ${String(error['code'])}, errors.ts says ${spec.code}`);
  if (descriptor !== undefined && !descriptor.errors.includes(reason as ErrorReason)) {
    problems.push(`${where}: ${descriptor.method} does not list ${String(reason)}`);
  }
  return problems;
}

type RpcMessage =
  | { kind: 'request'; line: number; id: unknown; method: string; params: unknown }
  | { kind: 'notification'; line: number; method: string; params: unknown }
  | { kind: 'result'; line: number; id: unknown; result: unknown }
  | { kind: 'error'; line: number; id: unknown; error: unknown }
  | { kind: 'invalid'; line: number; problem: string };

/** The JSON-RPC messages of a json block (a batch is several); [] for other JSON such as server.json. */
export function rpcMessages(block: JsonBlock): RpcMessage[] {
  const values = Array.isArray(block.value) ? block.value : [block.value];
  return values.flatMap((value): RpcMessage[] => {
    const line = block.line;
    if (!isRecord(value) || !('jsonrpc' in value)) return [];
    if (value['jsonrpc'] !== '2.0') return [{ kind: 'invalid', line, problem: 'jsonrpc must be "2.0"' }];
    if (typeof value['method'] === 'string') {
      const method = value['method'];
      if ('id' in value) return [{ kind: 'request', line, id: value['id'], method, params: value['params'] }];
      return [{ kind: 'notification', line, method, params: value['params'] }];
    }
    if ('result' in value) return [{ kind: 'result', line, id: value['id'], result: value['result'] }];
    if ('error' in value) return [{ kind: 'error', line, id: value['id'], error: value['error'] }];
    return [{ kind: 'invalid', line, problem: 'neither a request, a notification nor a response' }];
  });
}

function allSections(sections: readonly DocSection[]): DocSection[] {
  return sections.flatMap((section) => [section, ...section.children]);
}

function orderProblems(where: string, documented: readonly string[], expected: readonly string[]): string[] {
  return documented.join() === expected.join() ? [] : [`## ${where}: docs [${documented.join(', ')}], protocol/ [${expected.join(', ')}]`];
}

function sameSet(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && new Set(a).size === a.length && b.every((item) => a.includes(item));
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function deepEqual(a: unknown, b: unknown): boolean {
  return JSON.stringify(canonical(a)) === JSON.stringify(canonical(b));
}

function canonical(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(canonical);
  if (isRecord(value)) {
    return Object.fromEntries(Object.keys(value).sort().map((key) => [key, canonical(value[key])]));
  }
  return value;
}
