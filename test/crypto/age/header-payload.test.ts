/**
 * The age header parser/encoder and the STREAM payload, function by function:
 * what is accepted, what is refused and how the refusal reads, rebuilt where
 * possible from Node's primitives (HKDF, HMAC, ChaCha20-Poly1305) rather than
 * from our own code. Written against survivors of the crypto-age-core mutation
 * run (docs/testing.md); fast, so that module can run it for every mutant.
 */
import { createCipheriv, createHmac, hkdfSync } from 'node:crypto';
import { describe, expect, test } from '@jest/globals';
import { AgeError } from '../../../src/crypto/age/errors.js';
import {
  AGE_MAGIC,
  MAX_HEADER_SIZE,
  MAX_STANZAS,
  decodeBase64NoPad,
  encodeBase64NoPad,
  encodeHeader,
  encodeHeaderWithoutMac,
  headerMac,
  looksLikeAge,
  parseHeader,
  parseHeaderPrefix,
} from '../../../src/crypto/age/header.js';
import {
  AGE_CHUNK_SIZE,
  AGE_STORED_CHUNK_SIZE,
  AgePayloadOpener,
  AgePayloadSealer,
  ageChunkCountFor,
  agePlaintextSizeFor,
  ageStoredChunkLength,
  ageStoredChunkOffset,
  ageStoredSizeFor,
} from '../../../src/crypto/age/payload.js';

const FILE_KEY = Buffer.from('000102030405060708090a0b0c0d0e0f', 'hex');
const NONCE = Buffer.from('f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff', 'hex');

/** The refusal `run` throws: an AgeError with this reason; returns it. */
function ageFailure(run: () => unknown, reason: string): AgeError {
  let caught: unknown;
  try {
    run();
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(AgeError);
  expect((caught as AgeError).ageReason).toBe(reason);
  return caught as AgeError;
}

function headerInvalid(text: string | Buffer): string {
  const bytes = typeof text === 'string' ? Buffer.from(text, 'latin1') : text;
  return ageFailure(() => parseHeaderPrefix(bytes), 'HEADER_INVALID').message;
}

const MAC = encodeBase64NoPad(Buffer.alloc(32, 7));

describe('canonical unpadded base64', () => {
  test('decodes only the one canonical spelling of each byte string', () => {
    expect(decodeBase64NoPad('')).toEqual(Buffer.alloc(0));
    expect(decodeBase64NoPad('AA')).toEqual(Buffer.from([0]));
    expect(decodeBase64NoPad('AAE')).toEqual(Buffer.from([0, 1]));
    expect(decodeBase64NoPad('AAEC')).toEqual(Buffer.from([0, 1, 2]));
    expect(decodeBase64NoPad('+/+/')).toEqual(Buffer.from('fbffbf', 'hex'));
    // Padding, the URL alphabet, whitespace, a dangling character, unused bits set: all refused.
    for (const text of ['AA==', 'AAE=', '-_', 'AA AA', 'A', 'AAAAA', 'AB', 'AAF', ' AA', 'AA\n']) {
      expect(decodeBase64NoPad(text)).toBeUndefined();
    }
  });

  test('encodes exactly the bytes of the view it is given, without padding', () => {
    const backing = Buffer.from('xxhelloxx');
    expect(encodeBase64NoPad(backing.subarray(2, 7))).toBe('aGVsbG8');
    expect(encodeBase64NoPad(new Uint8Array(0))).toBe('');
  });
});

describe('encoding a header', () => {
  test('stanza bodies wrap at 64 columns, and a body of a multiple of 48 bytes ends with an empty line', () => {
    const text = (length: number) =>
      encodeHeaderWithoutMac([{ args: ['t', 'a1'], body: Buffer.alloc(length, 0xff) }]).toString('latin1');
    expect(text(0)).toBe('age-encryption.org/v1\n-> t a1\n\n---');
    expect(text(47)).toBe(`age-encryption.org/v1\n-> t a1\n${'/'.repeat(62)}8\n---`);
    expect(text(48)).toBe(`age-encryption.org/v1\n-> t a1\n${'/'.repeat(64)}\n\n---`);
    expect(text(49)).toBe(`age-encryption.org/v1\n-> t a1\n${'/'.repeat(64)}\n/w\n---`);
    expect(text(96)).toBe(`age-encryption.org/v1\n-> t a1\n${'/'.repeat(64)}\n${'/'.repeat(64)}\n\n---`);
    expect(encodeHeaderWithoutMac([]).toString('latin1')).toBe('age-encryption.org/v1\n---');
  });

  test('stanza arguments must be non-empty runs of printable ASCII', () => {
    const encode = (args: string[]) => () => encodeHeaderWithoutMac([{ args, body: Buffer.alloc(1) }]);
    expect(encode([])).toThrow(new RangeError('a stanza needs at least one argument'));
    for (const bad of [[''], ['a', ''], ['a b'], ['a\x7f'], ['\x20'], ['é']]) {
      expect(encode(bad)).toThrow(new RangeError('stanza arguments are non-empty runs of VCHARs'));
    }
    expect(encode(['!', '~', 'Zz09+/='])).not.toThrow();
  });

  test('the MAC is HMAC-SHA-256 under HKDF-SHA-256(file key, empty salt, "header") over the header through "---"', () => {
    const stanzas = [{ args: ['X25519', 'abc'], body: Buffer.alloc(32, 3) }];
    const macInput = encodeHeaderWithoutMac(stanzas);
    const key = Buffer.from(hkdfSync('sha256', FILE_KEY, Buffer.alloc(0), 'header', 32));
    const expected = createHmac('sha256', key).update(macInput).digest();
    expect(headerMac(FILE_KEY, macInput)).toEqual(expected);
    const header = encodeHeader(stanzas, FILE_KEY);
    expect(header.toString('latin1')).toBe(`${macInput.toString('latin1')} ${encodeBase64NoPad(expected)}\n`);
  });
});

describe('parsing a header', () => {
  const stanzas = [
    { args: ['X25519', 'abc'], body: Buffer.alloc(32, 3) },
    { args: ['other', 'x', 'y'], body: Buffer.alloc(48, 4) },
  ];
  const header = encodeHeader(stanzas, FILE_KEY);

  test('a whole header, followed by payload bytes: its stanzas, MAC, the MACed bytes and its length', () => {
    const parsed = parseHeaderPrefix(Buffer.concat([header, Buffer.from('payload\n-> bytes\n')]));
    expect(parsed).toBeDefined();
    expect(parsed?.stanzas).toEqual(stanzas);
    expect(parsed?.length).toBe(header.length);
    expect(parsed?.macInput).toEqual(encodeHeaderWithoutMac(stanzas));
    expect(parsed?.mac).toEqual(headerMac(FILE_KEY, encodeHeaderWithoutMac(stanzas)));
    // A view into a larger buffer is read from its own start.
    const backing = Buffer.concat([Buffer.from('junk'), header]);
    expect(parseHeaderPrefix(backing.subarray(4))?.length).toBe(header.length);
  });

  test('every cut inside the header asks for more bytes; parseHeader refuses it as ending inside the header', () => {
    for (let cut = 0; cut < header.length; cut++) {
      expect(parseHeaderPrefix(header.subarray(0, cut))).toBeUndefined();
    }
    expect(ageFailure(() => parseHeader(header.subarray(0, header.length - 1)), 'HEADER_INVALID').message).toBe(
      'The stored file is not a valid age file or was altered: it ends inside its header',
    );
    expect(parseHeader(header).length).toBe(header.length);
  });

  test('another first line is refused, even before it is complete', () => {
    expect(headerInvalid('agx')).toBe('The stored file is not a valid age file or was altered: it does not start with "age-encryption.org/v1"');
    expect(headerInvalid('age-encryption.org/v2\n')).toMatch(/it does not start with "age-encryption.org\/v1"$/);
    expect(headerInvalid('age-encryption.org/v1 \n')).toMatch(/it does not start with "age-encryption.org\/v1"$/);
    expect(headerInvalid('age-encryption.org/v10\n')).toMatch(/it does not start with "age-encryption.org\/v1"$/);
  });

  test('bytes that are not printable ASCII are refused (CR, controls, DEL, 8-bit)', () => {
    for (const byte of [0x00, 0x09, 0x0d, 0x1f, 0x7f, 0x80, 0xff]) {
      const bytes = Buffer.from(`age-encryption.org/v1\n-> a${String.fromCharCode(byte)}\n\n--- ${MAC}\n`, 'latin1');
      expect(headerInvalid(bytes)).toMatch(/its header holds a byte that is not printable ASCII \(CR, control or 8-bit\)$/);
    }
    // The printable edges are fine.
    expect(parseHeaderPrefix(Buffer.from(`age-encryption.org/v1\n-> ! ~\n\n--- ${MAC}\n`, 'latin1'))?.stanzas).toEqual([
      { args: ['!', '~'], body: Buffer.alloc(0) },
    ]);
  });

  test('stanza lines: one or more non-empty arguments separated by single spaces', () => {
    for (const line of ['-> ', '-> a ', '->  a', '-> a  b']) {
      expect(headerInvalid(`age-encryption.org/v1\n${line}\n\n--- ${MAC}\n`)).toMatch(/a stanza has an empty argument or no argument$/);
    }
    expect(headerInvalid(`age-encryption.org/v1\n->a\n\n--- ${MAC}\n`)).toMatch(
      /a header line is neither a stanza \("-> "\) nor the MAC line \("--- "\)$/,
    );
  });

  test('stanza bodies: at most 64 columns a line, canonical, ended by a line shorter than 64', () => {
    const full = 'A'.repeat(64);
    expect(headerInvalid(`age-encryption.org/v1\n-> a\n${full}A\n--- ${MAC}\n`)).toMatch(/a stanza body line is longer than 64 columns$/);
    expect(headerInvalid(`age-encryption.org/v1\n-> a\nAA==\n--- ${MAC}\n`)).toMatch(/a stanza body is not canonical unpadded base64$/);
    expect(headerInvalid(`age-encryption.org/v1\n-> a\nAB\n--- ${MAC}\n`)).toMatch(/a stanza body is not canonical unpadded base64$/);
    // A full line is followed by more body: here the MAC line, which is not base64.
    expect(headerInvalid(`age-encryption.org/v1\n-> a\n${full}\n--- ${MAC}\n`)).toMatch(/a stanza body is not canonical unpadded base64$/);
    const parsed = parseHeaderPrefix(Buffer.from(`age-encryption.org/v1\n-> a\n${full}\n${full}\nAA\n--- ${MAC}\n`, 'latin1'));
    expect(parsed?.stanzas[0].body.length).toBe(48 + 48 + 1);
  });

  test('the MAC line: "--- " and exactly 32 bytes of canonical base64', () => {
    for (const mac of [encodeBase64NoPad(Buffer.alloc(31)), encodeBase64NoPad(Buffer.alloc(33)), `${MAC}=`, '', `${MAC.slice(0, -1)}B`]) {
      expect(headerInvalid(`age-encryption.org/v1\n-> a\n\n--- ${mac}\n`)).toMatch(/its MAC line is malformed$/);
    }
    expect(headerInvalid(`age-encryption.org/v1\n-> a\n\n---${MAC}\n`)).toMatch(/a header line is neither a stanza/);
    expect(headerInvalid(`age-encryption.org/v1\n-> a\n\n---\n`)).toMatch(/a header line is neither a stanza/);
    const parsed = parseHeaderPrefix(Buffer.from(`age-encryption.org/v1\n--- ${MAC}\n`, 'latin1'));
    expect(parsed?.stanzas).toEqual([]);
    expect(parsed?.macInput.toString('latin1')).toBe('age-encryption.org/v1\n---');
  });

  test(`at most ${MAX_STANZAS} stanzas`, () => {
    const stanzaLines = (count: number) => '-> a\n\n'.repeat(count);
    expect(parseHeaderPrefix(Buffer.from(`age-encryption.org/v1\n${stanzaLines(MAX_STANZAS)}--- ${MAC}\n`))?.stanzas.length).toBe(MAX_STANZAS);
    expect(headerInvalid(`age-encryption.org/v1\n${stanzaLines(MAX_STANZAS + 1)}--- ${MAC}\n`)).toMatch(
      /its header holds more than 128 stanzas$/,
    );
  });

  test(`at most ${MAX_HEADER_SIZE} bytes, whether the long line is complete or not`, () => {
    const start = 'age-encryption.org/v1\n-> a\n';
    const tooLong = /its header is longer than 262144 bytes$/;
    // No newline yet: more bytes are wanted while the header could still fit.
    const open = (total: number) => Buffer.from(start + 'A'.repeat(total - start.length), 'latin1');
    expect(parseHeaderPrefix(open(MAX_HEADER_SIZE))).toBeUndefined();
    expect(headerInvalid(open(MAX_HEADER_SIZE + 1))).toMatch(tooLong);
    // One unfinished line longer than the limit on its own (counted from where it starts).
    const longLine = Buffer.concat([Buffer.from(start), Buffer.alloc(MAX_HEADER_SIZE + 1, 0x41)]);
    expect(headerInvalid(longLine)).toMatch(tooLong);
    // A line whose newline lies past the limit.
    const lineTo = (end: number) => Buffer.from(`${start}${'A'.repeat(end - start.length - 1)}\n`, 'latin1');
    expect(headerInvalid(lineTo(MAX_HEADER_SIZE + 1))).toMatch(tooLong);
    // Ending exactly at the limit is not refused for its size (what fails is this body line's 64-column limit).
    expect(headerInvalid(lineTo(MAX_HEADER_SIZE))).toMatch(/a stanza body line is longer than 64 columns$/);
  });

  test('looksLikeAge: the version line, or as much of it as there is', () => {
    expect(looksLikeAge(new Uint8Array(0))).toBe(false);
    expect(looksLikeAge(Buffer.from('a'))).toBe(true);
    expect(looksLikeAge(Buffer.from('age-encryption.org/v'))).toBe(true);
    expect(looksLikeAge(AGE_MAGIC)).toBe(true);
    expect(looksLikeAge(header)).toBe(true);
    expect(looksLikeAge(Buffer.from('age-encryption.org/v1 '))).toBe(false);
    expect(looksLikeAge(Buffer.from('agf'))).toBe(false);
    expect(looksLikeAge(Buffer.from('CLOCKER1'))).toBe(false);
    const backing = Buffer.concat([Buffer.from('xx'), AGE_MAGIC]);
    expect(looksLikeAge(backing.subarray(2))).toBe(true);
    expect(looksLikeAge(backing.subarray(1))).toBe(false);
  });
});

describe('payload sizes', () => {
  test('chunk counts, stored sizes, offsets and lengths at the chunk boundaries', () => {
    expect([0, 1, AGE_CHUNK_SIZE, AGE_CHUNK_SIZE + 1, 3 * AGE_CHUNK_SIZE].map(ageChunkCountFor)).toEqual([1, 1, 1, 2, 3]);
    expect(ageStoredSizeFor(100, 0)).toBe(116);
    expect(ageStoredSizeFor(100, AGE_CHUNK_SIZE)).toBe(100 + AGE_CHUNK_SIZE + 16);
    expect(ageStoredSizeFor(100, AGE_CHUNK_SIZE + 1)).toBe(100 + AGE_CHUNK_SIZE + 1 + 32);
    expect(ageStoredChunkOffset(100, 0)).toBe(100);
    expect(ageStoredChunkOffset(100, 2)).toBe(100 + 2 * AGE_STORED_CHUNK_SIZE);
    expect(ageStoredChunkLength(0, 0)).toBe(16);
    expect(ageStoredChunkLength(AGE_CHUNK_SIZE, 0)).toBe(AGE_STORED_CHUNK_SIZE);
    expect(ageStoredChunkLength(AGE_CHUNK_SIZE + 1, 0)).toBe(AGE_STORED_CHUNK_SIZE);
    expect(ageStoredChunkLength(AGE_CHUNK_SIZE + 1, 1)).toBe(17);
    expect(() => ageStoredChunkLength(AGE_CHUNK_SIZE + 1, 2)).toThrow(new RangeError("chunk 2 is outside the file's 2 chunks"));
    expect(() => ageStoredChunkLength(5, -1)).toThrow(new RangeError("chunk -1 is outside the file's 1 chunks"));
  });

  test('the plaintext size of a stored size, and the stored sizes no file can have', () => {
    expect(agePlaintextSizeFor(100, 116)).toBe(0);
    expect(agePlaintextSizeFor(100, 117)).toBe(1);
    expect(agePlaintextSizeFor(100, 100 + AGE_STORED_CHUNK_SIZE)).toBe(AGE_CHUNK_SIZE);
    expect(agePlaintextSizeFor(100, 100 + AGE_STORED_CHUNK_SIZE + 17)).toBe(AGE_CHUNK_SIZE + 1);
    expect(agePlaintextSizeFor(100, 100 + 2 * AGE_STORED_CHUNK_SIZE)).toBe(2 * AGE_CHUNK_SIZE);
    const invalid = (stored: number) => ageFailure(() => agePlaintextSizeFor(100, stored), 'PAYLOAD_INVALID').message;
    expect(invalid(115)).toBe(
      'The stored file was altered or is incomplete: it is 115 bytes long, too short for its header and one chunk',
    );
    expect(invalid(50)).toMatch(/too short for its header and one chunk$/);
    expect(invalid(Number.MAX_SAFE_INTEGER + 200)).toMatch(/too short for its header and one chunk$/);
    // An empty last chunk after a full one, and a last chunk cut inside its tag.
    for (const stored of [100 + AGE_STORED_CHUNK_SIZE + 16, 100 + AGE_STORED_CHUNK_SIZE + 15, 100 + AGE_STORED_CHUNK_SIZE + 1]) {
      expect(invalid(stored)).toBe(
        `The stored file was altered or is incomplete: its length (${stored} bytes) is impossible: it was cut short or has bytes added`,
      );
    }
  });
});

describe('payload chunks', () => {
  const payloadKey = Buffer.from(hkdfSync('sha256', FILE_KEY, NONCE, 'payload', 32));
  /** ChaCha20-Poly1305 by Node directly, with the nonce spelled out: 11-byte big-endian index, then the final flag. */
  const referenceSeal = (index: number, plaintext: Buffer, isFinal: boolean) => {
    const nonce = Buffer.alloc(12);
    nonce.writeUInt32BE(index, 7);
    nonce[11] = isFinal ? 1 : 0;
    const cipher = createCipheriv('chacha20-poly1305', payloadKey, nonce, { authTagLength: 16 });
    return Buffer.concat([cipher.update(plaintext), cipher.final(), cipher.getAuthTag()]);
  };

  test('chunks are sealed under HKDF(file key, payload nonce, "payload") with the STREAM nonce', () => {
    const sealer = new AgePayloadSealer(FILE_KEY, NONCE);
    const full = Buffer.alloc(AGE_CHUNK_SIZE, 0x61);
    expect(sealer.encryptChunk(0, full, false)).toEqual(referenceSeal(0, full, false));
    // (A sealer's re-seal guard keeps a few bytes per index up to the highest: small indices here.)
    expect(sealer.encryptChunk(0x0102, Buffer.from('end'), true)).toEqual(referenceSeal(0x0102, Buffer.from('end'), true));
    // The same index sealed again with another final flag is another nonce (a fresh sealer: the guard is per sealer).
    const other = new AgePayloadSealer(FILE_KEY, NONCE);
    expect(other.encryptChunk(0, Buffer.from('x'), true)).toEqual(referenceSeal(0, Buffer.from('x'), true));
    const opener = new AgePayloadOpener(FILE_KEY, NONCE);
    expect(opener.decryptChunk(0x01020304, referenceSeal(0x01020304, Buffer.from('end'), true), true)).toEqual(Buffer.from('end'));
    expect(opener.decryptChunk(5, referenceSeal(5, full, false), false)).toEqual(full);
    // Every byte of a 32-bit index lands in the nonce, big-endian, up to the last index.
    expect(opener.decryptChunk(2 ** 32 - 1, referenceSeal(2 ** 32 - 1, Buffer.from('last'), true), true)).toEqual(Buffer.from('last'));
    expect(opener.decryptChunk(0x04030201, referenceSeal(0x04030201, full, false), false)).toEqual(full);
  });

  test('a sealer given an output buffer seals into it at the offset and returns that view', () => {
    const sealer = new AgePayloadSealer(FILE_KEY, NONCE);
    const out = Buffer.alloc(40, 0xee);
    const sealed = sealer.encryptChunk(0, Buffer.from('hello'), true, out, 7);
    expect(sealed.buffer).toBe(out.buffer);
    expect(out.subarray(7, 7 + 21)).toEqual(referenceSeal(0, Buffer.from('hello'), true));
    expect(out.subarray(0, 7).every((byte) => byte === 0xee) && out.subarray(28).every((byte) => byte === 0xee)).toBe(true);
  });

  test('indices outside 0..2^32-1 are refused, saying the range', () => {
    const sealer = new AgePayloadSealer(FILE_KEY, NONCE);
    const opener = new AgePayloadOpener(FILE_KEY, NONCE);
    for (const index of [-1, 2 ** 32, 1.5, Number.NaN]) {
      const message = `chunk index must be an integer from 0 to 4294967295, got ${index}`;
      expect(() => sealer.encryptChunk(index, Buffer.from('a'), true)).toThrow(new RangeError(message));
      expect(() => opener.decryptChunk(index, Buffer.alloc(17), true)).toThrow(new RangeError(message));
    }
  });

  test('plaintext lengths the format does not allow are refused', () => {
    const sealer = new AgePayloadSealer(FILE_KEY, NONCE);
    const refused = (index: number, length: number, isFinal: boolean, text: string) =>
      expect(() => sealer.encryptChunk(index, Buffer.alloc(length), isFinal)).toThrow(new RangeError(`chunk ${index} (${text}) cannot hold ${length} bytes`));
    refused(0, AGE_CHUNK_SIZE - 1, false, 'not final');
    refused(0, AGE_CHUNK_SIZE + 1, false, 'not final');
    refused(3, AGE_CHUNK_SIZE + 1, true, 'final');
    refused(1, 0, true, 'final');
    expect(sealer.encryptChunk(0, Buffer.alloc(0), true)).toEqual(referenceSeal(0, Buffer.alloc(0), true));
    expect(sealer.encryptChunk(2, Buffer.alloc(AGE_CHUNK_SIZE), true).length).toBe(AGE_STORED_CHUNK_SIZE);
    expect(sealer.encryptChunk(4, Buffer.alloc(1), true).length).toBe(17);
  });

  test('impossible stored lengths and failed chunks are PAYLOAD_INVALID naming the chunk, and write nothing', () => {
    const opener = new AgePayloadOpener(FILE_KEY, NONCE);
    const full = referenceSeal(0, Buffer.alloc(AGE_CHUNK_SIZE, 1), false);
    const cases: Array<[number, Buffer, boolean, string]> = [
      [0, full.subarray(0, AGE_STORED_CHUNK_SIZE - 1), false, 'chunk 0 has an impossible length of 65551 bytes'],
      [0, Buffer.concat([full, Buffer.alloc(1)]), false, 'chunk 0 has an impossible length of 65553 bytes'],
      [2, Buffer.concat([full, Buffer.alloc(1)]), true, 'chunk 2 has an impossible length of 65553 bytes'],
      [2, full.subarray(0, 16), true, 'chunk 2 has an impossible length of 16 bytes'],
      [0, full.subarray(0, 15), true, 'chunk 0 has an impossible length of 15 bytes'],
      [0, full, true, 'chunk 0 failed authentication as the final chunk (the file may be cut short or have bytes added)'],
      [1, full, false, 'chunk 1 failed authentication'],
    ];
    for (const [index, stored, isFinal, detail] of cases) {
      const out = Buffer.alloc(AGE_STORED_CHUNK_SIZE, 0x5a);
      const error = ageFailure(() => opener.decryptChunk(index, stored, isFinal, out), 'PAYLOAD_INVALID');
      expect(error.message).toBe(`The stored file was altered or is incomplete: ${detail}`);
      expect(error.details).toEqual({ chunkIndex: index, ageReason: 'PAYLOAD_INVALID' });
      expect(out.every((byte) => byte === 0x5a)).toBe(true);
    }
    // The edges that are possible: an empty only chunk, a full final chunk.
    expect(opener.decryptChunk(0, referenceSeal(0, Buffer.alloc(0), true), true)).toEqual(Buffer.alloc(0));
    const fullFinal = referenceSeal(7, Buffer.alloc(AGE_CHUNK_SIZE, 2), true);
    expect(opener.decryptChunk(7, fullFinal, true)).toEqual(Buffer.alloc(AGE_CHUNK_SIZE, 2));
  });

  test("an output buffer too small for an intact chunk is the caller's mistake (RangeError), not a damaged file", () => {
    const opener = new AgePayloadOpener(FILE_KEY, NONCE);
    const stored = referenceSeal(0, Buffer.from('hello'), true);
    let caught: unknown;
    try {
      opener.decryptChunk(0, stored, true, Buffer.alloc(4));
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(RangeError);
    expect(caught).not.toBeInstanceOf(AgeError);
    const out = Buffer.alloc(8, 0);
    expect(opener.decryptChunk(0, stored, true, out, 3)).toEqual(Buffer.from('hello'));
    expect(out.subarray(3)).toEqual(Buffer.from('hello'));
  });
});
