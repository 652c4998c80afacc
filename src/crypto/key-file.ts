/**
 * Key files: the user-held JSON file with the 32-byte master key, plain or
 * wrapped under a passphrase (docs/format.md, "Key files").
 *
 * Writing never replaces an existing file: the content goes to a temporary
 * file in the same folder, which is then hard-linked to the target name —
 * link() fails if the name exists, so a key that may protect someone's data
 * is never overwritten, and a crash leaves either no key file or a complete
 * one. Reading rejects anything malformed with KEY_INVALID instead of
 * crashing, and no message ever contains the key or the file's content.
 */
import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import fs from 'node:fs/promises';
import nodePath from 'node:path';
import { syncDirectory } from '../fs/durable-fs.js';
import { isAlreadyExists, publishWithoutReplace } from '../fs/publish.js';
import { CloudlockerError, InvalidParamsError, fromSystemError, systemErrorCode } from '../errors.js';
import { keyInvalidError } from './crypto-errors.js';
import { MASTER_KEY_SIZE } from './v1/format.js';
import { GCM_NONCE_SIZE } from './aes-gcm.js';
import {
  DEFAULT_SCRYPT_PARAMS,
  scryptParamsAcceptable,
  unwrapKey,
  wrapKey,
  WRAPPED_CIPHERTEXT_SIZE,
  type WrappedKey,
  type WrappedKeyJson,
} from './key-wrap.js';
import { generateMasterKey, importMasterKey, masterKeyBytes, type MasterKey } from './master-key.js';
import { systemRandom, type RandomSource } from './random.js';

export type { MasterKey } from './master-key.js';

export const KEY_FILE_TYPE = 'cloudlocker-key';
export const KEY_FILE_VERSION = 1;
/** Larger files are refused unread; a real key file is about 300 bytes. */
export const MAX_KEY_FILE_SIZE = 64 * 1024;
/** Owner read/write only. */
export const KEY_FILE_MODE = 0o600;

const KEY_ID_PATTERN = /^[0-9a-f]{32}$/;
const BASE64_PATTERN = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const WHAT = 'the key file';

/** The JSON a key file holds. */
export type KeyFileJson = {
  type: typeof KEY_FILE_TYPE;
  version: typeof KEY_FILE_VERSION;
  keyId: string;
  createdAt: string;
} & ({ key: string } | { wrappedKey: WrappedKeyJson });

export interface KeyFileInfo {
  readonly keyId: string;
  readonly createdAt: string;
  readonly passphraseProtected: boolean;
}

interface ParsedKeyFile extends KeyFileInfo {
  readonly key?: Buffer;
  readonly wrappedKey?: WrappedKey;
}

export interface CreateKeyFileOptions {
  /** Protect the key with this passphrase (scrypt + AES-256-GCM). */
  passphrase?: string;
  random?: RandomSource;
  now?: () => Date;
}

/** Strict, canonical base64 of `min..max` bytes; undefined otherwise. */
function decodeBase64(value: unknown, min: number, max: number = min): Buffer | undefined {
  if (typeof value !== 'string' || !BASE64_PATTERN.test(value)) return undefined;
  const bytes = Buffer.from(value, 'base64');
  if (bytes.length < min || bytes.length > max || bytes.toString('base64') !== value) return undefined;
  return bytes;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function parseWrappedKey(value: unknown): WrappedKey {
  const malformed = (what: string) => keyInvalidError(`its "wrappedKey" is malformed (${what}).`);
  if (!isRecord(value)) throw malformed('not an object');
  if (value.kdf !== 'scrypt') throw malformed('"kdf" must be "scrypt"');
  const { N, r, p } = value;
  if (typeof N !== 'number' || typeof r !== 'number' || typeof p !== 'number' || !scryptParamsAcceptable({ N, r, p })) {
    throw malformed('scrypt parameters outside the accepted range');
  }
  const salt = decodeBase64(value.salt, 16, 64);
  if (salt === undefined) throw malformed('"salt" must be base64 of 16 to 64 bytes');
  const nonce = decodeBase64(value.nonce, GCM_NONCE_SIZE);
  if (nonce === undefined) throw malformed(`"nonce" must be base64 of ${GCM_NONCE_SIZE} bytes`);
  const ciphertext = decodeBase64(value.ciphertext, WRAPPED_CIPHERTEXT_SIZE);
  if (ciphertext === undefined) throw malformed(`"ciphertext" must be base64 of ${WRAPPED_CIPHERTEXT_SIZE} bytes`);
  return { N, r, p, salt, nonce, ciphertext };
}

/** Checks the structure of a key file's text; KEY_INVALID when anything is off. */
function parseKeyFileText(text: string): ParsedKeyFile {
  let json: unknown;
  try {
    // A byte-order mark, as some Windows editors add, is not part of the JSON.
    json = JSON.parse(text.startsWith('\uFEFF') ? text.slice(1) : text);
  } catch {
    // The SyntaxError quotes the input, which may hold the key: never attach it.
    throw keyInvalidError('it is not valid JSON (it may be truncated or damaged).');
  }
  if (!isRecord(json) || json.type !== KEY_FILE_TYPE) {
    throw keyInvalidError(`it is not a cloudlocker key file (no "type": "${KEY_FILE_TYPE}").`);
  }
  if (json.version !== KEY_FILE_VERSION) {
    const version = typeof json.version === 'number' && Number.isSafeInteger(json.version) ? json.version : 'unknown';
    throw keyInvalidError(
      `it is key file version ${version}; this version of cloudlocker reads version ${KEY_FILE_VERSION}.`,
    );
  }
  if (typeof json.keyId !== 'string' || !KEY_ID_PATTERN.test(json.keyId)) {
    throw keyInvalidError('its "keyId" is missing or is not 32 lowercase hex digits.');
  }
  if (typeof json.createdAt !== 'string' || Number.isNaN(Date.parse(json.createdAt))) {
    throw keyInvalidError('its "createdAt" is missing or is not a date.');
  }
  const hasKey = json.key !== undefined;
  const hasWrapped = json.wrappedKey !== undefined;
  if (hasKey === hasWrapped) {
    throw keyInvalidError('it must hold exactly one of "key" and "wrappedKey".');
  }
  const common = { keyId: json.keyId, createdAt: json.createdAt };
  if (hasKey) {
    const key = decodeBase64(json.key, MASTER_KEY_SIZE);
    if (key === undefined) throw keyInvalidError(`its "key" is not base64 of ${MASTER_KEY_SIZE} bytes.`);
    return { ...common, passphraseProtected: false, key };
  }
  return { ...common, passphraseProtected: true, wrappedKey: parseWrappedKey(json.wrappedKey) };
}

/** Key id, creation time and protection of a key file's text, without unwrapping it. */
export function describeKeyFile(text: string): KeyFileInfo {
  const { keyId, createdAt, passphraseProtected, key } = parseKeyFileText(text);
  key?.fill(0);
  return { keyId, createdAt, passphraseProtected };
}

/**
 * The master key in a key file's text. A passphrase is required for a
 * protected file and ignored for an unprotected one.
 */
export async function parseKeyFile(text: string, options: { passphrase?: string } = {}): Promise<MasterKey> {
  const parsed = parseKeyFileText(text);
  let bytes: Buffer;
  if (parsed.key !== undefined) {
    bytes = parsed.key;
  } else {
    if (options.passphrase === undefined || options.passphrase === '') {
      throw keyInvalidError('it is protected by a passphrase: provide the passphrase.', { passphraseRequired: true });
    }
    bytes = await unwrapKey(parsed.wrappedKey as WrappedKey, options.passphrase);
  }
  try {
    const key = importMasterKey(bytes);
    if (key.keyId !== parsed.keyId) {
      throw keyInvalidError('its "keyId" does not match its key: the file was edited or damaged.');
    }
    return key;
  } finally {
    bytes.fill(0);
  }
}

/**
 * A failure reading a key file as the client should see it: the mapped
 * system errors (missing, refused) as themselves; any other system error
 * (EIO from /proc/self/mem, say) is KEY_INVALID naming its code, never an
 * internal error.
 */
function keyFileReadError(err: unknown): CloudlockerError {
  try {
    return fromSystemError(err, WHAT);
  } catch {
    const code = systemErrorCode(err);
    if (code === undefined) throw err;
    return keyInvalidError(`it could not be read: the operating system answered ${code}.`);
  }
}

/**
 * The bytes of a key file, at most MAX_KEY_FILE_SIZE of them (KEY_INVALID
 * beyond). The caller owns the returned buffer and should zero it when done.
 */
export async function readKeyFileBytes(path: string): Promise<Buffer> {
  let handle: fs.FileHandle;
  try {
    // O_NONBLOCK: a named pipe at the key path must not hold a thread of the
    // file-system pool until a writer appears; fstat below then refuses it.
    handle = await fs.open(path, constants.O_RDONLY | (constants.O_NONBLOCK ?? 0));
  } catch (err) {
    if (systemErrorCode(err) === 'EISDIR') throw keyInvalidError('the path names a folder, not a key file.');
    if (systemErrorCode(err) === 'ELOOP') throw keyInvalidError('the path is a loop of symbolic links, not a key file.');
    throw keyFileReadError(err);
  }
  const buffer = Buffer.alloc(MAX_KEY_FILE_SIZE + 1);
  try {
    const stat = await handle.stat();
    if (!stat.isFile()) throw keyInvalidError('the path does not name a regular file.');
    let total = 0;
    // Read at most one byte past the limit, whatever the size claims: the
    // file may grow while it is read.
    while (total < buffer.length) {
      const { bytesRead } = await handle.read(buffer, total, buffer.length - total, total);
      if (bytesRead === 0) break;
      total += bytesRead;
    }
    if (total > MAX_KEY_FILE_SIZE) {
      throw keyInvalidError(`it is larger than ${MAX_KEY_FILE_SIZE / 1024} KiB, far too large to be a key file.`);
    }
    return Buffer.from(buffer.subarray(0, total));
  } catch (err) {
    if (systemErrorCode(err) === 'EISDIR') throw keyInvalidError('the path names a folder, not a key file.');
    throw keyFileReadError(err);
  } finally {
    buffer.fill(0);
    await handle.close();
  }
}

/** A key file's bytes as UTF-8 text (KEY_INVALID when they are not). */
export function keyFileBytesToText(bytes: Uint8Array): string {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw keyInvalidError('it is not UTF-8 text (it may be damaged).');
  }
}

export async function readKeyFileText(path: string): Promise<string> {
  const bytes = await readKeyFileBytes(path);
  try {
    return keyFileBytesToText(bytes);
  } finally {
    bytes.fill(0);
  }
}

/**
 * Reads and validates a key file. NOT_FOUND when it does not exist,
 * PERMISSION_DENIED when the OS refuses, KEY_INVALID for anything malformed,
 * a wrong passphrase, or a missing passphrase for a protected file.
 */
export async function readKeyFile(path: string, options: { passphrase?: string } = {}): Promise<MasterKey> {
  return parseKeyFile(await readKeyFileText(path), options);
}

/** Key id, creation time and protection of a key file, without unwrapping it. */
export async function inspectKeyFile(path: string): Promise<KeyFileInfo> {
  return describeKeyFile(await readKeyFileText(path));
}

function alreadyExists(): CloudlockerError {
  return new CloudlockerError(
    'ALREADY_EXISTS',
    'A file already exists at the key file path; it was left untouched: choose another path.',
  );
}

async function writeAndSync(handle: fs.FileHandle, contents: string): Promise<void> {
  await handle.writeFile(contents, 'utf8');
  await handle.sync();
}

/** Writes `contents` to `target` atomically, failing with ALREADY_EXISTS rather than replacing anything. */
export async function writeNewFile(target: string, contents: string): Promise<void> {
  const directory = nodePath.dirname(target);
  const temporary = nodePath.join(directory, `.${nodePath.basename(target)}.${randomBytes(8).toString('hex')}.tmp`);
  let handle: fs.FileHandle;
  try {
    handle = await fs.open(temporary, 'wx', KEY_FILE_MODE);
  } catch (err) {
    throw fromSystemError(err, 'the folder for the key file');
  }
  try {
    try {
      await writeAndSync(handle, contents);
    } finally {
      await handle.close();
    }
    // The mode given to open() is reduced by the umask; 0600 can only lose
    // bits, but set it explicitly in case the process umask is unusual.
    // Best effort: file systems without modes may refuse.
    await fs.chmod(temporary, KEY_FILE_MODE).catch(() => undefined);
    // Without hard links, an exclusive copy: never replaces, but a crash may leave a partial file.
    await publishWithoutReplace(temporary, target, { fallback: 'copy-exclusive' });
  } catch (err) {
    if (isAlreadyExists(err)) throw alreadyExists();
    throw fromSystemError(err, WHAT);
  } finally {
    await fs.rm(temporary, { force: true });
  }
  await syncDirectory(directory);
}

export async function pathIsTaken(target: string): Promise<boolean> {
  try {
    await fs.lstat(target);
    return true;
  } catch (err) {
    if (systemErrorCode(err) === 'ENOENT') return false;
    throw fromSystemError(err, 'the folder for the key file');
  }
}

function keyFileJson(key: MasterKey, createdAt: string, secret: { key: string } | { wrappedKey: WrappedKeyJson }): KeyFileJson {
  return { type: KEY_FILE_TYPE, version: KEY_FILE_VERSION, keyId: key.keyId, createdAt, ...secret };
}

/**
 * Creates a key file with a new random master key. ALREADY_EXISTS (and the
 * existing file untouched) when the path is taken.
 */
export async function createKeyFile(
  path: string,
  options: CreateKeyFileOptions = {},
): Promise<{ path: string; keyId: string; key: MasterKey }> {
  const target = nodePath.resolve(path);
  if (options.passphrase !== undefined && options.passphrase === '') {
    throw new InvalidParamsError('The passphrase must not be empty: omit it for a key file without a passphrase.', 'passphrase');
  }
  // Fail before the (slow) scrypt when the name is obviously taken; link()
  // below is what actually guarantees no overwrite.
  if (await pathIsTaken(target)) throw alreadyExists();
  const random = options.random ?? systemRandom;
  const key = generateMasterKey(random);
  const createdAt = (options.now ?? (() => new Date()))().toISOString();
  const master = masterKeyBytes(key);
  const secret =
    options.passphrase === undefined
      ? { key: master.toString('base64') }
      : { wrappedKey: await wrapKey(master, options.passphrase, random, DEFAULT_SCRYPT_PARAMS) };
  await writeNewFile(target, `${JSON.stringify(keyFileJson(key, createdAt, secret), null, 2)}\n`);
  return { path: target, keyId: key.keyId, key };
}
