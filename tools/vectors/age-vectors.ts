/**
 * Builds the format v2 (age) test vectors, test/vectors/format-v2-age.json,
 * from fixed seeds: identities and their cards, key files (v2 identity files
 * and v1 JSON key files), author-stanza known answers, whole objects, and
 * failure vectors. Deterministic: every random byte comes from the byte
 * stream of a named seed, drawn in the order docs/format.md (part 2,
 * "Test vectors") gives. test/crypto/age/vectors-generator.test.ts rebuilds
 * it and compares byte for byte; test/crypto/age/vectors.test.ts checks every
 * vector through the reader.
 */
import { createHash } from 'node:crypto';
import {
  AgeIdentity,
  encryptIdentityText,
  identityFileText,
  sealAgeBuffer,
  type RecipientType,
} from '../../src/crypto/age/index.js';
import { authorCommitment, authorMessage, authorNameTag, makeAuthorStanza } from '../../src/crypto/age/author.js';
import { encodeHeader, encodeHeaderWithoutMac, type Stanza } from '../../src/crypto/age/header.js';
import { AgePayloadSealer, AGE_STORED_CHUNK_SIZE } from '../../src/crypto/age/payload.js';
import type { AgeFailure } from '../../src/crypto/age/errors.js';
import { hkdf } from '../../src/crypto/age/primitives.js';
import { importMasterKey } from '../../src/crypto/index.js';
import { wrapKey, DEFAULT_SCRYPT_PARAMS } from '../../src/crypto/key-wrap.js';
import { BYTE_STREAM_DEFINITION, deterministicRandom, streamBytes } from './deterministic.js';
import { applyMutations, type Mutation } from './mutations.js';

const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');
const PLAINTEXT_SEED = 'cloudlocker v2 vector plaintext';
const identitySeed = (name: string) => `cloudlocker v2 vector identity ${name}`;
const objectSeed = (name: string) => `cloudlocker v2 vector object ${name}`;
const keyFileSeed = (name: string) => `cloudlocker v2 vector key file ${name}`;
const CREATED = new Date('2026-01-01T00:00:00Z');
const FULL_HEX_LIMIT = 1024;

/** A failure vector's expected reason: the reader's own failure names. */
export type AgeFailureName = AgeFailure;

export interface IdentityVector {
  type: RecipientType;
  /** The 32 secret bytes: the first 32 bytes of the stream of `seed`. */
  seed: string;
  secretHex: string;
  identity: string;
  recipient: string;
  /** HKDF-SHA-256(secret, "", "cloudlocker.dev/v2/signing-key/" || type, 32). */
  signingSeedHex: string;
  signingPublicKeyHex: string;
  card: string;
  cardId: string;
}

export interface KeyFileVector {
  name: string;
  kind: 'age-identity' | 'age-identity-passphrase' | 'v1' | 'v1-passphrase';
  description: string;
  /** Seed of the random stream the writer drew from (passphrase forms). */
  randomSeed?: string;
  passphrase?: string;
  text: string;
  /** What reading it gives: the identity's recipient (age) or the key id (v1). */
  recipient?: string;
  keyId?: string;
}

export interface AuthorStanzaVector {
  name: string;
  identity: string;
  fileKeyHex: string;
  objectName: string;
  commitmentHex: string;
  nameKeyHex: string;
  nameTagHex: string;
  messageHex: string;
  signatureHex: string;
  /** The stanza as it appears in the header (lines joined with \n, without the final \n). */
  stanza: string;
}

export interface OpenParams {
  identity: string;
  objectName: string;
  /** Trusted authors by identity name; the reader's own identity when absent. */
  authors?: string[];
  acceptUnauthored?: boolean;
}

export interface ObjectVector {
  name: string;
  description: string;
  author: string;
  objectName: string;
  /** Extra recipients by identity name, given as their card strings. */
  recipients: string[];
  /** 'normal' as cloudlocker writes; 'none' without an author stanza; 'forged' with a bad signature. */
  construction: 'normal' | 'none' | 'forged';
  randomSeed: string;
  plaintext: { length: number; seed: string; sha256: string };
  stored: { length: number; sha256: string; header: string; payloadNonceHex: string; hex?: string };
  /** Opening with these succeeds and gives the plaintext. */
  opens: OpenParams[];
}

export interface AgeFailureVector {
  name: string;
  description: string;
  base: string;
  mutations: Mutation[];
  open: OpenParams;
  stored: { length: number; sha256: string };
  expected: AgeFailureName;
}

export interface AgeVectorFile {
  description: string;
  specification: string;
  generator: string;
  byteStream: string;
  identities: Record<string, IdentityVector>;
  keyFiles: KeyFileVector[];
  authorStanzas: AuthorStanzaVector[];
  objects: ObjectVector[];
  failures: AgeFailureVector[];
}

const IDENTITIES: ReadonlyArray<readonly [string, RecipientType]> = [
  ['alice', 'X25519'],
  ['bob', 'X25519'],
  ['carol', 'X25519'],
  ['pq-alice', 'mlkem768x25519'],
  ['pq-bob', 'mlkem768x25519'],
];

export function vectorIdentity(name: string): AgeIdentity {
  const entry = IDENTITIES.find(([n]) => n === name);
  if (entry === undefined) throw new Error(`no vector identity ${name}`);
  return AgeIdentity.fromSecret(entry[1], streamBytes(identitySeed(name), 32));
}

function identityVector(name: string, type: RecipientType): IdentityVector {
  const identity = vectorIdentity(name);
  const secret = streamBytes(identitySeed(name), 32);
  return {
    type,
    seed: identitySeed(name),
    secretHex: secret.toString('hex'),
    identity: identity.encodeSecret(),
    recipient: identity.recipient,
    signingSeedHex: hkdf(secret, Buffer.alloc(0), `cloudlocker.dev/v2/signing-key/${type}`).toString('hex'),
    signingPublicKeyHex: identity.card.signingPublicKey.toString('hex'),
    card: identity.card.card,
    cardId: identity.card.cardId,
  };
}

async function keyFiles(): Promise<KeyFileVector[]> {
  const alice = vectorIdentity('alice');
  const pq = vectorIdentity('pq-alice');
  const v1Key = streamBytes(keyFileSeed('v1 master key'), 32);
  const master = importMasterKey(v1Key);
  const v1 = (body: Record<string, unknown>) =>
    `${JSON.stringify({ type: 'cloudlocker-key', version: 1, keyId: master.keyId, createdAt: '2026-01-01T00:00:00.000Z', ...body }, null, 2)}\n`;
  const protectedSeed = keyFileSeed('age passphrase');
  const v1ProtectedSeed = keyFileSeed('v1 passphrase');
  return [
    {
      name: 'age-x25519',
      kind: 'age-identity',
      description: 'an age identity file as cloudlocker (and age-keygen) writes it',
      text: identityFileText(alice, CREATED),
      recipient: alice.recipient,
    },
    {
      name: 'age-hybrid',
      kind: 'age-identity',
      description: 'a post-quantum hybrid identity file',
      text: identityFileText(pq, CREATED),
      recipient: pq.recipient,
    },
    {
      name: 'age-x25519-passphrase',
      kind: 'age-identity-passphrase',
      description:
        'the age-x25519 file encrypted to the passphrase with one scrypt stanza, armored; work factor 2^10 to keep the ' +
        'vector fast (writers use 2^18). Random draws: file key 16, scrypt salt 16, payload nonce 16.',
      randomSeed: protectedSeed,
      passphrase: 'vector passphrase',
      text: await encryptIdentityText(identityFileText(alice, CREATED), 'vector passphrase', {
        random: deterministicRandom(protectedSeed),
        logN: 10,
      }),
      recipient: alice.recipient,
    },
    {
      name: 'v1-plain',
      kind: 'v1',
      description: 'a v1 JSON key file (docs/format.md section 9.1): key is the first 32 bytes of the stream of randomSeed',
      randomSeed: keyFileSeed('v1 master key'),
      text: v1({ key: v1Key.toString('base64') }),
      keyId: master.keyId,
    },
    {
      name: 'v1-passphrase',
      kind: 'v1-passphrase',
      description:
        'the same key wrapped under the passphrase (section 9.2) with N = 2^15, r = 8, p = 1; random draws: salt 32, nonce 12',
      randomSeed: v1ProtectedSeed,
      passphrase: 'vector passphrase',
      text: v1({ wrappedKey: await wrapKey(v1Key, 'vector passphrase', deterministicRandom(v1ProtectedSeed), DEFAULT_SCRYPT_PARAMS) }),
      keyId: master.keyId,
    },
  ];
}

function authorVector(name: string, identityName: string, objectName: string): AuthorStanzaVector {
  const identity = vectorIdentity(identityName);
  const fileKey = streamBytes(`cloudlocker v2 vector file key ${name}`, 16);
  const stanza = makeAuthorStanza(identity, fileKey, objectName);
  const nameTag = authorNameTag(fileKey, objectName);
  const commitment = authorCommitment(fileKey);
  const text = encodeHeaderWithoutMac([stanza]).toString('latin1');
  return {
    name,
    identity: identityName,
    fileKeyHex: fileKey.toString('hex'),
    objectName,
    commitmentHex: commitment.toString('hex'),
    nameKeyHex: hkdf(fileKey, Buffer.alloc(0), 'cloudlocker.dev/v2/author/name-key').toString('hex'),
    nameTagHex: nameTag.toString('hex'),
    messageHex: authorMessage(identity.card.cardId, commitment, nameTag).toString('hex'),
    signatureHex: stanza.body.subarray(32).toString('hex'),
    stanza: text.slice(text.indexOf('\n') + 1, text.lastIndexOf('\n')),
  };
}

interface ObjectCase {
  name: string;
  description: string;
  author: string;
  objectName: string;
  recipients: string[];
  length: number;
  construction: ObjectVector['construction'];
  opens: OpenParams[];
}

const OBJECT_CASES: ObjectCase[] = [
  { name: 'x25519-len-0', description: 'empty file', author: 'alice', objectName: 'empty.txt', recipients: [], length: 0, construction: 'normal', opens: [{ identity: 'alice', objectName: 'empty.txt' }] },
  { name: 'x25519-len-1', description: 'one byte', author: 'alice', objectName: 'one.bin', recipients: [], length: 1, construction: 'normal', opens: [{ identity: 'alice', objectName: 'one.bin' }] },
  { name: 'x25519-len-65536', description: 'exactly one full chunk', author: 'alice', objectName: 'docs/full.bin', recipients: [], length: 65536, construction: 'normal', opens: [{ identity: 'alice', objectName: 'docs/full.bin' }] },
  {
    name: 'x25519-len-131073',
    description: 'two full chunks and one byte; also encrypted to bob (given as his card)',
    author: 'alice',
    objectName: 'docs/report.pdf',
    recipients: ['bob'],
    length: 131073,
    construction: 'normal',
    opens: [
      { identity: 'alice', objectName: 'docs/report.pdf' },
      { identity: 'bob', objectName: 'docs/report.pdf', authors: ['alice'] },
    ],
  },
  { name: 'hybrid-len-100', description: 'post-quantum hybrid, also to pq-bob', author: 'pq-alice', objectName: 'pq.txt', recipients: ['pq-bob'], length: 100, construction: 'normal', opens: [{ identity: 'pq-alice', objectName: 'pq.txt' }, { identity: 'pq-bob', objectName: 'pq.txt', authors: ['pq-alice'] }] },
  { name: 'x25519-unauthored', description: 'a plain age file for alice (no author stanza), as `age -r` makes', author: 'alice', objectName: 'plain.txt', recipients: [], length: 20, construction: 'none', opens: [{ identity: 'alice', objectName: 'plain.txt', acceptUnauthored: true }] },
  { name: 'x25519-forged-author', description: 'author stanza of alice whose signature has its first byte flipped (header MAC valid)', author: 'alice', objectName: 'forged.txt', recipients: [], length: 20, construction: 'forged', opens: [] },
];

function seal(entry: ObjectCase, plaintext: Buffer): Buffer {
  const identity = vectorIdentity(entry.author);
  const random = deterministicRandom(objectSeed(entry.name));
  if (entry.construction === 'normal') {
    return sealAgeBuffer(plaintext, {
      identity,
      name: entry.objectName,
      recipients: entry.recipients.map((r) => vectorIdentity(r).card.card),
      random,
    });
  }
  // Same draws as a normal object: file key, recipient stanza, payload nonce.
  const fileKey = random(16);
  const stanzas: Stanza[] = [identity.wrap(fileKey, random)];
  if (entry.construction === 'forged') {
    const author = makeAuthorStanza(identity, fileKey, entry.objectName);
    const body = Buffer.from(author.body);
    body[32] ^= 0x01;
    stanzas.push({ args: author.args, body });
  }
  const nonce = random(16);
  const chunk = new AgePayloadSealer(fileKey, nonce).encryptChunk(0, plaintext, true);
  return Buffer.concat([encodeHeader(stanzas, fileKey), nonce, chunk]);
}

export function objectPlaintext(vector: ObjectVector): Buffer {
  return streamBytes(vector.plaintext.seed, vector.plaintext.length);
}

export function objectStored(vector: ObjectVector): Buffer {
  const entry = OBJECT_CASES.find((c) => c.name === vector.name);
  if (entry === undefined) throw new Error(`no object case ${vector.name}`);
  return seal(entry, objectPlaintext(vector));
}

function objectVector(entry: ObjectCase): ObjectVector {
  const plaintext = streamBytes(PLAINTEXT_SEED, entry.length);
  const stored = seal(entry, plaintext);
  const text = stored.toString('latin1');
  const headerEnd = text.indexOf('\n---') + 1;
  const headerLength = text.indexOf('\n', headerEnd) + 1;
  return {
    name: entry.name,
    description: entry.description,
    author: entry.author,
    objectName: entry.objectName,
    recipients: entry.recipients,
    construction: entry.construction,
    randomSeed: objectSeed(entry.name),
    plaintext: { length: entry.length, seed: PLAINTEXT_SEED, sha256: sha256(plaintext) },
    stored: {
      length: stored.length,
      sha256: sha256(stored),
      header: text.slice(0, headerLength),
      payloadNonceHex: stored.subarray(headerLength, headerLength + 16).toString('hex'),
      ...(stored.length <= FULL_HEX_LIMIT ? { hex: stored.toString('hex') } : {}),
    },
    opens: entry.opens,
  };
}

function failureCases(objects: ObjectVector[]): Array<Omit<AgeFailureVector, 'stored'>> {
  const base = 'x25519-len-131073';
  const object = objects.find((o) => o.name === base) as ObjectVector;
  const header = object.stored.header;
  const prefix = header.length + 16;
  const macAt = header.indexOf('\n--- ') + 5;
  const cardAt = header.indexOf('-> cloudlocker.dev/author ') + '-> cloudlocker.dev/author '.length;
  const asChar = (offset: number, alternatives: string) => {
    const current = header[offset];
    return (alternatives[0] === current ? alternatives[1] : alternatives[0]).charCodeAt(0);
  };
  const owner: OpenParams = { identity: 'alice', objectName: object.objectName };
  return [
    { name: 'version-line-changed', description: 'the version line says v2', base, mutations: [{ op: 'set', offset: 20, value: 0x32 }], open: owner, expected: 'HEADER_INVALID' },
    { name: 'cr-in-header', description: 'the first LF replaced by CR', base, mutations: [{ op: 'set', offset: 21, value: 0x0d }], open: owner, expected: 'HEADER_INVALID' },
    { name: 'not-a-recipient', description: 'carol opens it: no stanza for her', base, mutations: [], open: { identity: 'carol', objectName: object.objectName }, expected: 'NO_STANZA' },
    { name: 'mac-character-changed', description: 'one character of the MAC changed (still canonical base64)', base, mutations: [{ op: 'set', offset: macAt + 5, value: asChar(macAt + 5, 'AB') }], open: owner, expected: 'HEADER_MAC' },
    { name: 'author-card-id-changed', description: 'one hex digit of the card id in the author stanza changed: the MAC covers it', base, mutations: [{ op: 'set', offset: cardAt, value: asChar(cardAt, '01') }], open: owner, expected: 'HEADER_MAC' },
    { name: 'payload-nonce-flipped', description: 'a payload nonce bit flipped (another payload key)', base, mutations: [{ op: 'xor', offset: header.length, mask: 0x01 }], open: owner, expected: 'PAYLOAD_INVALID' },
    { name: 'chunk-byte-flipped', description: 'a ciphertext bit of chunk 1 flipped', base, mutations: [{ op: 'xor', offset: prefix + AGE_STORED_CHUNK_SIZE + 100, mask: 0x80 }], open: owner, expected: 'PAYLOAD_INVALID' },
    { name: 'truncated-at-chunk-boundary', description: 'cut after chunk 1 (the final chunk dropped)', base, mutations: [{ op: 'truncate', length: prefix + 2 * AGE_STORED_CHUNK_SIZE }], open: owner, expected: 'PAYLOAD_INVALID' },
    { name: 'trailing-byte', description: 'one zero byte appended', base, mutations: [{ op: 'append', hex: '00' }], open: owner, expected: 'PAYLOAD_INVALID' },
    { name: 'chunks-swapped', description: 'chunks 0 and 1 exchanged', base, mutations: [{ op: 'swap', a: prefix, b: prefix + AGE_STORED_CHUNK_SIZE, length: AGE_STORED_CHUNK_SIZE }], open: owner, expected: 'PAYLOAD_INVALID' },
    { name: 'other-name', description: 'asked for under another name (moved or swapped in the store)', base, mutations: [], open: { identity: 'alice', objectName: 'docs/other.pdf' }, expected: 'WRONG_NAME' },
    { name: 'unknown-author', description: 'bob reads it trusting only himself', base, mutations: [], open: { identity: 'bob', objectName: object.objectName }, expected: 'AUTHOR_UNKNOWN' },
    { name: 'unauthored-refused', description: 'a plain age file, unauthored files not accepted', base: 'x25519-unauthored', mutations: [], open: { identity: 'alice', objectName: 'plain.txt' }, expected: 'AUTHOR_MISSING' },
    { name: 'forged-signature', description: 'author signature altered, header MAC recomputed', base: 'x25519-forged-author', mutations: [], open: { identity: 'alice', objectName: 'forged.txt' }, expected: 'AUTHOR_INVALID' },
  ];
}

export function damagedAgeObject(file: AgeVectorFile, vector: Omit<AgeFailureVector, 'stored'>): Buffer {
  const base = file.objects.find((o) => o.name === vector.base);
  if (base === undefined) throw new Error(`no object vector ${vector.base}`);
  return applyMutations(objectStored(base), vector.mutations, () => {
    throw new Error('no cross-object mutations in v2 vectors');
  });
}

export async function buildAgeVectors(): Promise<AgeVectorFile> {
  const identities: Record<string, IdentityVector> = {};
  for (const [name, type] of IDENTITIES) identities[name] = identityVector(name, type);
  const objects = OBJECT_CASES.map(objectVector);
  const file: AgeVectorFile = {
    description:
      'Test vectors for cloudlocker stored-file format v2 (age files with an author stanza), identity files, cards and ' +
      'v1 key files. Objects: sealing the plaintext with the random stream of randomSeed gives exactly the stored bytes; ' +
      'each `opens` entry decrypts it. Failures: the base object with the mutations applied, opened as `open` says, ' +
      'MUST fail with `expected`.',
    specification: 'docs/format.md (part 2)',
    generator: 'tools/vectors/gen-age-vectors.ts',
    byteStream: BYTE_STREAM_DEFINITION,
    identities,
    keyFiles: await keyFiles(),
    authorStanzas: [authorVector('alice-report', 'alice', 'docs/report.pdf'), authorVector('pq-alice-unicode', 'pq-alice', 'Fotos/Ærø 2026/ü.jpg')],
    objects,
    failures: [],
  };
  file.failures = failureCases(objects).map((entry) => {
    const damaged = damagedAgeObject(file, entry);
    return { ...entry, stored: { length: damaged.length, sha256: sha256(damaged) } };
  });
  return file;
}

export function serializeAgeVectors(file: AgeVectorFile): string {
  return `${JSON.stringify(file, null, 2)}\n`;
}

