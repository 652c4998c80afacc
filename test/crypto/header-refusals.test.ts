/**
 * What readHeaderInfo (getFileInfo's view of a stored object, without a key)
 * says about each way a header can be wrong: INTEGRITY, with the reason in
 * the message, and the format version in the details when that is the
 * problem. Written for the mutation audit (issue 18), whose survivors in the
 * v1 header parser were exactly these messages. Through the crypto barrel,
 * so it does not depend on where the v1 code lives.
 */
import { describe, expect, it } from '@jest/globals';
import { CHUNK_SIZE, encryptBuffer, FORMAT_VERSION, generateMasterKey, HEADER_SIZE, HeaderLayout, readHeaderInfo } from '../../src/crypto/index.js';
import { buildHeader } from '../../src/crypto/v1/header.js';

const stored = encryptBuffer(generateMasterKey(), Buffer.from('a file'));
const header = () => Buffer.from(stored.subarray(0, HEADER_SIZE));

function refusal(bytes: Uint8Array): { reason: unknown; message: string; details: unknown } {
  try {
    readHeaderInfo(bytes);
  } catch (err) {
    const e = err as { reason: unknown; message: string; details: unknown };
    return { reason: e.reason, message: e.message, details: e.details };
  }
  throw new Error('expected readHeaderInfo to refuse the header');
}

describe('readHeaderInfo refuses a header that is not v1, saying why', () => {
  it('reads a good header (the control)', () => {
    expect(readHeaderInfo(header())).toEqual({ formatVersion: FORMAT_VERSION, keyId: expect.stringMatching(/^[0-9a-f]{32}$/) });
    expect(readHeaderInfo(stored)).toEqual(readHeaderInfo(header()));
  });

  it('an incomplete header', () => {
    const result = refusal(header().subarray(0, HEADER_SIZE - 1));
    expect(result.reason).toBe('INTEGRITY');
    expect(result.message).toContain(`its header is incomplete (${HEADER_SIZE - 1} of ${HEADER_SIZE} bytes)`);
  });

  it('another magic', () => {
    const bytes = header();
    bytes[HeaderLayout.magic.offset + 4] ^= 1;
    expect(refusal(bytes)).toMatchObject({ reason: 'INTEGRITY', message: expect.stringContaining('it does not start like a cloudlocker encrypted file') });
  });

  it('another format version, named in the message and the details', () => {
    const bytes = header();
    bytes[HeaderLayout.version.offset] = FORMAT_VERSION + 1;
    const result = refusal(bytes);
    expect(result.reason).toBe('INTEGRITY');
    expect(result.message).toContain(`its header names format version ${FORMAT_VERSION + 1}, which this version cannot read`);
    expect(result.details).toEqual({ formatVersion: FORMAT_VERSION + 1 });
  });

  it('a reserved byte set', () => {
    const bytes = header();
    bytes[HeaderLayout.reserved.offset + HeaderLayout.reserved.size - 1] = 1;
    expect(refusal(bytes)).toMatchObject({ reason: 'INTEGRITY', message: expect.stringContaining('its header has reserved bytes set') });
  });

  it('another chunk size', () => {
    const bytes = header();
    bytes.writeUInt32BE(CHUNK_SIZE * 2, HeaderLayout.chunkSize.offset);
    expect(refusal(bytes)).toMatchObject({
      reason: 'INTEGRITY',
      message: expect.stringContaining(`its header names a chunk size of ${CHUNK_SIZE * 2} bytes; format v1 uses ${CHUNK_SIZE}`),
    });
  });
});

// buildHeader is internal to v1 (not in the crypto barrel): every caller passes the sizes the key
// derivation makes. Its own guards still refuse other sizes instead of writing a header that
// names a salt or key id it does not hold.
describe('buildHeader refuses a salt or key id of the wrong size', () => {
  it.each([
    ['a short salt', 31, 16, 'salt must be 32 bytes'],
    ['a long salt', 33, 16, 'salt must be 32 bytes'],
    ['a short key id', 32, 15, 'key id must be 16 bytes'],
    ['a long key id', 32, 17, 'key id must be 16 bytes'],
  ])('%s', (_label, saltSize, keyIdSize, message) => {
    expect(() => buildHeader(Buffer.alloc(saltSize), Buffer.alloc(keyIdSize), Buffer.alloc(32))).toThrow(new RangeError(message));
    expect(buildHeader(Buffer.alloc(32), Buffer.alloc(16), Buffer.alloc(32)).length).toBe(HEADER_SIZE);
  });
});
