/**
 * Writes protocol/openrpc.json from the protocol descriptors, so the committed
 * document cannot drift from the code: test/protocol/consistency.test.ts fails
 * when the file is stale and prints REGENERATE_COMMAND.
 *
 * Run it compiled (there is no TypeScript runner among the dependencies):
 *   npm run build && node dist/tools/gen-openrpc.js
 * While other parts of the tree do not compile, build just this tool and the
 * protocol/ files it imports (NARROW_BUILD_COMMAND below).
 * `--check` writes nothing and exits with 1 when the file is stale.
 */
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildOpenRpcDocument } from '../protocol/openrpc.js';

/** Compiles only this tool and protocol/ into dist/, ignoring the rest of the tree. */
export const NARROW_BUILD_COMMAND =
  'npx tsc --module NodeNext --moduleResolution NodeNext --target ES2022 --lib ES2022,DOM --strict --skipLibCheck ' +
  '--rootDir . --outDir dist tools/gen-openrpc.ts';

export const REGENERATE_COMMAND = `${NARROW_BUILD_COMMAND} && node dist/tools/gen-openrpc.js`;

/** The exact bytes protocol/openrpc.json must hold. */
export function renderOpenRpcJson(): string {
  return `${JSON.stringify(buildOpenRpcDocument(), null, 2)}\n`;
}

/**
 * The repository root: the nearest directory at or above `start` that holds a
 * package.json. Found by walking up, so the tool works both from tools/ and
 * compiled into dist/tools/.
 */
export function findRepoRoot(start: string = path.dirname(fileURLToPath(import.meta.url))): string {
  for (let directory = start; ; directory = path.dirname(directory)) {
    if (existsSync(path.join(directory, 'package.json'))) return directory;
    if (path.dirname(directory) === directory) {
      throw new Error(`no package.json above ${start}: compile this tool into the repository (--outDir dist)`);
    }
  }
}

export function openRpcJsonPath(root: string = findRepoRoot()): string {
  return path.join(root, 'protocol', 'openrpc.json');
}

async function main(args: readonly string[]): Promise<number> {
  const target = openRpcJsonPath();
  const expected = renderOpenRpcJson();
  if (args.includes('--check')) {
    const actual = await readFile(target, 'utf8').catch(() => undefined);
    if (actual === expected) return 0;
    console.error(`${target} is stale; regenerate it with:\n  ${REGENERATE_COMMAND}`);
    return 1;
  }
  await writeFile(target, expected);
  console.log(`wrote ${target}`);
  return 0;
}

/** True when this module is the script node was started with, not an import (e.g. from a test). */
function isEntryPoint(): boolean {
  const script = process.argv[1];
  return script !== undefined && path.resolve(script) === fileURLToPath(import.meta.url);
}

if (isEntryPoint()) process.exitCode = await main(process.argv.slice(2));
