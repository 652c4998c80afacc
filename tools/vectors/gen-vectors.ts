/**
 * Regenerates test/vectors/format-v1.json from fixed seeds (see
 * build-vectors.ts). The output only changes when the format or the vector
 * list changes; the test suite fails if the committed file and this
 * generator disagree.
 *
 * Run from the repository root:
 *   npx tsc -p tsconfig.build.json && node dist/tools/vectors/gen-vectors.js
 *   node dist/tools/vectors/gen-vectors.js --check   # compare only, exit 1 on a difference
 * (tsc emits even when unrelated files in the tree have type errors; if it
 * exits non-zero for such a reason, run the node command anyway.)
 *
 * test/vectors/wycheproof-aes-gcm-256.json is not generated here: it is a
 * verbatim subset of Project Wycheproof (see its "source" field).
 */
import { buildFormatVectors, serializeVectors } from './build-vectors.js';
import { writeOrCheckVectorFile } from './vector-file.js';

writeOrCheckVectorFile('format-v1.json', serializeVectors(buildFormatVectors()));
