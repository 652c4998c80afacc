/**
 * Regenerates test/vectors/format-v2-age.json (see age-vectors.ts).
 *   npx tsc -p tsconfig.build.json && node dist/tools/vectors/gen-age-vectors.js [--check]
 */
import { buildAgeVectors, serializeAgeVectors } from './age-vectors.js';
import { writeOrCheckVectorFile } from './vector-file.js';

writeOrCheckVectorFile('format-v2-age.json', serializeAgeVectors(await buildAgeVectors()));
