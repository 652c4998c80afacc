/**
 * test/vectors/format-v2-age.json: every vector holds through the reader
 * (objects open to their plaintext, failures fail with their reason, key
 * files read to their key, author stanzas recompute). That the committed
 * file equals the generator's output: vectors-generator.test.ts.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, test } from '@jest/globals';
import {
  AgeError,
  authorKeyOf,
  openAgeBuffer,
  parseAnyKeyFile,
  parseCard,
} from '../../../src/crypto/age/index.js';
import {
  damagedAgeObject,
  objectPlaintext,
  objectStored,
  vectorIdentity,
  type AgeVectorFile,
  type OpenParams,
} from '../../../tools/vectors/age-vectors.js';
import { sha256 } from '../../../tools/vectors/build-vectors.js';

const committedText = readFileSync(path.resolve('test', 'vectors', 'format-v2-age.json'), 'utf8');
const committed = JSON.parse(committedText) as AgeVectorFile;

function open(file: Buffer, params: OpenParams): Buffer {
  return openAgeBuffer(file, {
    identity: vectorIdentity(params.identity),
    name: params.objectName,
    authors: params.authors?.map((name) => authorKeyOf(vectorIdentity(name).card)),
    acceptUnauthored: params.acceptUnauthored,
  });
}

describe('format v2 vectors', () => {
  test('identities: recipient and card agree with the recorded values', () => {
    for (const [name, vector] of Object.entries(committed.identities)) {
      const identity = vectorIdentity(name);
      expect(identity.encodeSecret()).toBe(vector.identity);
      const card = parseCard(vector.card);
      expect(card.recipientString).toBe(vector.recipient);
      expect(card.cardId).toBe(vector.cardId);
      expect(card.signingPublicKey.toString('hex')).toBe(vector.signingPublicKeyHex);
    }
  });

  test.each(committed.objects.map((o) => [o.name, o] as const))('object %s: stored bytes and opening', (_name, vector) => {
    const stored = objectStored(vector);
    expect(stored.length).toBe(vector.stored.length);
    expect(sha256(stored)).toBe(vector.stored.sha256);
    expect(stored.subarray(0, vector.stored.header.length).toString('latin1')).toBe(vector.stored.header);
    if (vector.stored.hex !== undefined) expect(stored.toString('hex')).toBe(vector.stored.hex);
    const plaintext = objectPlaintext(vector);
    expect(sha256(plaintext)).toBe(vector.plaintext.sha256);
    for (const params of vector.opens) expect(open(stored, params).equals(plaintext)).toBe(true);
  });

  test.each(committed.failures.map((f) => [f.name, f] as const))('failure %s', (_name, vector) => {
    const damaged = damagedAgeObject(committed, vector);
    expect(sha256(damaged)).toBe(vector.stored.sha256);
    let reason = 'opened';
    try {
      open(damaged, vector.open);
    } catch (err) {
      if (!(err instanceof AgeError)) throw err;
      reason = err.ageReason;
    }
    expect(reason).toBe(vector.expected);
  });

  test('Debian age decrypts every X25519 object vector with the identity file vector (author stanza ignored)', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'cloudlocker-age-vectors-'));
    try {
      const identityFile = path.join(dir, 'alice.txt');
      const keyFile = committed.keyFiles.find((k) => k.name === 'age-x25519');
      writeFileSync(identityFile, keyFile?.text ?? '', { mode: 0o600 });
      const objects = committed.objects.filter((o) => o.author === 'alice');
      expect(objects.length).toBeGreaterThanOrEqual(4);
      for (const vector of objects) {
        const file = path.join(dir, `${vector.name}.age`);
        writeFileSync(file, objectStored(vector));
        const plaintext = execFileSync('/usr/bin/age', ['-d', '-i', identityFile, file], { maxBuffer: 1 << 24 });
        expect(sha256(plaintext)).toBe(vector.plaintext.sha256);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test.each(committed.keyFiles.map((k) => [k.name, k] as const))('key file %s', async (_name, vector) => {
    const read = await parseAnyKeyFile(vector.text, vector.passphrase === undefined ? {} : { passphrase: vector.passphrase });
    if (read.format === 'age') expect(read.identity.recipient).toBe(vector.recipient);
    else expect(read.key.keyId).toBe(vector.keyId);
  });
});
