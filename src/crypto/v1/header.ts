/**
 * The v1 header: fixed layout (format.ts HeaderLayout), authenticated by
 * HMAC-SHA256 under a key derived from the master key and the header's salt.
 * Because that MAC key is derived from the master key, a valid MAC commits
 * the header — and with it the whole object — to one master key.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { integrityError } from '../crypto-errors.js';
import {
  CHUNK_SIZE,
  FORMAT_VERSION,
  HEADER_AUTHENTICATED_SIZE,
  HEADER_SIZE,
  HeaderLayout,
  KEY_ID_SIZE,
  SALT_SIZE,
} from './format.js';

/** "CLKR", NUL, CR, LF, SUB: the NUL and line-ending bytes catch text-mode transfers that mangle binaries (as in PNG). */
const MAGIC = Buffer.from([0x43, 0x4c, 0x4b, 0x52, 0x00, 0x0d, 0x0a, 0x1a]);
export const MAGIC_HEX = MAGIC.toString('hex');

export interface HeaderFields {
  readonly formatVersion: number;
  readonly chunkSize: number;
  readonly salt: Buffer;
  /** 32 lowercase hex digits. */
  readonly keyId: string;
  readonly mac: Buffer;
}

function headerMac(headerMacKey: Uint8Array, authenticated: Uint8Array): Buffer {
  return createHmac('sha256', headerMacKey).update(authenticated).digest();
}

/** Builds the HEADER_SIZE header bytes. */
export function buildHeader(salt: Uint8Array, keyId: Uint8Array, headerMacKey: Uint8Array): Buffer {
  if (salt.length !== SALT_SIZE) throw new RangeError(`salt must be ${SALT_SIZE} bytes`);
  if (keyId.length !== KEY_ID_SIZE) throw new RangeError(`key id must be ${KEY_ID_SIZE} bytes`);
  const header = Buffer.alloc(HEADER_SIZE);
  MAGIC.copy(header, HeaderLayout.magic.offset);
  header[HeaderLayout.version.offset] = FORMAT_VERSION;
  // reserved bytes stay zero
  header.writeUInt32BE(CHUNK_SIZE, HeaderLayout.chunkSize.offset);
  header.set(salt, HeaderLayout.salt.offset);
  header.set(keyId, HeaderLayout.keyId.offset);
  headerMac(headerMacKey, header.subarray(0, HEADER_AUTHENTICATED_SIZE)).copy(header, HeaderLayout.mac.offset);
  return header;
}

function field(header: Buffer, name: keyof typeof HeaderLayout): Buffer {
  const { offset, size } = HeaderLayout[name];
  return header.subarray(offset, offset + size);
}

/**
 * Reads the header's fields without any key, checking everything that can be
 * checked without one. INTEGRITY when the bytes are not a v1 header. Accepts
 * a longer buffer (the start of an object) and reads its first HEADER_SIZE bytes.
 */
export function parseHeader(bytes: Uint8Array): HeaderFields {
  if (bytes.length < HEADER_SIZE) {
    throw integrityError(`its header is incomplete (${bytes.length} of ${HEADER_SIZE} bytes)`);
  }
  const header = Buffer.from(bytes.buffer, bytes.byteOffset, HEADER_SIZE);
  if (!field(header, 'magic').equals(MAGIC)) {
    throw integrityError('it does not start like a cloudlocker encrypted file');
  }
  const formatVersion = header[HeaderLayout.version.offset];
  if (formatVersion !== FORMAT_VERSION) {
    throw integrityError(`its header names format version ${formatVersion}, which this version cannot read`, {
      formatVersion,
    });
  }
  if (field(header, 'reserved').some((byte) => byte !== 0)) {
    throw integrityError('its header has reserved bytes set');
  }
  const chunkSize = header.readUInt32BE(HeaderLayout.chunkSize.offset);
  if (chunkSize !== CHUNK_SIZE) {
    throw integrityError(`its header names a chunk size of ${chunkSize} bytes; format v1 uses ${CHUNK_SIZE}`);
  }
  return {
    formatVersion,
    chunkSize,
    salt: Buffer.from(field(header, 'salt')),
    keyId: field(header, 'keyId').toString('hex'),
    mac: Buffer.from(field(header, 'mac')),
  };
}

/** Constant-time check of the header MAC. */
export function headerMacIsValid(bytes: Uint8Array, headerMacKey: Uint8Array, mac: Uint8Array): boolean {
  const expected = headerMac(headerMacKey, bytes.subarray(0, HEADER_AUTHENTICATED_SIZE));
  return timingSafeEqual(expected, mac);
}

/**
 * Format version and key id of a stored object, from its first HEADER_SIZE
 * bytes, without a key (for getFileInfo). Not authenticated: a reader that
 * has the key authenticates the header with FileDecryptor.open.
 */
export function readHeaderInfo(header: Uint8Array): { formatVersion: number; keyId: string } {
  const { formatVersion, keyId } = parseHeader(header);
  return { formatVersion, keyId };
}
