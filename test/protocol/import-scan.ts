/**
 * What a source file pulls in, read with the TypeScript parser (not regexes,
 * so multi-line and dynamic imports count too). Two rules are checked:
 *
 * - protocol/ must stay loadable by the Electron renderer and the browser
 *   client: nothing from src/, no Node built-in, no Node global, and
 *   third-party packages as types only (protocolImportProblems);
 * - src/ is layered (docs/architecture.md): each room (top folder of src/,
 *   or a file at its top) imports only the rooms LAYERS allows, so a lower
 *   layer never imports an upper one (layeringProblems).
 */
import { builtinModules } from 'node:module';
import path from 'node:path';
import ts from 'typescript';

/** Packages protocol/ may import at run time (browser-safe ones only). None today. */
export const RUNTIME_PACKAGES_ALLOWED_IN_PROTOCOL: readonly string[] = [];

const NODE_GLOBALS = new Set(['Buffer', 'process', 'require', '__dirname', '__filename', 'global', 'module']);

interface ModuleReference {
  readonly specifier: string;
  readonly typeOnly: boolean;
  readonly line: number;
}

/** Problems with the imports and globals of one protocol/ file; [] when it is clean. */
export function protocolImportProblems(filePath: string, text: string, protocolDir: string): string[] {
  const source = ts.createSourceFile(filePath, text, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);
  const file = path.relative(path.dirname(protocolDir), filePath);
  const problems: string[] = [];
  for (const reference of moduleReferences(source)) {
    const where = `${file}:${reference.line}: ${JSON.stringify(reference.specifier)}`;
    const spec = reference.specifier;
    if (spec.startsWith('.')) {
      const target = path.resolve(path.dirname(filePath), spec);
      if (!target.startsWith(protocolDir + path.sep)) problems.push(`${where} reaches outside protocol/`);
    } else if (spec.startsWith('node:') || builtinModules.includes(spec.split('/')[0] ?? '')) {
      problems.push(`${where} is a Node built-in`);
    } else if (!reference.typeOnly && !RUNTIME_PACKAGES_ALLOWED_IN_PROTOCOL.includes(packageName(spec))) {
      problems.push(`${where} is a run-time package import (use "import type", or allow it in import-scan.ts if it is browser-safe)`);
    }
  }
  for (const use of nodeGlobalUses(source)) problems.push(`${file}:${use.line}: uses the Node global ${use.name}`);
  return problems;
}

/**
 * The rooms of src/ and what each may import besides itself (docs/architecture.md).
 * Bottom to top: protocol; errors, logging; fs; config; crypto and storage
 * (apart from each other); transfer; methods; server; then the programs that
 * put it together (file-services.ts, index.ts, cli/). client/ stands apart:
 * it talks to a server over the wire and shares only the contract.
 */
export const LAYERS: Readonly<Record<string, readonly string[]>> = {
  protocol: [],
  errors: ['protocol'],
  logging: [],
  fs: ['protocol', 'errors'],
  config: ['protocol', 'errors', 'logging', 'fs'],
  crypto: ['protocol', 'errors', 'logging', 'fs'],
  storage: ['protocol', 'errors', 'logging', 'fs'],
  transfer: ['protocol', 'errors', 'logging', 'fs', 'config', 'crypto', 'storage'],
  users: ['protocol', 'errors', 'logging', 'fs', 'crypto', 'storage'],
  methods: ['protocol', 'errors', 'logging', 'fs', 'config', 'crypto', 'storage', 'transfer', 'users'],
  server: ['protocol', 'errors', 'logging', 'fs', 'config', 'methods'],
  client: ['protocol', 'config'],
  'file-services': ['protocol', 'errors', 'logging', 'fs', 'config', 'crypto', 'storage', 'transfer', 'users', 'methods', 'server'],
  index: ['protocol', 'errors', 'logging', 'fs', 'config', 'crypto', 'storage', 'transfer', 'users', 'methods', 'server', 'file-services'],
  cli: ['protocol', 'errors', 'logging', 'fs', 'config', 'crypto', 'storage', 'transfer', 'users', 'methods', 'server', 'file-services', 'index', 'client'],
};

/** The room of a file: 'protocol' for protocol/, else the top folder of src/ (or the file's name at its top); undefined outside both. */
export function roomOf(filePath: string, root: string): string | undefined {
  const relative = path.relative(root, filePath).split(path.sep);
  if (relative[0] === 'protocol' && relative.length > 1) return 'protocol';
  if (relative[0] !== 'src' || relative.length < 2) return undefined;
  const top = relative[1] ?? '';
  return relative.length === 2 ? top.replace(/\.[jt]s$/, '') : top;
}

/**
 * Imports of one file under src/ that break LAYERS; [] when it is clean.
 * `root` is the repository root. A room missing from LAYERS is a problem too,
 * so that a new folder has to be placed in the layering on purpose.
 */
export function layeringProblems(filePath: string, text: string, root: string): string[] {
  const from = roomOf(filePath, root);
  const file = path.relative(root, filePath);
  if (from === undefined) return [];
  const allowed = LAYERS[from];
  if (allowed === undefined) return [`${file}: the room "${from}" is not in LAYERS (test/protocol/import-scan.ts, docs/architecture.md)`];
  const source = ts.createSourceFile(filePath, text, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);
  const problems: string[] = [];
  for (const reference of moduleReferences(source)) {
    if (!reference.specifier.startsWith('.')) continue;
    const target = path.resolve(path.dirname(filePath), reference.specifier);
    const to = roomOf(target, root);
    const where = `${file}:${reference.line}: ${JSON.stringify(reference.specifier)}`;
    if (to === undefined) problems.push(`${where} reaches outside src/ and protocol/`);
    else if (to !== from && !allowed.includes(to)) problems.push(`${where}: ${from} may not import ${to}`);
  }
  return problems;
}

function moduleReferences(source: ts.SourceFile): ModuleReference[] {
  const references: ModuleReference[] = [];
  const add = (specifier: ts.Node, typeOnly: boolean): void => {
    if (ts.isStringLiteralLike(specifier)) references.push({ specifier: specifier.text, typeOnly, line: lineOf(source, specifier) });
  };
  const visit = (node: ts.Node): void => {
    if (ts.isImportDeclaration(node)) add(node.moduleSpecifier, node.importClause?.isTypeOnly === true);
    else if (ts.isExportDeclaration(node) && node.moduleSpecifier !== undefined) add(node.moduleSpecifier, node.isTypeOnly);
    else if (ts.isImportEqualsDeclaration(node) && ts.isExternalModuleReference(node.moduleReference)) {
      add(node.moduleReference.expression, node.isTypeOnly);
    } else if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword && node.arguments[0] !== undefined) {
      add(node.arguments[0], false);
    } else if (ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument)) add(node.argument.literal, true);
    ts.forEachChild(node, visit);
  };
  visit(source);
  return references;
}

function nodeGlobalUses(source: ts.SourceFile): Array<{ name: string; line: number }> {
  const uses: Array<{ name: string; line: number }> = [];
  const visit = (node: ts.Node): void => {
    if (ts.isIdentifier(node) && NODE_GLOBALS.has(node.text) && !isMemberName(node)) {
      uses.push({ name: node.text, line: lineOf(source, node) });
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return uses;
}

/** `x.process` or `{ process: 1 }`: a property name, not the global. */
function isMemberName(node: ts.Identifier): boolean {
  const parent = node.parent;
  return (
    (ts.isPropertyAccessExpression(parent) && parent.name === node) ||
    ((ts.isPropertyAssignment(parent) || ts.isPropertySignature(parent) || ts.isPropertyDeclaration(parent)) && parent.name === node)
  );
}

function packageName(specifier: string): string {
  const parts = specifier.split('/');
  return specifier.startsWith('@') ? parts.slice(0, 2).join('/') : (parts[0] ?? specifier);
}

function lineOf(source: ts.SourceFile, node: ts.Node): number {
  return source.getLineAndCharacterOfPosition(node.getStart(source)).line + 1;
}
