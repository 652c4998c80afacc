/**
 * The S3 writer's two small parsers of outside input (branch mut-s3w2, written against the
 * mutation screen of object-writer.ts lines 1-165):
 * - parseResumeToken reads a resume token back from the write journal on disk: "<upload id>
 *   <marker>", or the upload id alone for tokens from before markers. A garbled marker must not
 *   be taken for one (the marker is what tells this writer that an object at its key is its own),
 *   and the upload id must come back whole.
 * - toS3Metadata / fromS3Metadata map the caller's metadata to `x-amz-meta-cl-<key>` and back; what
 *   comes back is from the store (untrusted): only `cl-` keys are the caller's, never the upload
 *   marker or another tool's metadata.
 */
import { describe, expect, it } from '@jest/globals';
import {
  fromS3Metadata,
  parseResumeToken,
  toS3Metadata,
  UPLOAD_MARKER_KEY,
  USER_METADATA_PREFIX,
} from '../../../src/storage/s3/object-writer.js';
import { checkStoredMetadata } from '../../../src/storage/metadata.js';

const MARKER = '0123456789abcdef0123456789abcdef';

describe('parseResumeToken (a token read back from the journal)', () => {
  it('splits "<upload id> <marker>" at the last space', () => {
    expect(parseResumeToken(`upload-1 ${MARKER}`)).toEqual({ uploadId: 'upload-1', marker: MARKER });
    expect(parseResumeToken(`a b c ${MARKER}`)).toEqual({ uploadId: 'a b c', marker: MARKER });
  });

  it('an upload id alone (a token from before markers) comes back whole, with no marker', () => {
    expect(parseResumeToken('2~legacy.Upload-Id_0123')).toEqual({ uploadId: '2~legacy.Upload-Id_0123', marker: undefined });
    expect(parseResumeToken('')).toEqual({ uploadId: '', marker: undefined });
  });

  it('an upload id that is itself 32 hex digits (no space) is not taken for a marker', () => {
    // Some stores' upload ids are hex; without a space there is no marker.
    expect(parseResumeToken(MARKER)).toEqual({ uploadId: MARKER, marker: undefined });
  });

  it('a garbled marker is not a marker: the whole token is the upload id', () => {
    for (const garbled of [
      MARKER.toUpperCase(),
      MARKER.slice(1),
      `${MARKER}0`,
      `${MARKER.slice(0, 31)}g`,
      `${MARKER} `,
      '',
    ]) {
      const token = `upload-1 ${garbled}`;
      expect(parseResumeToken(token)).toEqual({ uploadId: token, marker: undefined });
    }
  });

  it('a marker with nothing before it (no upload id) is not accepted', () => {
    expect(parseResumeToken(` ${MARKER}`)).toEqual({ uploadId: ` ${MARKER}`, marker: undefined });
  });

  it('a marker that is not the last word is not taken', () => {
    const token = `upload-1 ${MARKER} trailing`;
    expect(parseResumeToken(token)).toEqual({ uploadId: token, marker: undefined });
  });
});

describe('toS3Metadata (the caller\'s metadata as x-amz-meta-cl-<key>)', () => {
  it('prefixes every key with cl- and keeps the values', () => {
    expect(USER_METADATA_PREFIX).toBe('cl-');
    expect(toS3Metadata({ a: '1', 'content-type': 'text/plain' })).toEqual({ 'cl-a': '1', 'cl-content-type': 'text/plain' });
  });

  it('no metadata, or empty metadata, is no S3 metadata', () => {
    expect(toS3Metadata(undefined)).toEqual({});
    expect(toS3Metadata({})).toEqual({});
  });
});

describe('fromS3Metadata (what the store answers, untrusted)', () => {
  it('takes only the cl- keys, without the prefix', () => {
    expect(fromS3Metadata({ 'cl-a': '1', 'cl-content-type': 'text/plain' })).toEqual({ a: '1', 'content-type': 'text/plain' });
  });

  it('the upload marker and other tools\' metadata are not the caller\'s', () => {
    expect(
      fromS3Metadata({
        [UPLOAD_MARKER_KEY]: MARKER,
        'other-tool': 'x',
        'x-cl-a': 'not ours: cl- not at the start',
        'a-cl-': 'ends with the prefix',
        'cl-b': '2',
      }),
    ).toEqual({ b: '2' });
    expect(fromS3Metadata({ [UPLOAD_MARKER_KEY]: MARKER })).toEqual({});
  });

  it('no S3 metadata is none of the caller\'s', () => {
    expect(fromS3Metadata(undefined)).toEqual({});
    expect(fromS3Metadata({})).toEqual({});
  });

  it('round-trips toS3Metadata', () => {
    const metadata = { a: '1', 'b-c': 'two words', ü: 'ÿ' };
    expect(fromS3Metadata({ ...toS3Metadata(metadata), [UPLOAD_MARKER_KEY]: MARKER })).toEqual(metadata);
  });

  it('a forged cl- key that breaks the metadata rules is refused by the check it feeds, not passed on', () => {
    // s3-storage.ts and header-rewrite.ts hand fromS3Metadata's answer to checkStoredMetadata.
    const forged = fromS3Metadata({ 'cl-': 'empty key', 'cl-b': '2' });
    expect(forged).toEqual({ '': 'empty key', b: '2' });
    expect(() => checkStoredMetadata('file.txt', forged)).toThrow(expect.objectContaining({ reason: 'STORAGE_UNAVAILABLE', details: { metadata: 'malformed' } }));
  });
});
