/**
 * Key derivation (docs/format.md, "Key derivation"). Every derived key uses
 * HKDF-SHA256 with its own info string, so the key id, the header MAC key and
 * the payload key are independent of each other.
 */
import { hkdfSync } from 'node:crypto';
import { KEY_ID_SIZE } from './format.js';

export const KDF_INFO = {
  keyId: 'cloudlocker v1 key id',
  header: 'cloudlocker v1 header',
  payload: 'cloudlocker v1 payload',
} as const;

const NO_SALT = Buffer.alloc(0);

function hkdf(ikm: Uint8Array, salt: Uint8Array, info: string, length: number): Buffer {
  return Buffer.from(hkdfSync('sha256', ikm, salt, info, length));
}

/** Key id: HKDF-SHA256(master, no salt, "cloudlocker v1 key id"), 16 bytes. */
export function deriveKeyId(master: Uint8Array): Buffer {
  return hkdf(master, NO_SALT, KDF_INFO.keyId, KEY_ID_SIZE);
}

/** The two per-file keys, from the master key and the header's salt. */
export function deriveFileKeys(master: Uint8Array, salt: Uint8Array): { headerMacKey: Buffer; payloadKey: Buffer } {
  return {
    headerMacKey: hkdf(master, salt, KDF_INFO.header, 32),
    payloadKey: hkdf(master, salt, KDF_INFO.payload, 32),
  };
}
