/**
 * The 32-byte master key from a key file, wrapped so that it cannot leak by
 * accident: the bytes live in a module-private WeakMap, not on the object, so
 * JSON.stringify, util.inspect, structuredClone, logging and error
 * serialisation only ever see the key id.
 */
import { inspect } from 'node:util';
import { deriveKeyId } from './v1/kdf.js';
import { MASTER_KEY_SIZE } from './v1/format.js';
import { systemRandom, takeRandom, type RandomSource } from './random.js';

export interface MasterKey {
  /** Non-secret identifier derived from the key (32 lowercase hex digits). */
  readonly keyId: string;
}

const secrets = new WeakMap<MasterKey, Buffer>();

class MasterKeyHandle implements MasterKey {
  readonly keyId: string;

  constructor(keyId: string) {
    this.keyId = keyId;
    Object.freeze(this);
  }

  toJSON(): { keyId: string } {
    return { keyId: this.keyId };
  }

  [inspect.custom](): string {
    return `MasterKey { keyId: '${this.keyId}' }`;
  }
}

/** Wraps 32 key bytes (copied; the caller may wipe its copy afterwards). */
export function importMasterKey(bytes: Uint8Array): MasterKey {
  if (!(bytes instanceof Uint8Array) || bytes.length !== MASTER_KEY_SIZE) {
    throw new RangeError(`a master key is ${MASTER_KEY_SIZE} bytes`);
  }
  const copy = Buffer.from(bytes);
  const key = new MasterKeyHandle(deriveKeyId(copy).toString('hex'));
  secrets.set(key, copy);
  return key;
}

/** A new random master key. */
export function generateMasterKey(random: RandomSource = systemRandom): MasterKey {
  const bytes = takeRandom(random, MASTER_KEY_SIZE);
  try {
    return importMasterKey(bytes);
  } finally {
    bytes.fill(0);
  }
}

/**
 * The key bytes, for this folder's own use (derivation, key files). Not
 * exported from the crypto index: callers outside crypto/ never need them.
 */
export function masterKeyBytes(key: MasterKey): Buffer {
  const bytes = secrets.get(key);
  if (bytes === undefined) {
    throw new TypeError('not a MasterKey created by importMasterKey, generateMasterKey or readKeyFile');
  }
  return bytes;
}

export function isMasterKey(value: unknown): value is MasterKey {
  return typeof value === 'object' && value !== null && secrets.has(value as MasterKey);
}
