// @ts-check
/**
 * Mutation testing (StrykerJS 9 with its jest runner), one module at a time:
 *
 *   npm run test:mutation -- <module>      (one of the keys of MODULES below)
 *   npm run test:mutation                  (all of them, one after the other)
 *
 * Each module names the source files Stryker mutates and the only test files
 * it runs against them, so a run takes minutes, not hours, on two cores.
 * Not part of .ci/run (slow); docs/testing.md records the scores and every
 * surviving mutant. Jest runs as the project runs it: ESM, through ts-jest,
 * with --experimental-vm-modules.
 */
import jestConfig from './jest.config.js';

/**
 * `onlyWhenNamed` modules mutate files another module covers too (all of src/crypto at once, or a
 * subset to run alone): a bare `npm run test:mutation` skips them.
 * @type {Record<string, { mutate: string[]; tests: string[]; onlyWhenNamed?: boolean }>}
 */
export const MODULES = {
  names: {
    mutate: ['src/storage/names.ts'],
    tests: ['test/storage/names.test.ts', 'test/storage/name-rules.test.ts', 'test/protocol/names.test.ts'],
  },
  'local-index': {
    mutate: ['src/storage/local/name-encoding.ts', 'src/storage/local/object-index.ts'],
    tests: [
      'test/storage/local/name-encoding.test.ts',
      'test/storage/local/object-index.test.ts',
      'test/storage/local/restart-listing-order.test.ts',
    ],
  },
  // Name encoding alone (the local-index module also runs the index and restart tests against it).
  'name-encoding': {
    mutate: ['src/storage/local/name-encoding.ts'],
    tests: ['test/storage/local/name-encoding.test.ts'],
  },
  handshake: {
    mutate: ['src/server/handshake.ts', 'src/server/request-gate.ts'],
    tests: ['test/server/handshake.test.ts', 'test/server/handshake-origin-token.test.ts', 'test/server/request-gate.test.ts'],
  },
  // All of src/crypto against all of its tests at once: hours on the shared machine (the 2^18
  // scrypt case and the vector generators run for most mutants). The per-file modules below are
  // what was measured.
  crypto: {
    // Both formats as they land (src/crypto, src/crypto/v1, ...); the barrel and the error class hold no logic.
    mutate: ['src/crypto/**/*.ts', '!src/crypto/**/index.ts', '!src/crypto/**/crypto-errors.ts'],
    tests: ['test/crypto/**/*.test.ts'],
    onlyWhenNamed: true,
  },
  // The crypto modules below are one mutated file each (or a few), each with the narrowest test
  // files that exercise it: under per-test coverage every test that runs a mutant is re-run for it,
  // so a broad test file (the v1 vector generator, a 2^18 scrypt) makes each mutant cost seconds.
  // AES-256-GCM: the one caller of Node's cipher (tag length, nonce size, no plaintext before the tag).
  'crypto-aes-gcm': {
    mutate: ['src/crypto/aes-gcm.ts'],
    tests: ['test/crypto/aes-gcm.test.ts'],
  },
  // The re-seal guard shared by both formats' sealers.
  'crypto-fingerprints': {
    mutate: ['src/crypto/chunk-fingerprints.ts'],
    tests: ['test/crypto/chunk-fingerprints.test.ts', 'test/crypto/v1/file-cipher.test.ts'],
  },
  // Format v1 in three parts. Not its vector file (test/crypto/v1/vectors.test.ts): its generator
  // check re-encrypts every vector (~2 s, much more under load) for every mutant it covers.
  // The header (magic, version, salt, key id, header MAC), the layout arithmetic, the key derivation.
  'crypto-v1-header': {
    mutate: ['src/crypto/v1/header.ts', 'src/crypto/v1/format.ts', 'src/crypto/v1/kdf.ts'],
    tests: ['test/crypto/v1/format.test.ts', 'test/crypto/header-refusals.test.ts', 'test/crypto/v1/file-cipher.test.ts'],
  },
  // The chunk cipher (nonces, AAD, the final-chunk flag, truncation) and whole-buffer encryption.
  'crypto-v1-cipher': {
    mutate: ['src/crypto/v1/file-cipher.ts', 'src/crypto/v1/whole-buffer.ts'],
    tests: ['test/crypto/v1/file-cipher.test.ts'],
  },
  // Streams and ranged reads over the chunk cipher.
  'crypto-v1-stream': {
    mutate: ['src/crypto/v1/stream.ts', 'src/crypto/v1/ranged-read.ts'],
    tests: ['test/crypto/v1/stream.test.ts'],
  },
  // v1 behind the format seam (which files it claims, which keys it takes).
  'crypto-v1-seam': {
    mutate: ['src/crypto/v1/v1-format.ts'],
    tests: ['test/crypto/formats.test.ts'],
  },
  // Passphrase wrapping (scrypt bounds, the AES-GCM wrap).
  'crypto-key-wrap': {
    mutate: ['src/crypto/key-wrap.ts'],
    tests: ['test/crypto/key-wrap.test.ts', 'test/crypto/key-wrap-zeroing.test.ts'],
  },
  // Key files: their fields, strict base64, never overwriting, the mode, the messages.
  'crypto-key-file': {
    mutate: ['src/crypto/key-file.ts'],
    tests: ['test/crypto/key-file.test.ts', 'test/crypto/key-file-refusals.test.ts'],
  },
  // The age format: header and its MAC, STREAM payload, stanzas, identities, author stanza, whole files.
  // identity-file.ts is its own module: its test file includes a 2^18 scrypt case (~25 s under load)
  // that would run for most of its mutants.
  // (The vector file's generator check is in vectors-generator.test.ts, left out for the same reason
  // as v1's.) crypto-age-core is the part that decides whether bytes are accepted: the header and its
  // MAC, the STREAM payload.
  'crypto-age': {
    mutate: ['src/crypto/age/*.ts', '!src/crypto/age/index.ts', '!src/crypto/age/identity-file.ts'],
    tests: ['test/crypto/age/header-payload.test.ts', 'test/crypto/age/age-format.test.ts', 'test/crypto/age/vectors.test.ts', 'test/crypto/age/cctv.test.ts'],
  },
  // Its files are in crypto-age too.
  // header-payload.test.ts (function by function, fast) and without vectors.test.ts: with it, a
  // header mutant that survives re-runs ~170 tests (Debian's age on every vector, a scrypt key file),
  // 30-60 s a mutant under load 14-28: the first runs were stopped at 60 and at 76 of 328.
  'crypto-age-core': {
    mutate: ['src/crypto/age/header.ts', 'src/crypto/age/payload.ts'],
    tests: ['test/crypto/age/header-payload.test.ts', 'test/crypto/age/age-format.test.ts', 'test/crypto/age/cctv.test.ts'],
    onlyWhenNamed: true,
  },
  // crypto-age in two more parts (with crypto-age-core, the three cover the module's files once), so
  // a part's survivors are known while the next part runs: the whole module is ~1 000 mutants,
  // over an hour on the shared machine, and Stryker writes its report only at the end.
  // Recipient stanzas (X25519, hybrid), identities and cards, the author stanza, the primitives.
  'crypto-age-keys': {
    mutate: ['src/crypto/age/primitives.ts', 'src/crypto/age/stanzas.ts', 'src/crypto/age/identity.ts', 'src/crypto/age/author.ts'],
    tests: [
      'test/crypto/age/age-format.test.ts',
      'test/crypto/age/vectors.test.ts',
      'test/crypto/age/cctv.test.ts',
      // primitives.ts one by one, and its JWK import (no private key is ever exported).
      'test/crypto/age/primitives.test.ts',
      'test/crypto/age/primitives-secrets.test.ts',
      'test/crypto/age/author.test.ts',
    ],
    onlyWhenNamed: true,
  },
  // Whole files: sizes, the reader's checks in order, the seam, the error class.
  'crypto-age-file': {
    // slot.ts: the header slot (merged from header-slot after the fourth pass; not measured yet).
    mutate: ['src/crypto/age/file.ts', 'src/crypto/age/whole.ts', 'src/crypto/age/age-format.ts', 'src/crypto/age/errors.ts', 'src/crypto/age/slot.ts'],
    tests: ['test/crypto/age/age-format.test.ts', 'test/crypto/age/slot.test.ts', 'test/crypto/age/vectors.test.ts', 'test/crypto/age/cctv.test.ts'],
    onlyWhenNamed: true,
  },
  // A fast first screen of the two files above with their unit tests alone (light imports: a mutant
  // costs a few seconds instead of ~12 under load 20+); the survivors' lines are then re-run with
  // crypto-age-core's whole test list (MUTATION_MUTATE), which is what docs/testing.md reports.
  'crypto-age-core-unit': {
    mutate: ['src/crypto/age/header.ts', 'src/crypto/age/payload.ts'],
    tests: ['test/crypto/age/header-payload.test.ts'],
    onlyWhenNamed: true,
  },
  // A fast first screen of primitives.ts (the JWK key import, ChaCha20-Poly1305, X25519, Ed25519) with
  // its own unit test file alone: under crypto-age-keys' list every primitives mutant re-runs all
  // ~170 tests (~15 s a mutant at load 13). Survivors are re-run with crypto-age-keys' list.
  'crypto-age-primitives-unit': {
    mutate: ['src/crypto/age/primitives.ts'],
    tests: ['test/crypto/age/primitives.test.ts', 'test/crypto/age/primitives-secrets.test.ts'],
    onlyWhenNamed: true,
  },
  // The author stanza with the whole-file tests alone (they seal and open with authors; no vectors).
  'crypto-age-author-unit': {
    mutate: ['src/crypto/age/author.ts'],
    tests: ['test/crypto/age/author.test.ts', 'test/crypto/age/age-format.test.ts'],
    onlyWhenNamed: true,
  },
  // A screen of crypto-age-file's files with the whole-file tests alone (no vectors, no CCTV).
  'crypto-age-file-unit': {
    mutate: ['src/crypto/age/file.ts', 'src/crypto/age/whole.ts', 'src/crypto/age/age-format.ts', 'src/crypto/age/errors.ts'],
    tests: ['test/crypto/age/age-format.test.ts'],
    onlyWhenNamed: true,
  },
  // Fifth pass (branch mut-file): the whole-file screen with the seam's tests too (test/crypto/formats.test.ts
  // reaches age-format.ts through the registry; age-format.test.ts never does) and the fifth pass's
  // test/crypto/age/file-seam.test.ts (the seam, the reader's checks in order, whole.ts's edges).
  'crypto-age-file-screen': {
    mutate: ['src/crypto/age/file.ts', 'src/crypto/age/whole.ts', 'src/crypto/age/age-format.ts', 'src/crypto/age/errors.ts'],
    tests: ['test/crypto/age/age-format.test.ts', 'test/crypto/formats.test.ts', 'test/crypto/age/file-seam.test.ts'],
    onlyWhenNamed: true,
  },
  // The re-run screen for crypto-age-file-screen's survivors: a mutant that survived that module's
  // first list (age-format.test.ts, formats.test.ts) is killed on re-run only by the new file, so the
  // new file alone gives the same answer for it, at a fraction of the cost.
  'crypto-age-file-seam-unit': {
    mutate: ['src/crypto/age/file.ts', 'src/crypto/age/whole.ts', 'src/crypto/age/age-format.ts', 'src/crypto/age/errors.ts'],
    tests: ['test/crypto/age/file-seam.test.ts'],
    onlyWhenNamed: true,
  },
  // Fifth pass, branch mut-file2: crypto-age-file-seam-unit's list plus the ESM-mock test of
  // openWithPassphrase's file-key wipe (test/crypto/age/passphrase-zeroing.test.ts), for the
  // re-run of file.ts's two mutants left after branch mut-file (lines 66 and 259).
  'crypto-age-file-zeroing-unit': {
    mutate: ['src/crypto/age/file.ts'],
    tests: ['test/crypto/age/file-seam.test.ts', 'test/crypto/age/passphrase-zeroing.test.ts'],
    onlyWhenNamed: true,
  },
  // Fifth pass (branch mut-keys): fast screens of the recipient stanzas, the header slot and the
  // identities, each file with the narrowest test files that exercise it (no vectors.test.ts: it
  // runs Debian's age on every vector and a scrypt key file for every mutant it covers).
  'crypto-age-stanzas-unit': {
    mutate: ['src/crypto/age/stanzas.ts'],
    tests: ['test/crypto/age/stanzas.test.ts', 'test/crypto/age/stanzas-zeroing.test.ts', 'test/crypto/age/cctv.test.ts', 'test/crypto/age/age-format.test.ts'],
    onlyWhenNamed: true,
  },
  'crypto-age-slot-unit': {
    mutate: ['src/crypto/age/slot.ts'],
    tests: ['test/crypto/age/slot.test.ts'],
    onlyWhenNamed: true,
  },
  // identity-file.ts without identity-file.test.ts (its 2^18 scrypt and Debian's age through a
  // terminal run for most mutants): identity-file-strict.test.ts works at scrypt 2^2-2^3.
  'crypto-age-identity-file-unit': {
    mutate: ['src/crypto/age/identity-file.ts'],
    tests: ['test/crypto/age/identity-file-strict.test.ts'],
    onlyWhenNamed: true,
  },
  // identity.ts with its own unit tests alone; survivors are re-run with crypto-age-keys' list.
  'crypto-age-identity-unit': {
    mutate: ['src/crypto/age/identity.ts'],
    tests: ['test/crypto/age/identity.test.ts'],
    onlyWhenNamed: true,
  },
  // Fifth pass, part two (branch mut-zero): the two screens above plus the ESM-mock zeroing tests
  // (the decrypted identity text and the key file's bytes; the recipient-tag key), and for identity.ts
  // also card-keys' public-key-checks.test.ts (low-order X25519 keys, weak Ed25519 signing keys).
  'crypto-age-identity-file-zeroing-unit': {
    mutate: ['src/crypto/age/identity-file.ts'],
    tests: ['test/crypto/age/identity-file-strict.test.ts', 'test/crypto/age/identity-file-zeroing.test.ts'],
    onlyWhenNamed: true,
  },
  'crypto-age-identity-zeroing-unit': {
    mutate: ['src/crypto/age/identity.ts'],
    tests: ['test/crypto/age/identity.test.ts', 'test/crypto/age/recipient-tag-zeroing.test.ts', 'test/crypto/age/public-key-checks.test.ts'],
    onlyWhenNamed: true,
  },
  'crypto-age-identity-file': {
    mutate: ['src/crypto/age/identity-file.ts'],
    tests: ['test/crypto/age/identity-file.test.ts', 'test/crypto/age/identity-file-strict.test.ts'],
  },
  // The format seam (branch mut-rest): detecting an object's format from its first bytes and cutting
  // its header, and the chunk geometry both formats share (where chunk i starts, how long it is).
  'crypto-seam': {
    mutate: ['src/crypto/formats.ts', 'src/crypto/chunked-layout.ts'],
    tests: ['test/crypto/formats.test.ts', 'test/crypto/chunked-layout.test.ts', 'test/crypto/format-seam.test.ts', 'test/crypto/header-refusals.test.ts'],
  },
  's3-writer': {
    mutate: ['src/storage/s3/object-writer.ts'],
    // Fast unit tests against fake S3 clients (the commit path call by call, lost answers, RGW's
    // answers, name claims) plus one s3rver case. The conformance suites cover the writer too
    // but take ~30 s a run: with them, a run of this module takes hours.
    tests: [
      'test/storage/s3/object-writer-commit.test.ts',
      'test/storage/s3/object-writer.test.ts',
      'test/storage/s3/claims.test.ts',
      // mut-s3w2: the parsers' own tests (fromS3Metadata survived the three files above).
      'test/storage/s3/object-writer-tokens.test.ts',
    ],
  },
  // mut-s3w (fifth pass): fast screens. The S3 writer against its call-by-call test file alone
  // (object-writer.test.ts loads s3rver and the whole S3 storage for every mutant: ~9 s a mutant at
  // load 20 with it); survivors are then re-run with s3-writer's list (MUTATION_MUTATE).
  's3-writer-commit-unit': {
    mutate: ['src/storage/s3/object-writer.ts'],
    tests: ['test/storage/s3/object-writer-commit.test.ts'],
    onlyWhenNamed: true,
  },
  // Key files against the refusals/limits/durability file alone: key-file.test.ts runs scrypt (N = 2^15)
  // in many of its tests, ~11 s a mutant at load 20 under crypto-key-file's list.
  'crypto-key-file-unit': {
    mutate: ['src/crypto/key-file.ts'],
    tests: ['test/crypto/key-file-refusals.test.ts'],
    onlyWhenNamed: true,
  },
  // mut-s3w2 (fifth pass, part two): object-writer.ts lines 1-165 (parseResumeToken, toS3Metadata,
  // fromS3Metadata: the journal's resume token and the store's metadata) with the commit screen's file
  // and the parsers' own test file; run with MUTATION_MUTATE=src/storage/s3/object-writer.ts:1-165.
  's3-writer-parsers-unit': {
    mutate: ['src/storage/s3/object-writer.ts'],
    tests: ['test/storage/s3/object-writer-commit.test.ts', 'test/storage/s3/object-writer-tokens.test.ts'],
    onlyWhenNamed: true,
  },
  // Fifth pass, part two (branch mut-formats): the src/crypto files no module measured before: which
  // key file means which format and what a loaded key seals and opens with, the v1 master key handle,
  // takeRandom's size check. The new function-by-function file (unprotected key files, scrypt 2^2 for
  // age, one v1 file at 2^15) and the seam's tests (formats.test.ts reaches keyFileEncryption).
  'crypto-key-file-formats': {
    mutate: ['src/crypto/key-file-formats.ts', 'src/crypto/master-key.ts', 'src/crypto/random.ts'],
    tests: ['test/crypto/key-file-formats.test.ts', 'test/crypto/formats.test.ts'],
  },
};

const moduleName = process.env['MUTATION_MODULE'] ?? 'names';
const selected = MODULES[moduleName];
if (selected === undefined) throw new Error(`unknown MUTATION_MODULE ${moduleName}: one of ${Object.keys(MODULES).join(', ')}`);

/**
 * MUTATION_MUTATE (comma-separated, Stryker's "file:line-line" ranges allowed) narrows a module's
 * run to some lines, e.g. to re-check the survivors of the last full run after adding tests.
 * Such a partial run neither reads nor writes the module's incremental file.
 */
const partial = process.env['MUTATION_MUTATE']?.split(',').filter((entry) => entry !== '');
const reportName = partial === undefined ? moduleName : `${moduleName}.partial`;

/** @type {import('@stryker-mutator/api/core').PartialStrykerOptions} */
export default {
  testRunner: 'jest',
  // Jest's ESM support; the same flag `npm test` passes.
  testRunnerNodeArgs: ['--experimental-vm-modules'],
  jest: {
    projectType: 'custom',
    config: { ...jestConfig, testMatch: selected.tests.map((file) => `<rootDir>/${file}`) },
    enableFindRelatedTests: false,
  },
  mutate: partial ?? selected.mutate,
  // Static mutants (module-level constants) are not measured right under ESM jest: the module is
  // evaluated once, so e.g. a negated CONTROL_CHARACTER regex in src/storage/names.ts was reported
  // "survived" while 17 tests fail on it applied by hand. Left out rather than reported wrong.
  ignoreStatic: true,
  coverageAnalysis: 'perTest',
  // Two cores shared by the whole team.
  concurrency: 1,
  timeoutMS: 60_000,
  incremental: partial === undefined,
  incrementalFile: `reports/mutation/${moduleName}.incremental.json`,
  reporters: ['clear-text', 'progress', 'html', 'json'],
  htmlReporter: { fileName: `reports/mutation/${reportName}.html` },
  jsonReporter: { fileName: `reports/mutation/${reportName}.json` },
  clearTextReporter: { allowColor: false, logTests: false },
  tempDirName: '.stryker-tmp',
  cleanTempDir: 'always',
  // ts-jest transpiles without type checks (diagnostics: false): a mutant that would not type-check still runs.
  disableTypeChecks: 'src/**/*.ts',
};
