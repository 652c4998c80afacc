/**
 * The age header (C2SP age.md, "Header"), written and parsed strictly:
 *
 *   age-encryption.org/v1\n
 *   -> TYPE ARG...\n          one line per stanza: "-> ", then arguments of
 *   BODY LINES\n              VCHARs separated by one space; then the body in
 *   ...                       canonical unpadded base64, 64 columns a line,
 *                             the last line shorter than 64 (maybe empty)
 *   --- MAC\n                 HMAC-SHA-256 in canonical unpadded base64
 *
 * Anything else (CR, padding, non-canonical base64, empty arguments, another
 * version line) is refused as HEADER_INVALID before any key is tried.
 */
import { AgeError } from './errors.js';
import { hkdf, hmacSha256 } from './primitives.js';

export const AGE_VERSION_LINE = 'age-encryption.org/v1';
export const AGE_MAGIC = Buffer.from(`${AGE_VERSION_LINE}\n`, 'latin1');
/** Largest header this reader accepts (a hybrid stanza is about 1.6 KB). */
export const MAX_HEADER_SIZE = 256 * 1024;
/** Most stanzas this reader accepts in one header. */
export const MAX_STANZAS = 128;
export const HEADER_MAC_SIZE = 32;

const BODY_COLUMNS = 64;
const BODY_LINE_BYTES = 48;
const ARGUMENT = /^[\x21-\x7e]+$/;
const BASE64_NO_PAD = /^[A-Za-z0-9+/]*$/;

export interface Stanza {
  readonly args: readonly string[];
  readonly body: Buffer;
}

export interface ParsedHeader {
  readonly stanzas: readonly Stanza[];
  readonly mac: Buffer;
  /** The bytes the MAC covers: from the version line through "---". */
  readonly macInput: Buffer;
  /** Length of the whole header, through the newline after the MAC. */
  readonly length: number;
}

function invalid(detail: string): AgeError {
  return new AgeError('HEADER_INVALID', detail);
}

/** Canonical unpadded base64 of `text`, or undefined. */
export function decodeBase64NoPad(text: string): Buffer | undefined {
  if (!BASE64_NO_PAD.test(text) || text.length % 4 === 1) return undefined;
  const bytes = Buffer.from(text, 'base64');
  return bytes.toString('base64').replace(/=+$/, '') === text ? bytes : undefined;
}

export function encodeBase64NoPad(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64').replace(/=+$/, '');
}

function checkArguments(args: readonly string[]): void {
  if (args.length === 0) throw new RangeError('a stanza needs at least one argument');
  for (const arg of args) if (!ARGUMENT.test(arg)) throw new RangeError('stanza arguments are non-empty runs of VCHARs');
}

/** One stanza as it stands in a header: its "-> " line and body lines, each ending in a newline. */
export function encodeStanza(stanza: Stanza): Buffer {
  checkArguments(stanza.args);
  const lines: string[] = [`-> ${stanza.args.join(' ')}`];
  const body = encodeBase64NoPad(stanza.body);
  for (let i = 0; i < body.length; i += BODY_COLUMNS) lines.push(body.slice(i, i + BODY_COLUMNS));
  if (stanza.body.length % BODY_LINE_BYTES === 0) lines.push('');
  return Buffer.from(`${lines.join('\n')}\n`, 'latin1');
}

/** The header through "---" (what the MAC covers). */
export function encodeHeaderWithoutMac(stanzas: readonly Stanza[]): Buffer {
  return Buffer.concat([Buffer.from(`${AGE_VERSION_LINE}\n`, 'latin1'), ...stanzas.map(encodeStanza), Buffer.from('---', 'latin1')]);
}

/** HMAC key of the header: HKDF-SHA-256(ikm = file key, salt = empty, info = "header"). */
export function headerMac(fileKey: Uint8Array, macInput: Uint8Array): Buffer {
  const key = hkdf(fileKey, Buffer.alloc(0), 'header');
  const mac = hmacSha256(key, macInput);
  key.fill(0);
  return mac;
}

export function encodeHeader(stanzas: readonly Stanza[], fileKey: Uint8Array): Buffer {
  const macInput = encodeHeaderWithoutMac(stanzas);
  const mac = headerMac(fileKey, macInput);
  return Buffer.concat([macInput, Buffer.from(` ${encodeBase64NoPad(mac)}\n`, 'latin1')]);
}

/**
 * Parses a header at the start of `bytes`. Returns undefined when `bytes`
 * ends before the header does (read more and call again); throws
 * HEADER_INVALID when what is there cannot be the start of a valid header.
 */
export function parseHeaderPrefix(bytes: Uint8Array): ParsedHeader | undefined {
  const data = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let position = 0;
  /** The next line without its LF, or undefined when no LF follows yet. */
  const nextLine = (): string | undefined => {
    const end = data.indexOf(0x0a, position);
    if (end < 0) {
      if (data.length - position > MAX_HEADER_SIZE || data.length > MAX_HEADER_SIZE) {
        throw invalid(`its header is longer than ${MAX_HEADER_SIZE} bytes`);
      }
      return undefined;
    }
    if (end + 1 > MAX_HEADER_SIZE) throw invalid(`its header is longer than ${MAX_HEADER_SIZE} bytes`);
    const line = data.subarray(position, end);
    for (const byte of line) {
      if (byte < 0x20 || byte > 0x7e) throw invalid('its header holds a byte that is not printable ASCII (CR, control or 8-bit)');
    }
    position = end + 1;
    return line.toString('latin1');
  };

  // The version line can be refused before it is complete.
  const firstLength = Math.min(data.length, AGE_MAGIC.length);
  if (!data.subarray(0, firstLength).equals(AGE_MAGIC.subarray(0, firstLength))) {
    throw invalid('it does not start with "age-encryption.org/v1"');
  }
  const version = nextLine();
  if (version === undefined) return undefined;
  if (version !== AGE_VERSION_LINE) throw invalid('it does not start with "age-encryption.org/v1"');

  const stanzas: Stanza[] = [];
  for (;;) {
    const line = nextLine();
    if (line === undefined) return undefined;
    if (line.startsWith('-> ')) {
      if (stanzas.length === MAX_STANZAS) throw invalid(`its header holds more than ${MAX_STANZAS} stanzas`);
      const args = line.slice(3).split(' ');
      if (args.some((arg) => arg.length === 0)) throw invalid('a stanza has an empty argument or no argument');
      const chunks: Buffer[] = [];
      for (;;) {
        const bodyLine = nextLine();
        if (bodyLine === undefined) return undefined;
        if (bodyLine.length > BODY_COLUMNS) throw invalid('a stanza body line is longer than 64 columns');
        const decoded = decodeBase64NoPad(bodyLine);
        if (decoded === undefined) throw invalid('a stanza body is not canonical unpadded base64');
        chunks.push(decoded);
        if (bodyLine.length < BODY_COLUMNS) break;
      }
      stanzas.push({ args, body: Buffer.concat(chunks) });
      continue;
    }
    if (line.startsWith('--- ')) {
      const mac = decodeBase64NoPad(line.slice(4));
      if (mac === undefined || mac.length !== HEADER_MAC_SIZE) throw invalid('its MAC line is malformed');
      const length = position;
      const macInput = Buffer.from(data.subarray(0, length - line.length - 1 + 3));
      return { stanzas, mac, macInput, length };
    }
    throw invalid('a header line is neither a stanza ("-> ") nor the MAC line ("--- ")');
  }
}

/** Parses a complete header; HEADER_INVALID when `bytes` ends before it does. */
export function parseHeader(bytes: Uint8Array): ParsedHeader {
  const header = parseHeaderPrefix(bytes);
  if (header === undefined) throw invalid('it ends inside its header');
  return header;
}

/** True when `bytes` begins like an age file (the version line, or as much of it as there is). */
export function looksLikeAge(bytes: Uint8Array): boolean {
  const length = Math.min(bytes.length, AGE_MAGIC.length);
  return length > 0 && Buffer.from(bytes.buffer, bytes.byteOffset, length).equals(AGE_MAGIC.subarray(0, length));
}
