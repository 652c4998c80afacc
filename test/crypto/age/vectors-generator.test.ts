/**
 * test/vectors/format-v2-age.json is exactly what tools/vectors/age-vectors.ts
 * makes. Its own file (apart from vectors.test.ts, which checks each vector
 * through the reader) because it re-encrypts every vector, seconds on a busy
 * machine: mutation testing runs the reader's checks without it.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, test } from '@jest/globals';
import { buildAgeVectors, serializeAgeVectors } from '../../../tools/vectors/age-vectors.js';

const committedText = readFileSync(path.resolve('test', 'vectors', 'format-v2-age.json'), 'utf8');

describe('format v2 vectors', () => {
  test('the committed file is exactly what the generator makes', async () => {
    expect(serializeAgeVectors(await buildAgeVectors())).toBe(committedText);
  }, 60000);
});
