/**
 * This build's version, from package.json. The file sits at a different
 * depth in the source tree (src/server) and in the build (dist/src/server),
 * so it is found by walking up to the nearest package.json named cloudlocker.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

let cached: string | undefined;

export function packageVersion(): string {
  if (cached !== undefined) return cached;
  let directory = path.dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const manifest = readManifest(path.join(directory, 'package.json'));
    if (manifest?.name === 'cloudlocker' && typeof manifest.version === 'string') {
      cached = manifest.version;
      return cached;
    }
    const parent = path.dirname(directory);
    if (parent === directory) return '0.0.0-unknown';
    directory = parent;
  }
}

function readManifest(file: string): { name?: unknown; version?: unknown } | undefined {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as { name?: unknown; version?: unknown };
  } catch {
    return undefined;
  }
}
