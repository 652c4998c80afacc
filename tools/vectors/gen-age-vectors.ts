/**
 * Regenerates test/vectors/format-v2-age.json (see age-vectors.ts).
 *   npx tsc -p tsconfig.build.json && node dist/tools/vectors/gen-age-vectors.js [--check]
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { buildAgeVectors, serializeAgeVectors } from './age-vectors.js';

const target = path.resolve('test', 'vectors', 'format-v2-age.json');
if (!existsSync(path.dirname(target))) {
  console.error(`run from the repository root (${path.dirname(target)} not found)`);
  process.exit(2);
}
const text = serializeAgeVectors(await buildAgeVectors());
if (process.argv.includes('--check')) {
  const current = existsSync(target) ? readFileSync(target, 'utf8') : '';
  if (current !== text) {
    console.error(`${target} differs from the generator's output`);
    process.exit(1);
  }
  console.log(`${target} matches the generator`);
} else {
  writeFileSync(target, text);
  console.log(`wrote ${target} (${text.length} bytes)`);
}
