/**
 * The format seam with a second format whose header length varies (the
 * shape age will have): the registry finds an object's format and header
 * from its first bytes, reads on while the header goes on, and stops
 * claiming that sizes follow from stored sizes alone.
 */
import { describe, expect, it } from '@jest/globals';
import {
  ChunkedLayout,
  FormatRegistry,
  encryptBuffer,
  formatV1,
  generateMasterKey,
  keyFileEncryption,
  keyFileFormat,
  masterKeyCredentials,
  storedFormats,
  storedSizeFor,
  v1Encryption,
  type StoredFormat,
} from '../../src/crypto/index.js';
import { WRITTEN_FORMAT_VERSION } from '../../src/crypto/written-format.js';
import { catchReason, catchReasonAsync } from './helpers.js';
import { ApplicationErrors } from '../../protocol/errors.js';
import { LIST_HEADER_READ_CONCURRENCY, createListFilesHandler } from '../../src/methods/list-files.js';
import type { Storage } from '../../src/storage/storage.js';

/** "VARHDR\n", text lines, then "--- end\n": a header known only once its last line is read. */
const FAKE_MAGIC = Buffer.from('VARHDR\n');
const FAKE_END = Buffer.from('--- end\n');
const fakeChunks = new ChunkedLayout({ formatLabel: 'fake', headerLength: 0, chunkSize: 64, tagSize: 4, maxChunkCount: 2 ** 20 });

const fakeFormat: StoredFormat = {
  name: 'fake',
  formatVersion: 99,
  magicLength: FAKE_MAGIC.length,
  detect: (bytes) => FAKE_MAGIC.equals(bytes.subarray(0, FAKE_MAGIC.length)),
  fixedHeaderLength: undefined,
  headerReadHint: 16,
  maxHeaderLength: 4096,
  headerLength: (prefix) => {
    const end = Buffer.from(prefix).indexOf(FAKE_END);
    return end < 0 ? undefined : end + FAKE_END.length;
  },
  layoutFor: (headerLength) => fakeChunks.withHeaderLength(headerLength),
  describe: () => ({ formatVersion: 99, format: 'fake', keyId: 'f'.repeat(32) }),
  createSealer: () => {
    throw new Error('not used');
  },
  resumeSealer: () => {
    throw new Error('not used');
  },
  createOpener: () => {
    throw new Error('not used');
  },
};

function fakeObject(headerLines: number, plaintextSize: number): Buffer {
  const header = Buffer.concat([FAKE_MAGIC, Buffer.from('stanza line\n'.repeat(headerLines)), FAKE_END]);
  const layout = fakeChunks.withHeaderLength(header.length);
  return Buffer.concat([header, Buffer.alloc(layout.storedSizeFor(plaintextSize) - header.length, 7)]);
}

function readerOf(object: Buffer, reads: Array<[number, number]> = []) {
  return async (position: number, length: number): Promise<Uint8Array> => {
    reads.push([position, length]);
    return object.subarray(position, position + length);
  };
}

describe('FormatRegistry', () => {
  const both = new FormatRegistry([formatV1, fakeFormat]);
  const v1Only = new FormatRegistry([formatV1]);

  it('with v1 alone, sizes follow from stored sizes, as before the seam', () => {
    expect(v1Only.plaintextSizeFromStoredSize(storedSizeFor(12345))).toBe(12345);
    expect(() => v1Only.plaintextSizeFromStoredSize(5)).toThrow(expect.objectContaining({ reason: 'INTEGRITY' }));
  });

  it('this build registers v1 and age: stored sizes alone say nothing, a header is read', () => {
    expect(storedFormats.formats.map((format) => format.name)).toEqual(['v1', 'age']);
    expect(storedFormats.plaintextSizeFromStoredSize(storedSizeFor(12345))).toBeUndefined();
  });

  it('with a variable-header format registered, stored sizes alone say nothing', () => {
    expect(both.plaintextSizeFromStoredSize(storedSizeFor(12345))).toBeUndefined();
  });

  it('reads a v1 header in one read of its 96 bytes and opens it', async () => {
    const key = generateMasterKey();
    const object = encryptBuffer(key, Buffer.from('hello'));
    const reads: Array<[number, number]> = [];
    const found = await v1Only.readHeader(readerOf(object, reads));
    expect(reads).toEqual([[0, 96]]);
    // With age registered the first read asks for its larger hint, still one read.
    const withAge: Array<[number, number]> = [];
    await storedFormats.readHeader(readerOf(object, withAge));
    expect(withAge).toEqual([[0, storedFormats.headerReadHint]]);
    expect(found.format.name).toBe('v1');
    expect(found.layout.plaintextSizeFor(object.length)).toBe(5);
    const opener = found.format.createOpener(masterKeyCredentials(key), found.header);
    expect(opener.decryptChunk(0, object.subarray(96), true).toString()).toBe('hello');
    expect(storedFormats.createSealer(v1Encryption(key)).header).toHaveLength(96);
  });

  it('reads on until a variable header ends, and lays the chunks out after it', async () => {
    const object = fakeObject(40, 1000);
    const reads: Array<[number, number]> = [];
    const found = await both.readHeader(readerOf(object, reads));
    expect(found.format.name).toBe('fake');
    expect(found.header.length).toBe(FAKE_MAGIC.length + 40 * 12 + FAKE_END.length);
    expect(reads.length).toBeGreaterThan(1);
    expect(found.layout.plaintextSizeFor(object.length)).toBe(1000);
    expect(both.parse(found.header).layout.headerLength).toBe(found.header.length);
  });

  it('refuses an object that ends inside its header, or starts like no format', async () => {
    const cut = fakeObject(40, 10).subarray(0, 100);
    await expect(both.readHeader(readerOf(cut))).rejects.toMatchObject({ reason: 'INTEGRITY' });
    await expect(both.readHeader(readerOf(Buffer.alloc(200, 1)))).rejects.toMatchObject({ reason: 'INTEGRITY' });
    await expect(both.readHeader(readerOf(Buffer.alloc(10, 1)))).rejects.toMatchObject({ reason: 'INTEGRITY' });
  });

  it('getServerInfo reports the version of the format key files write', () => {
    expect(WRITTEN_FORMAT_VERSION).toBe(keyFileFormat.formatVersion);
    expect(keyFileFormat.name).toBe('age');
    const v1Key = generateMasterKey();
    expect(storedFormats.forSpec(keyFileEncryption({ format: 'v1', keyId: v1Key.keyId, key: v1Key }, { name: 'n' })).name).toBe('v1');
  });

  it('refuses credentials of another kind with KEY_MISMATCH', () => {
    const object = encryptBuffer(generateMasterKey(), Buffer.from('x'));
    expect(() => storedFormats.createOpener({ kind: 'age-identity' }, object.subarray(0, 96))).toThrow(
      expect.objectContaining({ reason: 'KEY_MISMATCH' }),
    );
  });
});

/** The refusal of a registry reading something that is not one of its formats, as a user reads it. */
const NOT_A_FORMAT = 'The stored file was altered or is incomplete: it does not start like a cloudlocker encrypted file; it cannot be trusted; restore it from another copy or upload it again.';

describe('FormatRegistry, decision by decision (mutation audit, branch mut-rest)', () => {
  const both = new FormatRegistry([formatV1, fakeFormat]);
  /** Formats with a fixed header, as v1 has: sizes follow from stored sizes alone. */
  const fixed = (name: string, headerLength: number): StoredFormat => ({
    ...fakeFormat,
    name,
    fixedHeaderLength: headerLength,
    layoutFor: (length) => fakeChunks.withHeaderLength(length),
  });

  it('needs a format, and reads first as many bytes as its greediest format wants', () => {
    expect(() => new FormatRegistry([])).toThrow(new RangeError('a format registry needs at least one format'));
    const longMagic: StoredFormat = { ...fakeFormat, name: 'long-magic', headerReadHint: 8, magicLength: 40 };
    expect(new FormatRegistry([fakeFormat]).headerReadHint).toBe(16);
    expect(new FormatRegistry([fakeFormat, longMagic]).headerReadHint).toBe(40);
    expect(new FormatRegistry([longMagic, formatV1]).headerReadHint).toBe(96);
  });

  it('chooses the writer by the spec\'s format name, and names a format it does not have', () => {
    expect(both.forSpec({ format: 'fake' })).toBe(fakeFormat);
    expect(both.forSpec({ format: 'v1' })).toBe(formatV1);
    expect(() => both.forSpec({ format: 'nope' })).toThrow(new TypeError('no stored format is registered as "nope"'));
  });

  it('detects a format only once its whole magic has been read', () => {
    const eager: StoredFormat = { ...fakeFormat, name: 'eager', magicLength: 4, detect: () => true };
    const registry = new FormatRegistry([eager]);
    expect(registry.detect(Buffer.from('abc'))).toBeUndefined();
    expect(registry.detect(Buffer.from('abcd'))).toBe(eager);
  });

  it('hands a header to the format it starts like, to describe it or resume its sealer', () => {
    const header = fakeObject(2, 0).subarray(0, FAKE_MAGIC.length + 2 * 12 + FAKE_END.length);
    const sealer = { header } as unknown as ReturnType<StoredFormat['resumeSealer']>;
    const seen: Uint8Array[] = [];
    const spy: StoredFormat = {
      ...fakeFormat,
      describe: (bytes) => {
        seen.push(bytes);
        return { formatVersion: 99, format: 'fake', keyId: 'd'.repeat(32) };
      },
      resumeSealer: (_spec, bytes) => {
        seen.push(bytes);
        return sealer;
      },
    };
    const registry = new FormatRegistry([formatV1, spy]);
    expect(registry.describe(header)).toEqual({ formatVersion: 99, format: 'fake', keyId: 'd'.repeat(32) });
    expect(registry.resumeSealer({ format: 'fake' }, header)).toBe(sealer);
    expect(seen).toEqual([header, header]);
    for (const action of [() => registry.describe(Buffer.alloc(200, 1)), () => registry.resumeSealer({ format: 'fake' }, Buffer.alloc(200, 1))]) {
      const error = catchReason(action, 'INTEGRITY');
      expect(error.message).toBe(NOT_A_FORMAT);
    }
  });

  it('parses only a whole header, cut to its exact length', () => {
    const object = fakeObject(3, 10);
    const headerLength = FAKE_MAGIC.length + 3 * 12 + FAKE_END.length;
    const parsed = both.parse(object);
    expect(parsed.format).toBe(fakeFormat);
    expect(parsed.header.equals(object.subarray(0, headerLength))).toBe(true);
    expect(parsed.layout.headerLength).toBe(headerLength);
    const cut = catchReason(() => both.parse(object.subarray(0, headerLength - 1)), 'INTEGRITY');
    expect(cut.message).toBe(ApplicationErrors.INTEGRITY.message);
  });

  it('sizes from stored sizes alone only when every format has a fixed header and they agree', () => {
    const size = fakeChunks.withHeaderLength(10).storedSizeFor(1000);
    expect(new FormatRegistry([fixed('a', 10), fixed('b', 10)]).plaintextSizeFromStoredSize(size)).toBe(1000);
    // A format whose header is known only once read, first or alone: nothing follows from the size.
    expect(new FormatRegistry([fakeFormat]).plaintextSizeFromStoredSize(size)).toBeUndefined();
    expect(new FormatRegistry([fakeFormat, fixed('a', 10)]).plaintextSizeFromStoredSize(size)).toBeUndefined();
    // Two fixed headers of different lengths: two possible answers, so none.
    expect(new FormatRegistry([fixed('a', 10), fixed('c', 12)]).plaintextSizeFromStoredSize(size)).toBeUndefined();
    // Possible for one format only (14 bytes: an empty file after a 10-byte header, shorter than any with 12): no answer either.
    expect(new FormatRegistry([fixed('a', 10), fixed('c', 12)]).plaintextSizeFromStoredSize(14)).toBeUndefined();
    expect(new FormatRegistry([fixed('c', 12), fixed('a', 10)]).plaintextSizeFromStoredSize(14)).toBeUndefined();
    // Impossible for every format: the first format's refusal.
    const error = catchReason(() => new FormatRegistry([fixed('a', 10), fixed('c', 12)]).plaintextSizeFromStoredSize(5), 'INTEGRITY');
    expect(error.message).toContain('it is 5 bytes long, shorter than the smallest possible encrypted file');
    expect(error.details).toEqual({ storedSize: 5 });
  });

  it('reads a long header in doubling reads, and no further than it goes', async () => {
    const object = fakeObject(40, 1000);
    const reads: Array<[number, number]> = [];
    const found = await both.readHeader(readerOf(object, reads));
    expect(found.header.length).toBe(495);
    expect(reads).toEqual([
      [0, 96],
      [0, 192],
      [0, 384],
      [0, 768],
    ]);
  });

  it('stops at the end of an object that ends inside its header, with one read past what it has', async () => {
    const reads: Array<[number, number]> = [];
    const error = await catchReasonAsync(() => both.readHeader(readerOf(fakeObject(40, 10).subarray(0, 100), reads)), 'INTEGRITY');
    expect(error.message).toBe(ApplicationErrors.INTEGRITY.message);
    expect(reads).toEqual([
      [0, 96],
      [0, 192],
    ]);
  });

  it('stops at the format\'s longest header rather than reading on (a hostile store sends an endless header)', async () => {
    const reads: Array<[number, number]> = [];
    const endless = fakeObject(400, 10); // 4 815-byte header, longer than the fake format's 4 096
    const error = await catchReasonAsync(() => both.readHeader(readerOf(endless, reads)), 'INTEGRITY');
    expect(error.message).toBe(ApplicationErrors.INTEGRITY.message);
    expect(reads.map(([, length]) => length)).toEqual([96, 192, 384, 768, 1536, 3072, 4096]);
  });

  it('says an object too short to hold a magic is incomplete, and a longer one starts like no format', async () => {
    const short = await catchReasonAsync(() => both.readHeader(readerOf(Buffer.alloc(10, 1))), 'INTEGRITY');
    expect(short.message).toBe(ApplicationErrors.INTEGRITY.message);
    const exactlyTheHint = await catchReasonAsync(() => both.readHeader(readerOf(Buffer.alloc(96, 1))), 'INTEGRITY');
    expect(exactlyTheHint.message).toBe(NOT_A_FORMAT);
    const long = await catchReasonAsync(() => both.readHeader(readerOf(Buffer.alloc(200, 1))), 'INTEGRITY');
    expect(long.message).toBe(NOT_A_FORMAT);
  });
});

describe('listFiles over the seam', () => {
  function storeOf(objects: Record<string, Buffer>): { storage: Storage; reads: string[] } {
    const reads: string[] = [];
    const storage = {
      list: async () => ({
        objects: Object.entries(objects).map(([name, bytes]) => ({ name, storedSize: bytes.length, modifiedAt: new Date(0) })),
        nextCursor: null,
      }),
      readRange: async (name: string, offset: number, length: number) => {
        reads.push(name);
        return (objects[name] as Buffer).subarray(offset, offset + length);
      },
    } as unknown as Storage;
    return { storage, reads };
  }

  it('sizes v1 objects from their stored size alone, without reading them', async () => {
    const { storage, reads } = storeOf({ a: encryptBuffer(generateMasterKey(), Buffer.alloc(70000)), bad: Buffer.alloc(50) });
    const result = await createListFilesHandler(storage, new FormatRegistry([formatV1]))({}, undefined as never);
    expect(result.files.map((file) => [file.name, file.size])).toEqual([
      ['a', 70000],
      ['bad', 0],
    ]);
    expect(reads).toEqual([]);
  });

  it(`reads headers at most ${LIST_HEADER_READ_CONCURRENCY} at a time over a page`, async () => {
    const objects = Object.fromEntries(
      Array.from({ length: 60 }, (_, i) => [`f${String(i).padStart(2, '0')}`, encryptBuffer(generateMasterKey(), Buffer.alloc(i))]),
    );
    let inFlight = 0;
    let most = 0;
    const storage = {
      list: async () => ({
        objects: Object.entries(objects).map(([name, bytes]) => ({ name, storedSize: bytes.length, modifiedAt: new Date(0) })),
        nextCursor: null,
      }),
      readRange: async (name: string, offset: number, length: number) => {
        inFlight += 1;
        most = Math.max(most, inFlight);
        await new Promise((resolve) => setTimeout(resolve, 2));
        inFlight -= 1;
        return (objects[name] as Buffer).subarray(offset, offset + length);
      },
    } as unknown as Storage;
    const result = await createListFilesHandler(storage)({}, undefined as never);
    expect(result.files.map((file) => file.size)).toEqual(Array.from({ length: 60 }, (_, i) => i));
    expect(most).toBeGreaterThan(1);
    expect(most).toBeLessThanOrEqual(LIST_HEADER_READ_CONCURRENCY);
  });

  it('reads the header of each object when a variable-header format is registered', async () => {
    const { storage, reads } = storeOf({
      v1: encryptBuffer(generateMasterKey(), Buffer.alloc(70000)),
      fake: fakeObject(3, 500),
      junk: Buffer.alloc(300, 9),
    });
    const handler = createListFilesHandler(storage, new FormatRegistry([formatV1, fakeFormat]));
    const result = await handler({}, undefined as never);
    expect(result.files.map((file) => [file.name, file.size])).toEqual([
      ['v1', 70000],
      ['fake', 500],
      ['junk', 0],
    ]);
    expect(new Set(reads)).toEqual(new Set(['v1', 'fake', 'junk']));
  });

  it('reads a header once while the object stays the same; a replaced object (new time or stored size) and a damaged one are read again', async () => {
    const objects: Record<string, { bytes: Buffer; modifiedAt: Date }> = {
      fake: { bytes: fakeObject(3, 500), modifiedAt: new Date(1000) },
      junk: { bytes: Buffer.alloc(300, 9), modifiedAt: new Date(1000) },
    };
    const reads: string[] = [];
    const storage = {
      list: async () => ({
        objects: Object.entries(objects).map(([name, { bytes, modifiedAt }]) => ({ name, storedSize: bytes.length, modifiedAt })),
        nextCursor: null,
      }),
      readRange: async (name: string, offset: number, length: number) => {
        reads.push(name);
        return objects[name]!.bytes.subarray(offset, offset + length);
      },
    } as unknown as Storage;
    const handler = createListFilesHandler(storage, new FormatRegistry([formatV1, fakeFormat]));
    const sizes = async () => (await handler({}, undefined as never)).files.map((file) => [file.name, file.size]);
    expect(await sizes()).toEqual([['fake', 500], ['junk', 0]]);
    const firstReads = reads.filter((name) => name === 'fake').length;
    expect(await sizes()).toEqual([['fake', 500], ['junk', 0]]);
    expect(reads.filter((name) => name === 'fake').length).toBe(firstReads);
    expect(reads.filter((name) => name === 'junk').length).toBeGreaterThan(1);
    // Replaced by an object of the same stored size (a longer header, less plaintext) at a new time.
    const storedSize = objects['fake'].bytes.length;
    const lines = Array.from({ length: 60 }, (_, i) => i + 4).find((n) => Array.from({ length: 500 }, (_, p) => p).some((p) => fakeObject(n, p).length === storedSize))!;
    const plaintext = Array.from({ length: 500 }, (_, p) => p).find((p) => fakeObject(lines, p).length === storedSize)!;
    expect(plaintext).toBeLessThan(500);
    objects['fake'] = { bytes: fakeObject(lines, plaintext), modifiedAt: new Date(2000) };
    expect(await sizes()).toEqual([['fake', plaintext], ['junk', 0]]);
    // A different stored size alone is enough too.
    objects['fake'] = { bytes: fakeObject(5, 200), modifiedAt: new Date(2000) };
    expect(await sizes()).toEqual([['fake', 200], ['junk', 0]]);
  });
});

describe('format v1 behind the seam', () => {
  const key = generateMasterKey();
  const stored = encryptBuffer(key, Buffer.from('hello'));
  const header = stored.subarray(0, 96);

  it('claims exactly the objects that start with its magic, even when only the magic has been read', () => {
    expect(formatV1.magicLength).toBe(8);
    expect(formatV1.detect(header.subarray(0, 8))).toBe(true);
    expect(formatV1.detect(stored)).toBe(true);
    expect(formatV1.detect(header.subarray(0, 7))).toBe(false);
    expect(formatV1.detect(Buffer.from('age-encryption.org/v1\n'))).toBe(false);
  });

  it('its header is 96 bytes: no length before 96 bytes are read, no layout for another length', () => {
    expect(formatV1.headerLength(header.subarray(0, 95))).toBeUndefined();
    expect(formatV1.headerLength(header)).toBe(96);
    expect(formatV1.headerLength(stored)).toBe(96);
    expect(formatV1.layoutFor(96).plaintextSizeFor(stored.length)).toBe(5);
    expect(() => formatV1.layoutFor(95)).toThrow(new RangeError('a v1 header is 96 bytes, not 95'));
    expect(() => formatV1.layoutFor(200)).toThrow(new RangeError('a v1 header is 96 bytes, not 200'));
  });

  it('describes a header without a key: format, version and the key id', () => {
    expect(formatV1.describe(header)).toEqual({ format: 'v1', formatVersion: 1, keyId: key.keyId });
  });

  it('seals only with a v1 encryption spec holding a master key', () => {
    expect(formatV1.createSealer(v1Encryption(key)).header.length).toBe(96);
    expect(formatV1.resumeSealer(v1Encryption(key), header).header.equals(header)).toBe(true);
    const message = 'format v1 seals with a v1 encryption spec (v1Encryption(masterKey))';
    for (const spec of [{ format: 'age', key }, { format: 'v1', key: { keyId: key.keyId } }, { format: 'v1' }]) {
      expect(() => formatV1.createSealer(spec)).toThrow(new TypeError(message));
      expect(() => formatV1.resumeSealer(spec, header)).toThrow(new TypeError(message));
    }
  });

  it('opens only with master-key credentials; anything else is KEY_MISMATCH saying a key file is needed', () => {
    expect(formatV1.createOpener(masterKeyCredentials(key), header).decryptChunk(0, stored.subarray(96), true)).toEqual(Buffer.from('hello'));
    for (const credentials of [{ kind: 'age-identity', key }, { kind: 'master-key', key: { keyId: key.keyId } }, { kind: 'master-key' }]) {
      const error = catchReason(() => formatV1.createOpener(credentials, header), 'KEY_MISMATCH');
      expect(error.message).toBe('This file is in format v1, which opens only with a cloudlocker key file.');
    }
  });
});
