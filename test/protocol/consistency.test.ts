/**
 * The protocol contract exists in four copies: the descriptors and error
 * table (protocol/*.ts), the OpenRPC document built from them, its committed
 * copy protocol/openrpc.json, and docs/protocol.md. These tests fail when any
 * two disagree on a method, a param (name, required-ness), a notification or
 * an error code/reason, and when a schema or an example is invalid.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { Ajv } from 'ajv';
import addFormats from 'ajv-formats';
import {
  CLOSE_MESSAGE_TOO_BIG,
  DEFAULT_MAX_MESSAGE_BYTES,
  RPC_PATH,
  buildOpenRpcDocument,
  withServer,
  type OpenRpcDocument,
} from '../../protocol/index.js';
import { REGENERATE_COMMAND, findRepoRoot, openRpcJsonPath, renderOpenRpcJson } from '../../tools/gen-openrpc.js';
import {
  createStrictAjv,
  docErrorTableProblems,
  docExampleMessageProblems,
  docMethodProblems,
  docNameExampleProblems,
  docNotificationProblems,
  docOpenRpcProblems,
  docTypeProblems,
  methods,
  notifications,
  openRpcProblems,
} from './contract-checks.js';
import { protocolImportProblems } from './import-scan.js';
import { parseProtocolDoc, type DocSection } from './protocol-doc.js';

const root = findRepoRoot();
const protocolDir = path.join(root, 'protocol');
const docPath = path.join(root, 'docs', 'protocol.md');
const docText = readFileSync(docPath, 'utf8');
const committedText = readFileSync(openRpcJsonPath(root), 'utf8');
const committed = JSON.parse(committedText) as OpenRpcDocument;
const built = buildOpenRpcDocument();

const documents: Array<[string, OpenRpcDocument]> = [
  ['protocol/openrpc.json', committed],
  ['buildOpenRpcDocument()', built],
];

function parsed(text: string = docText): DocSection[] {
  return parseProtocolDoc(text);
}

/** docs/protocol.md with one exact piece of text replaced; fails if the piece is not there. */
function docWith(from: string, to: string): string {
  expect(docText).toContain(from);
  return docText.replace(from, to);
}

describe('protocol/openrpc.json', () => {
  it('is exactly what tools/gen-openrpc.ts writes', () => {
    if (committedText !== renderOpenRpcJson()) {
      throw new Error(`protocol/openrpc.json is stale. Regenerate it from the repository root with:\n  ${REGENERATE_COMMAND}\n`);
    }
  });
});

describe('OpenRPC meta-schema', () => {
  // The OpenRPC meta-schema refers to the JSON-Schema-tools meta-schema by two
  // spellings of its URL; it is registered under both, without its own $id.
  const require = createRequire(import.meta.url);
  const openRpcMetaSchema = (require('@open-rpc/meta-schema') as { default: object }).default;
  const jsonSchemaMetaSchema = (require('@json-schema-tools/meta-schema') as { default: Record<string, unknown> }).default;
  const { $id: _id, $schema: _schema, ...jsonSchemaMeta } = jsonSchemaMetaSchema;
  const ajv = new Ajv({ validateSchema: false, strict: false });
  addFormats.default(ajv);
  ajv.addSchema(jsonSchemaMeta, 'https://meta.json-schema.tools');
  ajv.addSchema(jsonSchemaMeta, 'https://meta.json-schema.tools/');
  const validate = ajv.compile(openRpcMetaSchema);

  it.each(documents)('accepts %s', (_label, document) => {
    expect(validate(document) ? [] : validate.errors).toEqual([]);
  });

  it('accepts the document a running server serves (with servers)', () => {
    const served = withServer(built, 'wss://127.0.0.1:7575/rpc');
    expect(validate(served) ? [] : validate.errors).toEqual([]);
  });

  it('refuses a document with a broken param schema (the check bites)', () => {
    const broken = JSON.parse(committedText) as OpenRpcDocument;
    const firstParam = broken.methods[0]?.params[0];
    if (firstParam === undefined) throw new Error('the first method has no params');
    firstParam.schema = { ...firstParam.schema, type: 'text' };
    expect(validate(broken)).toBe(false);
  });
});

describe.each(documents)('%s against the descriptors and the error table', (_label, document) => {
  it('agrees on methods, params, results, notifications and errors', () => {
    expect(openRpcProblems(document)).toEqual([]);
  });

  it('agrees with docs/protocol.md on methods, params, notifications and each method\'s errors', () => {
    expect(docOpenRpcProblems(parsed(), document)).toEqual([]);
  });
});

describe('openRpcProblems notices', () => {
  const copy = (): OpenRpcDocument => JSON.parse(committedText) as OpenRpcDocument;

  it('a param whose required-ness changed', () => {
    const document = copy();
    const upload = document.methods.find((method) => method.name === 'upload');
    const name = upload?.params.find((param) => param.name === 'name');
    if (name === undefined) throw new Error('upload has no name param');
    name.required = true;
    expect(openRpcProblems(document)).toEqual([expect.stringContaining('method upload: params')]);
  });

  it('an error reason missing from a method, and a wrong code', () => {
    const document = copy();
    const download = document.methods.find((method) => method.name === 'download');
    if (download === undefined) throw new Error('no download method');
    download.errors = download.errors.filter((error) => !error.$ref.endsWith('/INTEGRITY'));
    const busy = document.components.errors['BUSY'];
    if (busy === undefined) throw new Error('no BUSY error');
    busy.code = -32099;
    const problems = openRpcProblems(document);
    expect(problems).toContainEqual(expect.stringContaining('method download: errors'));
    expect(problems).toContainEqual(expect.stringContaining('components.errors.BUSY'));
  });
});

describe('docs/protocol.md', () => {
  it('documents every method: params, result, errors and valid examples', () => {
    expect(docMethodProblems(parsed())).toEqual([]);
  });

  it('documents every notification with its params and a valid example', () => {
    expect(docNotificationProblems(parsed())).toEqual([]);
  });

  it('documents TransferStatus, FileEntry and ServerLimits field by field', () => {
    expect(docTypeProblems(parsed())).toEqual([]);
  });

  it('has the error tables of protocol/errors.ts: codes, reasons, when and default messages', () => {
    expect(docErrorTableProblems(parsed())).toEqual([]);
  });

  it('gives remote-name examples that the name rule and the schema agree with', () => {
    expect(docNameExampleProblems(parsed())).toEqual([]);
  });

  it('shows only JSON-RPC examples that are valid against the schemas', () => {
    expect(docExampleMessageProblems(parsed())).toEqual([]);
  });

  it('states the endpoint path and the frame limit of protocol/constants.ts', () => {
    const prose = docText.replace(/\s+/g, ' ');
    expect(prose).toContain(`wss://127.0.0.1:<port>${RPC_PATH}`);
    expect(prose).toContain(`close code **${CLOSE_MESSAGE_TOO_BIG}**`);
    expect(prose).toContain(`${DEFAULT_MAX_MESSAGE_BYTES} bytes`);
  });

  describe('the checks notice', () => {
    it('a renamed param', () => {
      const doc = parsed(docWith('| `overwrite` | boolean | no | `false` | Replace a remote file', '| `overwrit` | boolean | no | `false` | Replace a remote file'));
      expect(docMethodProblems(doc)).toContainEqual(expect.stringContaining('### `upload` params: [path, keyPath, name, overwrit'));
    });

    it('a param marked optional that is required', () => {
      const doc = parsed(docWith('| `destination` | string | yes |', '| `destination` | string | no |'));
      expect(docMethodProblems(doc)).toContainEqual(expect.stringContaining('destination required is "no"'));
    });

    it('a method error the descriptor does not list, and a wrong code', () => {
      const doc = parsed(
        docWith('| -32001 | `NOT_FOUND` | no transfer has that id', '| -32001 | `NOT_FOUND` | no transfer has that id |\n| -32012 | `BUSY` | never'),
      );
      const problems = docMethodProblems(doc);
      expect(problems).toContainEqual(expect.stringContaining('### `cancelTransfer`: BUSY has code -32012'));
      expect(problems).toContainEqual(expect.stringContaining('### `cancelTransfer`: errors [NOT_FOUND, BUSY]'));
    });

    it('an example whose params break the schema or the name rule', () => {
      const doc = parsed(docWith('"params":{"name":"reports/2026/q3.pdf"}}', '"params":{"name":"reports//q3.pdf"}}'));
      expect(docExampleMessageProblems(doc)).toContainEqual(expect.stringContaining('getFileInfo params'));
    });

    it('a changed default message', () => {
      const doc = parsed(docWith('| There is no space left: free some space and try again. |', '| Disk full. |'));
      expect(docErrorTableProblems(doc)).toEqual([expect.stringContaining('NO_SPACE')]);
    });

    it('a name example that the rule contradicts', () => {
      const doc = parsed(docWith('| `"a..b"` | yes |', '| `"a..b"` | no |'));
      expect(docNameExampleProblems(doc)).toEqual([expect.stringContaining('"a..b"')]);
    });

    it('a json block that does not parse', () => {
      expect(() => parsed(`${docText}\n\`\`\`json\n{"jsonrpc": }\n\`\`\`\n`)).toThrow(/does not parse/);
    });
  });
});

describe('JSON Schemas', () => {
  const schemas = [
    ...methods.flatMap((descriptor) => [
      [`${descriptor.method} params`, descriptor.paramsSchema] as const,
      [`${descriptor.method} result`, descriptor.resultSchema] as const,
    ]),
    ...notifications.map((descriptor) => [`${descriptor.method} params`, descriptor.paramsSchema] as const),
  ];

  it.each(schemas)('%s compiles with Ajv in strict mode', (_label, schema) => {
    expect(() => createStrictAjv().compile(schema)).not.toThrow();
  });

  it('strict mode refuses what it should (the check bites)', () => {
    expect(() => createStrictAjv().compile({ type: 'object', properties: { a: { type: 'string', maxLenght: 3 } } })).toThrow(
      /unknown keyword/,
    );
  });
});

describe('protocol/ stays free of src/ and Node', () => {
  const files = readdirSync(protocolDir).filter((name) => name.endsWith('.ts'));

  it('has source files to check', () => {
    expect(files).toEqual(expect.arrayContaining(['errors.ts', 'methods.ts', 'names.ts', 'schemas.ts']));
  });

  it.each(files)('%s imports nothing from src/, no Node module and no Node global', (name) => {
    const filePath = path.join(protocolDir, name);
    expect(protocolImportProblems(filePath, readFileSync(filePath, 'utf8'), protocolDir)).toEqual([]);
  });

  it('the scan notices each kind of violation', () => {
    const source = [
      "import { readFile } from 'node:fs';",
      "import path from 'path';",
      "import { CloudlockerError } from '../src/errors.js';",
      "export * from '../src/storage/storage.js';",
      "import type { FromSchema } from 'json-schema-to-ts';",
      "import Ajv from 'ajv';",
      "const lazy = () => import('node:crypto');",
      "const bytes = Buffer.from('x');",
      "const ok = { process: 1 }.process;",
    ].join('\n');
    const problems = protocolImportProblems(path.join(protocolDir, 'fake.ts'), source, protocolDir);
    expect(problems).toEqual([
      'protocol/fake.ts:1: "node:fs" is a Node built-in',
      'protocol/fake.ts:2: "path" is a Node built-in',
      'protocol/fake.ts:3: "../src/errors.js" reaches outside protocol/',
      'protocol/fake.ts:4: "../src/storage/storage.js" reaches outside protocol/',
      expect.stringContaining('protocol/fake.ts:6: "ajv" is a run-time package import'),
      'protocol/fake.ts:7: "node:crypto" is a Node built-in',
      'protocol/fake.ts:8: uses the Node global Buffer',
    ]);
  });
});
