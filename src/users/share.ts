/**
 * Sharing a stored age file: adding recipients by rewriting only its age
 * header. The payload (nonce and chunks) is not decrypted or re-encrypted:
 * Storage.rewriteHeader keeps it byte for byte (local: file copy; S3: a
 * server-side UploadPartCopy where the store offers it, else streamed).
 *
 * The sharer must be able to open the header (a recipient) and the file's
 * author must be trusted (the sharer or a contact): sharing never passes on
 * a planted or moved file. The new header keeps every existing stanza in
 * order, adds one stanza per new recipient after the recipient stanzas,
 * keeps the author stanza last (the profile of docs/format.md section 14:
 * the author's signature covers the file key and the name, not the
 * recipients, so it stays valid), and gets a new MAC under the same file
 * key. A rewrite is refused if the object changed since its header was read
 * (SOURCE_CHANGED): nothing is changed then.
 */
import { CloudlockerError, InvalidParamsError } from '../errors.js';
import { AgeError, AUTHOR_STANZA_TYPE, MAX_RECIPIENTS, parseHeaderPrefix, type AgeRecipientKey, type AuthorKey, type AgeIdentity, type Stanza } from '../crypto/age/index.js';
import { verifyAuthor } from '../crypto/age/author.js';
import { AgeOpener, AgeSealer, resolveRecipients, unlockAgeHeader } from '../crypto/age/file.js';
import { AGE_CHUNK_SIZE, AGE_STORED_CHUNK_SIZE, ageChunkCountFor, agePlaintextSizeFor, ageStoredChunkOffset, PAYLOAD_NONCE_SIZE } from '../crypto/age/payload.js';
import { AGE_MAGIC, encodeHeader, MAX_HEADER_SIZE } from '../crypto/age/header.js';
import { RECIPIENT_TAG_STANZA_TYPE, wrapTo } from '../crypto/age/identity.js';
import { systemRandom } from '../crypto/random.js';
import type { HeaderRewriteMethod, ObjectInfo, Storage } from '../storage/storage.js';
import { composeSharedHeader, isSlotStanza } from '../crypto/age/slot.js';

export interface ShareRequest {
  readonly storage: Storage;
  readonly name: string;
  readonly identity: AgeIdentity;
  /** Trusted authors: the identity's own card and the contacts'. */
  readonly authors: readonly AuthorKey[];
  readonly add: readonly AgeRecipientKey[];
  readonly signal?: AbortSignal;
  readonly onProgress?: (done: number, total: number) => void | Promise<void>;
}

export interface ShareOutcome {
  readonly info: ObjectInfo;
  /** Recipient stanzas the file has now (recipient tags and the author stanza not counted). */
  readonly recipientCount: number;
  /** Of `add`, how many the file already had by this identity's recipient tags (left out; none added twice). */
  readonly alreadyRecipients: number;
  readonly oldHeaderLength: number;
  readonly newHeaderLength: number;
  /** How the store kept the payload this time ("in-place" or a copy). */
  readonly headerRewrite: HeaderRewriteMethod;
}

/**
 * A recipient tag stanza (docs/format.md, "Recipient tags"):
 * `-> cloudlocker.dev/recipient-tag <16 bytes, base64>` with an empty body,
 * one per recipient shareFile added. Only the sharer's identity computes the
 * tag (AgeIdentity.recipientTag), so the store and the other recipients learn
 * nothing from it but its presence; the header MAC covers it. age ignores
 * stanzas of a type it does not know.
 */
function tagStanza(tag: Buffer): Stanza {
  return { args: [RECIPIENT_TAG_STANZA_TYPE, tag.toString('base64').replace(/=+$/, '')], body: Buffer.alloc(0) };
}

/** The tags a header carries (as base64 without padding, as in the stanza). */
function tagsOf(stanzas: readonly Stanza[]): Set<string> {
  return new Set(stanzas.filter((s) => s.args[0] === RECIPIENT_TAG_STANZA_TYPE && s.args.length === 2).map((s) => s.args[1]!));
}

/** The age header of `name` as stored now, with the version it was read from. */
async function readHeader(storage: Storage, name: string, signal?: AbortSignal): Promise<{ bytes: Buffer; version: string; storedSize: number }> {
  const info = await storage.stat(name);
  if (info.version === undefined) {
    throw new CloudlockerError('STORAGE_UNAVAILABLE', 'The store gave no version for this file, so it cannot be rewritten safely.');
  }
  let length = Math.min(info.storedSize, 4096);
  for (;;) {
    const bytes = Buffer.from(await storage.readRange(name, 0, length, signal));
    if (!bytes.subarray(0, AGE_MAGIC.length).equals(AGE_MAGIC)) {
      throw new InvalidParamsError(
        'That file is not an age (format v2) file: a v1 file has one key and cannot be shared. Upload it again with an age identity.',
        'name',
      );
    }
    const header = parseHeaderPrefix(bytes);
    if (header !== undefined) return { bytes: bytes.subarray(0, header.length), version: info.version, storedSize: info.storedSize };
    if (length >= info.storedSize || length > MAX_HEADER_SIZE) {
      throw new CloudlockerError('INTEGRITY', 'The stored file ends inside its age header: it is damaged.');
    }
    length = Math.min(info.storedSize, length * 4);
  }
}

/**
 * Adds `add` as recipients. A recipient this identity already shared the
 * file with (its recipient tag and the stanza the tag names are in the
 * header) is left out, and so is a
 * second mention in `add`: sharing twice never adds a second stanza. If no
 * one is left, nothing is rewritten. Recipients the file got at upload, or
 * from another sharer, carry no tag of this identity and cannot be
 * recognised (an X25519 stanza does not say whom it is for).
 */
export async function shareStoredFile(request: ShareRequest): Promise<ShareOutcome> {
  const { storage, name, identity } = request;
  const { bytes, version } = await readHeader(storage, name, request.signal);
  const { fileKey, header } = await unlockAgeHeader(bytes, (stanzas) => identity.unwrap(stanzas));
  try {
    // Only a file whose author is trusted (and made for this name) is passed on.
    verifyAuthor(header.stanzas, fileKey, { authors: request.authors, name });
    // Kept: recipients and recipient tags. The header slot (docs/format.md "Header slot") is neither: it is resized to keep the header's length.
    const kept = header.stanzas.filter((s) => s.args[0] !== AUTHOR_STANZA_TYPE && !isSlotStanza(s));
    const author = header.stanzas.filter((s) => s.args[0] === AUTHOR_STANZA_TYPE);
    const recipientCount = kept.filter((s) => s.args[0] !== RECIPIENT_TAG_STANZA_TYPE).length;
    const known = tagsOf(header.stanzas);
    const added: Stanza[] = [];
    const tags: Stanza[] = [];
    // A recipient is present only if a stanza in the header now is the one a tag of ours names: a tag
    // alone proves nothing (anyone with the file key can drop the stanza, keep the tag and re-MAC).
    const present = kept.filter((s) => s.args[0] !== RECIPIENT_TAG_STANZA_TYPE);
    for (const recipient of request.add) {
      if (present.some((s) => known.has(tagStanza(identity.recipientTag(fileKey, recipient, s)).args[1]!))) continue;
      const stanza = wrapTo(recipient, fileKey, systemRandom);
      const tag = tagStanza(identity.recipientTag(fileKey, recipient, stanza));
      present.push(stanza);
      known.add(tag.args[1]!);
      added.push(stanza);
      tags.push(tag);
    }
    const alreadyRecipients = request.add.length - added.length;
    if (added.length === 0) {
      // Everyone named already has access through this identity: nothing to write.
      const info = await storage.stat(name);
      if (info.version !== version) throw new CloudlockerError('SOURCE_CHANGED', 'The file was replaced while it was being shared; nothing changed. Try again.');
      await request.onProgress?.(0, 0);
      // Nothing written: the store's usual method is reported (the payload stayed where it was).
      return { info, recipientCount, alreadyRecipients, oldHeaderLength: header.length, newHeaderLength: header.length, headerRewrite: storage.capabilities.headerRewrite };
    }
    if (recipientCount + added.length > MAX_RECIPIENTS) {
      throw new InvalidParamsError(
        `An age file cloudlocker writes has at most ${MAX_RECIPIENTS} recipients; this one has ${recipientCount}.`,
        'with',
      );
    }
    const slotType = header.stanzas.some(isSlotStanza) ? identity.type : undefined;
    const newHeader = composeSharedHeader([...kept, ...added, ...tags], author, fileKey, header.length, slotType);
    const info = await storage.rewriteHeader(name, version, header.length, newHeader, {
      ...(request.signal === undefined ? {} : { signal: request.signal }),
      ...(request.onProgress === undefined ? {} : { onProgress: request.onProgress }),
    });
    return {
      info,
      recipientCount: recipientCount + added.length,
      alreadyRecipients,
      oldHeaderLength: header.length,
      newHeaderLength: newHeader.length,
      headerRewrite: info.headerRewrite ?? storage.capabilities.headerRewrite,
    };
  } finally {
    fileKey.fill(0);
  }
}

/**
 * Chunks per part while re-encrypting: 128 × 64 KiB = 8 MiB of plaintext, above
 * S3's 5 MiB part minimum; more per part only when the store's part count
 * limit needs it (S3: 10 000 parts, so files above ~78 GiB).
 */
const REENCRYPT_CHUNKS_PER_PART = 128;
/**
 * Parts being read, re-encrypted or written at once. Each holds one read
 * buffer and one part buffer (~8 MiB each), reused from part to part, so
 * unsharing a file of any size needs about 2 × 16 MiB: transfer memory stays
 * what an upload or a download needs. Two keep the store's reads and writes
 * (in the thread pool, or on the network) overlapped with the ciphers (on
 * the main thread).
 */
const REENCRYPT_PARTS_IN_FLIGHT = 2;

export interface UnshareRequest {
  readonly storage: Storage;
  readonly name: string;
  readonly identity: AgeIdentity;
  readonly authors: readonly AuthorKey[];
  /** Who keeps access besides the identity: age1… or cloudlockercard1… strings. */
  readonly keep: readonly string[];
  readonly signal?: AbortSignal;
  /** Stored bytes read and authenticated so far, of the stored size (never decreasing). */
  readonly onProgress?: (doneBytes: number, storedSize: number) => void;
  /** Called right before the new object is published (the last point where a cancel counts); may throw to stop. */
  readonly beforePublish?: () => void;
}

/**
 * Unsharing: a former recipient may have kept the file key, so removing their
 * stanza would protect nothing. The file is re-encrypted under a new file key
 * to the identity and `keep` only (a full read and write, chunk by chunk in
 * place, with bounded memory; the new object is published only once every
 * chunk of the old one authenticated, the last one as the last). Only the
 * file's author may do it: the new author stanza is theirs.
 */
export async function unshareStoredFile(request: UnshareRequest): Promise<ObjectInfo> {
  const { storage, name, identity, signal } = request;
  const { bytes, version, storedSize } = await readHeader(storage, name, signal);
  const oldPrefix = Buffer.from(await storage.readRange(name, 0, bytes.length + PAYLOAD_NONCE_SIZE, signal));
  // The header's checks (a stanza for the identity, the MAC, a trusted author who signed this name), on the prefix the payload is decrypted with.
  const opener = AgeOpener.open(oldPrefix, { identity, name, authors: request.authors });
  if (opener.authorCardId !== identity.card.cardId) {
    throw new InvalidParamsError('Only the author of a file can unshare it (it is re-encrypted and signed anew): ask its author.', 'name');
  }
  // Checks the recipients (and the classical/post-quantum rule) before any payload byte is read.
  resolveRecipients(identity, request.keep);
  const plaintextSize = agePlaintextSizeFor(opener.prefixLength, storedSize);
  const chunkCount = ageChunkCountFor(plaintextSize);
  const sealer = AgeSealer.create({ identity, name, recipients: request.keep, plaintextSize });
  const writer = await storage.beginWrite(name, { ...(signal === undefined ? {} : { signal }) });
  try {
    const partLimit = writer.maxParts ?? Number.POSITIVE_INFINITY;
    const chunksPerPart = Math.max(REENCRYPT_CHUNKS_PER_PART, Math.ceil(chunkCount / partLimit));
    const partCount = Math.ceil(chunkCount / chunksPerPart);
    const buffers = Array.from({ length: Math.min(REENCRYPT_PARTS_IN_FLIGHT, partCount) }, () => ({
      read: Buffer.allocUnsafe(chunksPerPart * AGE_STORED_CHUNK_SIZE),
      part: Buffer.allocUnsafe(sealer.prefix.length + chunksPerPart * AGE_STORED_CHUNK_SIZE),
    }));
    const plaintext = Buffer.allocUnsafe(AGE_CHUNK_SIZE);
    let authenticatedBytes = opener.prefixLength;
    const reencryptPart = async (partIndex: number, own: { read: Buffer; part: Buffer }): Promise<void> => {
      const firstChunk = partIndex * chunksPerPart;
      const endChunk = Math.min(chunkCount, firstChunk + chunksPerPart);
      const readFrom = ageStoredChunkOffset(opener.prefixLength, firstChunk);
      const readLength = (endChunk < chunkCount ? ageStoredChunkOffset(opener.prefixLength, endChunk) : storedSize) - readFrom;
      const stored = await readStored(storage, name, readFrom, own.read.subarray(0, readLength), signal);
      // The new object's offsets: part 0 starts with the new prefix.
      const writeFrom = partIndex === 0 ? 0 : ageStoredChunkOffset(sealer.prefix.length, firstChunk);
      let out = 0;
      if (partIndex === 0) out += sealer.prefix.copy(own.part, 0);
      for (let index = firstChunk; index < endChunk; index++) {
        const at = (index - firstChunk) * AGE_STORED_CHUNK_SIZE;
        const isFinal = index === chunkCount - 1;
        const storedChunk = stored.subarray(at, isFinal ? stored.length : at + AGE_STORED_CHUNK_SIZE);
        const opened = opener.decryptChunk(index, storedChunk, isFinal, plaintext, 0);
        out += sealer.encryptChunk(index, opened, isFinal, own.part, out).length;
      }
      plaintext.fill(0);
      authenticatedBytes += readLength;
      request.onProgress?.(authenticatedBytes, storedSize);
      await writer.writePart(partIndex, writeFrom, own.part.subarray(0, out));
    };
    // Each lane takes the next part when its own part is written, reusing its buffers; a failure stops every lane.
    let nextPart = 0;
    let stopped = false;
    const lane = async (own: { read: Buffer; part: Buffer }): Promise<void> => {
      try {
        while (nextPart < partCount && !stopped) await reencryptPart(nextPart++, own);
      } catch (err) {
        stopped = true;
        throw err;
      }
    };
    const lanes = buffers.map(lane);
    const settled = await Promise.allSettled(lanes);
    const failed = settled.find((outcome): outcome is PromiseRejectedResult => outcome.status === 'rejected');
    if (failed !== undefined) throw failed.reason;
    request.beforePublish?.();
    // Published only over the version read, atomically with the check (as
    // rewriteHeader): a write by another device meanwhile is kept, never
    // replaced with the re-encrypted old content (SOURCE_CHANGED).
    return await writer.complete({ overwrite: true, ifVersion: version });
  } catch (err) {
    await writer.abort();
    throw err;
  }
}

/** `target.length` stored bytes from `offset`, into `target` where the store can; fewer means the object is not the size it was. */
async function readStored(storage: Storage, name: string, offset: number, target: Buffer, signal?: AbortSignal): Promise<Buffer> {
  let got: Uint8Array;
  if (storage.readRangeInto !== undefined) {
    got = target.subarray(0, await storage.readRangeInto(name, offset, target, signal));
  } else {
    got = await storage.readRange(name, offset, target.length, signal);
  }
  if (got.length !== target.length) {
    throw new AgeError('PAYLOAD_INVALID', `it ended at ${offset + got.length} bytes, before its stated ${offset + target.length}: it was cut short or replaced`);
  }
  return Buffer.from(got.buffer, got.byteOffset, got.length);
}

/**
 * The header of a standalone copy of a stored age file for one recipient
 * (exportFile): the recipient's stanza and the author stanza under a new MAC;
 * the payload (from `payloadOffset`) is copied unchanged after it. The
 * author must be trusted, as for sharing. `age -d -i <their identity>` opens
 * the result; cloudlocker verifies the author as for a stored file.
 */
export async function exportHeaderFor(
  storage: Storage,
  name: string,
  identity: AgeIdentity,
  authors: readonly AuthorKey[],
  recipient: AgeRecipientKey,
  signal?: AbortSignal,
): Promise<{ header: Buffer; payloadOffset: number; storedSize: number; version: string }> {
  const { bytes, version, storedSize } = await readHeader(storage, name, signal);
  const { fileKey, header } = await unlockAgeHeader(bytes, (stanzas) => identity.unwrap(stanzas));
  try {
    verifyAuthor(header.stanzas, fileKey, { authors, name });
    const author = header.stanzas.filter((s) => s.args[0] === AUTHOR_STANZA_TYPE);
    const newHeader = encodeHeader([wrapTo(recipient, fileKey, systemRandom), ...author], fileKey);
    return { header: newHeader, payloadOffset: header.length, storedSize, version };
  } finally {
    fileKey.fill(0);
  }
}
