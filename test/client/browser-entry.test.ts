/**
 * The browser entry: it loads in a browser (no Node import anywhere in what
 * it pulls in, checked with the TypeScript parser), and it speaks to the
 * service the way a browser does, with the token in the query string. A
 * WebSocket class that trusts the test service's certificate stands in for
 * the browser's here; test/browser runs it in Chromium.
 */
import { readFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import path from 'node:path';
import ts from 'typescript';
import { WebSocket as NodeWebSocket } from 'ws';
import { connect, type WebSocketConstructor } from '../../src/client/browser.js';
import type { TestServer } from '../helpers/server.js';
import { startTestService } from '../helpers/service.js';

const root = process.cwd();

/** Every module the file loads at run time (type-only imports are erased by tsc and do not count). */
function runtimeImports(file: string): string[] {
  const source = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, true);
  const found: string[] = [];
  const visit = (node: ts.Node): void => {
    if (ts.isImportDeclaration(node) && ts.isStringLiteral(node.moduleSpecifier)) {
      const clause = node.importClause;
      const typeOnly =
        clause?.isTypeOnly === true ||
        (clause !== undefined &&
          clause.name === undefined &&
          clause.namedBindings !== undefined &&
          ts.isNamedImports(clause.namedBindings) &&
          clause.namedBindings.elements.length > 0 &&
          clause.namedBindings.elements.every((element) => element.isTypeOnly));
      if (!typeOnly) found.push(node.moduleSpecifier.text);
    } else if (ts.isExportDeclaration(node) && node.moduleSpecifier !== undefined && ts.isStringLiteral(node.moduleSpecifier) && !node.isTypeOnly) {
      found.push(node.moduleSpecifier.text);
    } else if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword) {
      found.push(ts.isStringLiteral(node.arguments[0] as ts.Node) ? (node.arguments[0] as ts.StringLiteral).text : '<dynamic>');
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return found;
}

/** The files reachable from `entry` through run-time relative imports, and every other specifier met on the way. */
function closure(entry: string): { files: string[]; outside: string[] } {
  const files = new Set<string>();
  const outside: string[] = [];
  const walk = (file: string): void => {
    if (files.has(file)) return;
    files.add(file);
    for (const specifier of runtimeImports(file)) {
      if (specifier.startsWith('.')) walk(path.resolve(path.dirname(file), specifier.replace(/\.js$/, '.ts')));
      else outside.push(`${path.relative(root, file)}: ${specifier}`);
    }
  };
  walk(entry);
  return { files: [...files].map((file) => path.relative(root, file)).sort(), outside };
}

describe('what the browser entry loads', () => {
  it('reaches only src/client and protocol/, with no Node built-in and no package', () => {
    const { files, outside } = closure(path.join(root, 'src/client/browser.ts'));
    expect(outside).toEqual([]);
    expect(files.filter((file) => !file.startsWith('src/client/') && !file.startsWith('protocol/'))).toEqual([]);
    expect(files).not.toContain('src/client/node.ts');
    expect(files).toContain('src/client/client.ts');
  });

  it('and the scan bites: the Node entry is flagged', () => {
    const { outside } = closure(path.join(root, 'src/client/node.ts'));
    expect(outside.some((line) => builtinModules.some((name) => line.endsWith(`node:${name}`)))).toBe(true);
    expect(outside.some((line) => line.endsWith(': ws'))).toBe(true);
  });

  it('uses no Node global in the files it loads', () => {
    const nodeGlobals = new Set(['Buffer', 'process', 'require', '__dirname', '__filename', 'global', 'setImmediate']);
    /** Identifiers in code (the scanner skips comments and strings). */
    const identifiers = (text: string): Set<string> => {
      const scanner = ts.createScanner(ts.ScriptTarget.Latest, true, ts.LanguageVariant.Standard, text);
      const names = new Set<string>();
      for (let token = scanner.scan(); token !== ts.SyntaxKind.EndOfFileToken; token = scanner.scan()) {
        if (token === ts.SyntaxKind.Identifier) names.add(scanner.getTokenText());
      }
      return names;
    };
    const { files } = closure(path.join(root, 'src/client/browser.ts'));
    const offenders = files.flatMap((file) =>
      [...identifiers(readFileSync(path.join(root, file), 'utf8'))].filter((name) => nodeGlobals.has(name)).map((name) => `${file}: ${name}`),
    );
    expect(offenders).toEqual([]);
    expect([...identifiers(readFileSync(path.join(root, 'src/client/certificate-pin.ts'), 'utf8'))]).toContain('Buffer'); // it bites
  });
});

describe('the browser transport against a real service', () => {
  let server: TestServer;
  let trustingWebSocket: WebSocketConstructor;
  const urls: string[] = [];

  beforeAll(async () => {
    server = await startTestService();
    const ca = server.caPem;
    // Like a browser told to trust this one certificate; records the URLs it is given.
    trustingWebSocket = class extends NodeWebSocket {
      constructor(url: string) {
        urls.push(url);
        super(url, { ca });
      }
    } as unknown as WebSocketConstructor;
  });
  afterAll(async () => {
    await server.stop();
  });

  it('sends the token as the token query parameter and gets typed answers', async () => {
    const client = await connect({ url: server.url, token: server.token, WebSocket: trustingWebSocket });
    expect((await client.request('getServerInfo')).protocolVersion).toBe(1);
    await client.close();
    expect(client.state).toBe('closed');
    expect(new URL(urls.at(-1) ?? '').searchParams.get('token')).toBe(server.token);
  });

  it('asks endpoint() for url and token', async () => {
    let asked = 0;
    const client = await connect({
      endpoint: async () => {
        asked += 1;
        return { url: server.url, token: server.token };
      },
      WebSocket: trustingWebSocket,
    });
    await client.close();
    expect(asked).toBe(1);
  });

  it('fails with ConnectError when the handshake is refused, without saying why (a browser cannot tell)', async () => {
    await expect(connect({ url: server.url, token: 'not-the-token-at-all', WebSocket: trustingWebSocket, reconnect: false })).rejects.toMatchObject({
      name: 'ConnectError',
      kind: 'refused',
    });
  });
});
