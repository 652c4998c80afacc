/**
 * Builds the stored-file format v1 test vectors (test/vectors/format-v1.json)
 * from fixed seeds. Pure and deterministic: the test suite calls it and
 * compares the result with the committed file byte for byte.
 */
import { createHash } from 'node:crypto';
import {
  CHUNK_SIZE,
  HEADER_SIZE,
  HeaderLayout,
  STORED_CHUNK_SIZE,
  TAG_SIZE,
  chunkCountFor,
  encryptBuffer,
  importMasterKey,
  plaintextSizeFor,
  storedChunkOffset,
  type MasterKey,
} from '../../src/crypto/index.js';
import { BYTE_STREAM_DEFINITION, deterministicRandom, replayRandom, streamBytes } from './deterministic.js';
import { applyMutations, type Mutation } from './mutations.js';

export type ExpectedError = 'INTEGRITY' | 'KEY_MISMATCH';

export interface VectorKey {
  masterKey: string;
  keyId: string;
}

export interface KnownAnswerVector {
  name: string;
  key: string;
  /** The 32 bytes the encryptor drew from its random source: the header salt. */
  salt: string;
  plaintext: { length: number; seed: string; sha256: string; hex?: string };
  stored: { length: number; sha256: string; header: string; chunkTags: string[]; hex?: string };
}

export interface FailureVector {
  name: string;
  description: string;
  /** Known-answer vector whose stored bytes are damaged. */
  base: string;
  mutations: Mutation[];
  /** Key (by name) the damaged object is decrypted with. */
  decryptWith: string;
  stored: { length: number; sha256: string };
  expectedError: ExpectedError;
}

export interface VectorFile {
  description: string;
  specification: string;
  generator: string;
  byteStream: string;
  keys: Record<string, VectorKey>;
  knownAnswer: KnownAnswerVector[];
  failures: FailureVector[];
}

export const PLAINTEXT_SEED = 'cloudlocker v1 vector plaintext';
const MASTER_KEY_SEED = (name: string) => `cloudlocker v1 vector master key ${name}`;
const SALT_SEED = (name: string) => `cloudlocker v1 vector salt ${name}`;
/** Objects up to this many stored bytes are written out in full. */
const FULL_HEX_LIMIT = 1024;

const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

/** Known-answer cases: name, plaintext length. */
const KNOWN_ANSWER_CASES: ReadonlyArray<readonly [string, number]> = [
  ['len-0', 0],
  ['len-1', 1],
  ['len-65535', CHUNK_SIZE - 1],
  ['len-65536', CHUNK_SIZE],
  ['len-65537', CHUNK_SIZE + 1],
  ['len-196608', 3 * CHUNK_SIZE],
  ['len-196609', 3 * CHUNK_SIZE + 1],
  // Same plaintext and key as len-196609, another salt: the source of spliced chunks.
  ['len-196609-second-file', 3 * CHUNK_SIZE + 1],
];

export function vectorKeyBytes(name: string): Buffer {
  return streamBytes(MASTER_KEY_SEED(name), 32);
}

/** The master key of a vector, imported from its recorded hex. */
export function importVectorKey(file: VectorFile, name: string): MasterKey {
  const entry = file.keys[name];
  if (entry === undefined) throw new Error(`no vector key ${name}`);
  return importMasterKey(Buffer.from(entry.masterKey, 'hex'));
}

export function vectorPlaintext(vector: KnownAnswerVector): Buffer {
  return streamBytes(vector.plaintext.seed, vector.plaintext.length);
}

/**
 * Encrypts a known-answer vector's plaintext under its key with the
 * recorded salt as the only randomness.
 */
export function encryptKnownAnswer(file: VectorFile, vector: KnownAnswerVector): Buffer {
  return encryptBuffer(importVectorKey(file, vector.key), vectorPlaintext(vector), {
    random: replayRandom(Buffer.from(vector.salt, 'hex')),
  });
}

/** The damaged object of a failure vector. */
export function damagedObject(file: VectorFile, vector: FailureVector): Buffer {
  const storedOf = (name: string) => {
    const known = file.knownAnswer.find((candidate) => candidate.name === name);
    if (known === undefined) throw new Error(`no known-answer vector ${name}`);
    return encryptKnownAnswer(file, known);
  };
  return applyMutations(storedOf(vector.base), vector.mutations, storedOf);
}

function chunkTags(stored: Buffer): string[] {
  const count = chunkCountFor(plaintextSizeFor(stored.length));
  const tags: string[] = [];
  for (let index = 0; index < count; index++) {
    const end = index === count - 1 ? stored.length : storedChunkOffset(index) + STORED_CHUNK_SIZE;
    tags.push(stored.subarray(end - TAG_SIZE, end).toString('hex'));
  }
  return tags;
}

function knownAnswer(keys: Record<string, VectorKey>, name: string, length: number): KnownAnswerVector {
  const plaintext = streamBytes(PLAINTEXT_SEED, length);
  const key = importMasterKey(Buffer.from((keys.main as VectorKey).masterKey, 'hex'));
  const stored = encryptBuffer(key, plaintext, { random: deterministicRandom(SALT_SEED(name)) });
  const { offset, size } = HeaderLayout.salt;
  return {
    name,
    key: 'main',
    salt: stored.subarray(offset, offset + size).toString('hex'),
    plaintext: {
      length,
      seed: PLAINTEXT_SEED,
      sha256: sha256(plaintext),
      ...(length <= 64 ? { hex: plaintext.toString('hex') } : {}),
    },
    stored: {
      length: stored.length,
      sha256: sha256(stored),
      header: stored.subarray(0, HEADER_SIZE).toString('hex'),
      chunkTags: chunkTags(stored),
      ...(stored.length <= FULL_HEX_LIMIT ? { hex: stored.toString('hex') } : {}),
    },
  };
}

type FailureCase = Omit<FailureVector, 'stored' | 'decryptWith'> & { decryptWith?: string };

/** Offsets in the 4-chunk object len-196609: chunks at 96, 65648, 131200 and a 17-byte final chunk at 196752. */
function failureCases(): FailureCase[] {
  const chunk = (index: number) => storedChunkOffset(index);
  const base = 'len-196609';
  const integrity = 'INTEGRITY' as const;
  return [
    {
      name: 'header-magic-byte-flipped',
      description: 'first magic byte changed: not a cloudlocker object',
      base,
      mutations: [{ op: 'xor', offset: 0, mask: 0x01 }],
      expectedError: integrity,
    },
    {
      name: 'header-version-changed',
      description: 'version byte set to 2',
      base,
      mutations: [{ op: 'set', offset: HeaderLayout.version.offset, value: 2 }],
      expectedError: integrity,
    },
    {
      name: 'header-reserved-byte-set',
      description: 'last reserved byte set to 1 (readers MUST reject non-zero reserved bytes)',
      base,
      mutations: [{ op: 'set', offset: HeaderLayout.reserved.offset + HeaderLayout.reserved.size - 1, value: 1 }],
      expectedError: integrity,
    },
    {
      name: 'header-chunk-size-changed',
      description: 'chunk size field changed from 65536 to 65792',
      base,
      mutations: [{ op: 'xor', offset: HeaderLayout.chunkSize.offset + 2, mask: 0x01 }],
      expectedError: integrity,
    },
    {
      name: 'header-salt-byte-flipped',
      description: 'a salt byte changed: the header MAC fails',
      base,
      mutations: [{ op: 'xor', offset: HeaderLayout.salt.offset, mask: 0x01 }],
      expectedError: integrity,
    },
    {
      name: 'header-key-id-byte-flipped',
      description: 'a key id byte changed: the header now names another key, reported before any MAC check',
      base,
      mutations: [{ op: 'xor', offset: HeaderLayout.keyId.offset, mask: 0x01 }],
      expectedError: 'KEY_MISMATCH',
    },
    {
      name: 'header-mac-byte-flipped',
      description: 'last byte of the header MAC changed',
      base,
      mutations: [{ op: 'xor', offset: HEADER_SIZE - 1, mask: 0x80 }],
      expectedError: integrity,
    },
    {
      name: 'chunk-byte-flipped',
      description: 'a ciphertext byte of chunk 1 changed',
      base,
      mutations: [{ op: 'xor', offset: chunk(1) + 1000, mask: 0x01 }],
      expectedError: integrity,
    },
    {
      name: 'chunk-tag-byte-flipped',
      description: 'last tag byte of chunk 1 changed',
      base,
      mutations: [{ op: 'xor', offset: chunk(1) + STORED_CHUNK_SIZE - 1, mask: 0x01 }],
      expectedError: integrity,
    },
    {
      name: 'final-chunk-byte-flipped',
      description: 'the only ciphertext byte of the final chunk changed',
      base,
      mutations: [{ op: 'xor', offset: chunk(3), mask: 0x01 }],
      expectedError: integrity,
    },
    {
      name: 'truncated-at-chunk-boundary',
      description: 'cut after chunk 1: chunk 1 is now last but was not encrypted as final',
      base,
      mutations: [{ op: 'truncate', length: chunk(2) }],
      expectedError: integrity,
    },
    {
      name: 'final-chunk-dropped',
      description: 'the final chunk removed: chunk 2 is now last but was not encrypted as final',
      base,
      mutations: [{ op: 'truncate', length: chunk(3) }],
      expectedError: integrity,
    },
    {
      name: 'final-full-chunk-dropped',
      description: 'len-196608 (three full chunks) without its final chunk',
      base: 'len-196608',
      mutations: [{ op: 'truncate', length: chunk(2) }],
      expectedError: integrity,
    },
    {
      name: 'truncated-inside-chunk',
      description: 'cut 8 bytes into chunk 2: an impossible size',
      base,
      mutations: [{ op: 'truncate', length: chunk(2) + 8 }],
      expectedError: integrity,
    },
    {
      name: 'truncated-to-header',
      description: 'only the header is left',
      base,
      mutations: [{ op: 'truncate', length: HEADER_SIZE }],
      expectedError: integrity,
    },
    {
      name: 'trailing-byte',
      description: 'one zero byte appended after the final chunk',
      base,
      mutations: [{ op: 'append', hex: '00' }],
      expectedError: integrity,
    },
    {
      name: 'trailing-bytes-after-full-final-chunk',
      description: 'len-196608 with 17 bytes appended: the size is plausible, the real final chunk is read as non-final',
      base: 'len-196608',
      mutations: [{ op: 'append', hex: '00'.repeat(TAG_SIZE + 1) }],
      expectedError: integrity,
    },
    {
      name: 'middle-chunk-dropped',
      description: 'chunk 1 removed',
      base,
      mutations: [{ op: 'delete', offset: chunk(1), length: STORED_CHUNK_SIZE }],
      expectedError: integrity,
    },
    {
      name: 'chunk-duplicated',
      description: 'a second copy of chunk 1 inserted after it',
      base,
      mutations: [{ op: 'insert-copy', at: chunk(2), from: chunk(1), length: STORED_CHUNK_SIZE }],
      expectedError: integrity,
    },
    {
      name: 'chunks-swapped',
      description: 'chunks 0 and 1 exchanged',
      base,
      mutations: [{ op: 'swap', a: chunk(0), b: chunk(1), length: STORED_CHUNK_SIZE }],
      expectedError: integrity,
    },
    {
      name: 'chunk-spliced-from-other-file',
      description: 'chunk 1 replaced by chunk 1 of another file with the same key and plaintext',
      base,
      mutations: [
        { op: 'overwrite-from', vector: 'len-196609-second-file', from: chunk(1), length: STORED_CHUNK_SIZE, at: chunk(1) },
      ],
      expectedError: integrity,
    },
    {
      name: 'header-spliced-from-other-file',
      description: 'the header replaced by the (valid) header of another file with the same key',
      base,
      mutations: [{ op: 'overwrite-from', vector: 'len-196609-second-file', from: 0, length: HEADER_SIZE, at: 0 }],
      expectedError: integrity,
    },
    {
      name: 'wrong-key',
      description: 'an intact object decrypted with another master key',
      base,
      mutations: [],
      decryptWith: 'other',
      expectedError: 'KEY_MISMATCH',
    },
    {
      name: 'empty-file-tag-flipped',
      description: 'len-0 with its only tag changed',
      base: 'len-0',
      mutations: [{ op: 'xor', offset: HEADER_SIZE + TAG_SIZE - 1, mask: 0x01 }],
      expectedError: integrity,
    },
    {
      name: 'empty-file-tag-cut',
      description: 'len-0 missing the last tag byte: an impossible size',
      base: 'len-0',
      mutations: [{ op: 'truncate', length: HEADER_SIZE + TAG_SIZE - 1 }],
      expectedError: integrity,
    },
    {
      name: 'empty-object',
      description: 'zero bytes',
      base: 'len-0',
      mutations: [{ op: 'truncate', length: 0 }],
      expectedError: integrity,
    },
  ];
}

export function buildFormatVectors(): VectorFile {
  const keys: Record<string, VectorKey> = {};
  for (const name of ['main', 'other']) {
    const bytes = vectorKeyBytes(name);
    keys[name] = { masterKey: bytes.toString('hex'), keyId: importMasterKey(bytes).keyId };
  }
  const file: VectorFile = {
    description:
      'Test vectors for the cloudlocker stored-file format v1. Known-answer vectors: encrypting the plaintext under ' +
      'the key with the salt as the only random input gives exactly the stored bytes. Failure vectors: the base ' +
      'vector\'s stored bytes with the mutations applied in order must fail to decrypt with expectedError.',
    specification: 'docs/format.md',
    generator: 'tools/vectors/gen-vectors.ts',
    byteStream: BYTE_STREAM_DEFINITION,
    keys,
    knownAnswer: KNOWN_ANSWER_CASES.map(([name, length]) => knownAnswer(keys, name, length)),
    failures: [],
  };
  file.failures = failureCases().map((entry) => {
    const vector: FailureVector = {
      name: entry.name,
      description: entry.description,
      base: entry.base,
      mutations: entry.mutations,
      decryptWith: entry.decryptWith ?? 'main',
      stored: { length: 0, sha256: '' },
      expectedError: entry.expectedError,
    };
    const damaged = damagedObject(file, vector);
    vector.stored = { length: damaged.length, sha256: sha256(damaged) };
    return vector;
  });
  return file;
}

/** The exact text of test/vectors/format-v1.json. */
export function serializeVectors(file: VectorFile): string {
  return `${JSON.stringify(file, null, 2)}\n`;
}

export { sha256 };
