/**
 * The format seam holds: no file of src/ outside src/crypto/ imports a
 * format's own module (src/crypto/v1/...) or one of format v1's constants,
 * classes or functions through the crypto index. They go through
 * StoredFormat, FormatRegistry and ChunkedLayout (docs/architecture.md).
 */
import { describe, expect, it } from '@jest/globals';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import ts from 'typescript';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../..');
const srcDir = path.join(root, 'src');
const cryptoDir = path.join(srcDir, 'crypto');
const v1Dir = path.join(cryptoDir, 'v1');

/** Every name a module of src/crypto/v1/ exports. */
function v1ExportedNames(): Set<string> {
  const names = new Set<string>();
  for (const file of readdirSync(v1Dir).filter((name) => name.endsWith('.ts'))) {
    const source = ts.createSourceFile(file, readFileSync(path.join(v1Dir, file), 'utf8'), ts.ScriptTarget.Latest, true);
    source.forEachChild((node) => {
      const exported = ts.canHaveModifiers(node) && ts.getModifiers(node)?.some((m) => m.kind === ts.SyntaxKind.ExportKeyword);
      if (!exported) return;
      if (ts.isVariableStatement(node)) {
        for (const declaration of node.declarationList.declarations) if (ts.isIdentifier(declaration.name)) names.add(declaration.name.text);
      } else if ((ts.isFunctionDeclaration(node) || ts.isClassDeclaration(node) || ts.isInterfaceDeclaration(node) || ts.isTypeAliasDeclaration(node)) && node.name) {
        names.add(node.name.text);
      }
    });
  }
  return names;
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(full);
    return entry.name.endsWith('.ts') ? [full] : [];
  });
}

/** Problems in one file: imports of src/crypto/v1/ modules, or of v1 names from anywhere in src/crypto/. */
function seamProblems(file: string, text: string, v1Names: ReadonlySet<string>): string[] {
  const source = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true);
  const problems: string[] = [];
  source.forEachChild((node) => {
    if (!(ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) || node.moduleSpecifier === undefined) return;
    if (!ts.isStringLiteral(node.moduleSpecifier) || !node.moduleSpecifier.text.startsWith('.')) return;
    const target = path.resolve(path.dirname(file), node.moduleSpecifier.text);
    if (!target.startsWith(cryptoDir + path.sep)) return;
    const where = `${path.relative(root, file)}: ${node.moduleSpecifier.text}`;
    if (target.startsWith(v1Dir + path.sep)) problems.push(`${where} is a module of format v1`);
    const bindings = ts.isImportDeclaration(node) ? node.importClause?.namedBindings : node.exportClause;
    if (bindings === undefined) return;
    if (ts.isNamespaceImport(bindings) || ts.isNamespaceExport(bindings)) {
      problems.push(`${where} imports all of crypto/`);
      return;
    }
    for (const element of bindings.elements) {
      const name = (element.propertyName ?? element.name).text;
      if (v1Names.has(name)) problems.push(`${where} imports ${name}, which is format v1's own`);
    }
  });
  return problems;
}

describe('the format seam', () => {
  const v1Names = v1ExportedNames();

  it('finds format v1 names to guard', () => {
    for (const name of ['HEADER_SIZE', 'CHUNK_SIZE', 'FileEncryptor', 'FileDecryptor', 'plaintextSizeFor', 'v1Encryption', 'formatV1']) {
      expect(v1Names.has(name)).toBe(true);
    }
  });

  it('no file above src/crypto/ names format v1', () => {
    const problems = sourceFiles(srcDir)
      .filter((file) => !file.startsWith(cryptoDir + path.sep))
      .flatMap((file) => seamProblems(file, readFileSync(file, 'utf8'), v1Names));
    expect(problems).toEqual([]);
  });

  it('notices each kind of breach', () => {
    const file = path.join(srcDir, 'transfer', 'example.ts');
    expect(seamProblems(file, "import { HEADER_SIZE } from '../crypto/index.js';", v1Names)).toHaveLength(1);
    expect(seamProblems(file, "import type { FileEncryptor as E } from '../crypto/index.js';", v1Names)).toHaveLength(1);
    expect(seamProblems(file, "import { ChunkedLayout } from '../crypto/v1/format.js';", v1Names)).toHaveLength(1);
    expect(seamProblems(file, "import * as crypto from '../crypto/index.js';", v1Names)).toHaveLength(1);
    expect(seamProblems(file, "export { storedSizeFor } from '../crypto/index.js';", v1Names)).toHaveLength(1);
    expect(seamProblems(file, "import { storedFormats, type ChunkSealer } from '../crypto/index.js';", v1Names)).toEqual([]);
  });
});
