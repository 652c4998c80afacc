/**
 * Writes protocol/openrpc.json from the descriptors.
 * Run: npm run build && node dist/tools/gen-openrpc.js
 */
import { writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { buildOpenRpcDocument } from '../protocol/openrpc.js';

export const OPENRPC_JSON_PATH = fileURLToPath(new URL('../../protocol/openrpc.json', import.meta.url));

export function renderOpenRpcJson(): string {
  return `${JSON.stringify(buildOpenRpcDocument(), null, 2)}\n`;
}

await writeFile(OPENRPC_JSON_PATH, renderOpenRpcJson());
console.log(`wrote ${OPENRPC_JSON_PATH}`);
