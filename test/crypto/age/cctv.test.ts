/**
 * The C2SP CCTV age vectors (npm cctv-age) through the v2 reader. Every
 * vector we implement runs: success vectors must decrypt to their payload
 * hash; failure vectors must fail in the named stage (header failure →
 * HEADER_INVALID, no match → NO_STANZA, HMAC failure → HEADER_MAC, payload
 * failure → PAYLOAD_INVALID). Skipped: armored vectors (stored objects are
 * never armored; the reader does not implement armor), listed by name below.
 */
import { createHash } from 'node:crypto';
import { inflateSync } from 'node:zlib';
import { describe, expect, test } from '@jest/globals';
import * as cctv from 'cctv-age';
import {
  AgeError,
  AgeIdentity,
  AgeOpener,
  openAgeBuffer,
  openAgeBufferWithPassphrase,
  type AgeFailure,
} from '../../../src/crypto/age/index.js';
import { unlockAgeHeader } from '../../../src/crypto/age/file.js';
import { openPayload } from '../../../src/crypto/age/whole.js';

interface Vector {
  name: string;
  expect: string;
  payloadHash?: string;
  identities: string[];
  passphrases: string[];
  armored: boolean;
  file: Buffer;
}

function parseVector(name: string, bytes: Uint8Array): Vector {
  const buffer = Buffer.from(bytes);
  const split = buffer.indexOf('\n\n');
  const lines = buffer.subarray(0, split).toString('utf8').split('\n');
  const values = (key: string) => lines.filter((l) => l.startsWith(`${key}: `)).map((l) => l.slice(key.length + 2));
  let file = buffer.subarray(split + 2);
  if (values('compressed')[0] === 'zlib') file = inflateSync(file);
  return {
    name,
    expect: values('expect')[0],
    payloadHash: values('payload')[0],
    identities: values('identity'),
    passphrases: values('passphrase'),
    armored: values('armored')[0] === 'yes',
    file,
  };
}

const EXPECTED: Record<string, AgeFailure | 'success'> = {
  success: 'success',
  'header failure': 'HEADER_INVALID',
  'no match': 'NO_STANZA',
  'HMAC failure': 'HEADER_MAC',
  'payload failure': 'PAYLOAD_INVALID',
};

const vectors = Object.entries(cctv as unknown as Record<string, Uint8Array>).filter(([, bytes]) => bytes instanceof Uint8Array).map(([name, bytes]) => parseVector(name, bytes));
const skipped = vectors.filter((v) => v.armored);
const run = vectors.filter((v) => !v.armored);

async function decrypt(vector: Vector): Promise<Buffer> {
  if (vector.identities.length === 1 && vector.passphrases.length === 0) {
    const identity = AgeIdentity.parse(vector.identities[0]);
    return openAgeBuffer(vector.file, { identity, name: vector.name, acceptUnauthored: true });
  }
  if (vector.identities.length === 0 && vector.passphrases.length === 1) {
    return openAgeBufferWithPassphrase(vector.file, vector.passphrases[0]);
  }
  // Several identities: try each, as age does.
  const identities = vector.identities.map((text) => AgeIdentity.parse(text));
  const { fileKey, header } = await unlockAgeHeader(vector.file, (stanzas) => {
    for (const identity of identities) {
      const key = identity.unwrap(stanzas);
      if (key !== null) return key;
    }
    return null;
  });
  return openPayload(AgeOpener.fromFileKey(fileKey, vector.file, header), vector.file);
}

async function outcome(vector: Vector): Promise<string> {
  try {
    const plaintext = await decrypt(vector);
    return `success ${createHash('sha256').update(plaintext).digest('hex')}`;
  } catch (err) {
    if (err instanceof AgeError) return err.ageReason;
    throw err;
  }
}

describe('CCTV age vectors', () => {
  test('the suite is the one we counted (143 vectors, 33 armored and skipped)', () => {
    expect(vectors).toHaveLength(143);
    expect(skipped.map((v) => v.name).every((name) => name.startsWith('armor'))).toBe(true);
    expect(skipped).toHaveLength(33);
    expect(run).toHaveLength(110);
    for (const vector of run) expect(Object.keys(EXPECTED)).toContain(vector.expect);
  });

  test.each(run.map((v) => [v.name, v] as const))('%s', async (_name, vector) => {
    const expected = EXPECTED[vector.expect];
    const result = await outcome(vector);
    if (expected === 'success') expect(result).toBe(`success ${vector.payloadHash}`);
    else expect(result).toBe(expected);
  });
});
