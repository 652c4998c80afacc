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
import { AUTHOR_STANZA_TYPE, MAX_RECIPIENTS, openAgeStream, parseHeaderPrefix, sealAgeStream, type AgeRecipientKey, type AuthorKey, type AgeIdentity, type Stanza } from '../crypto/age/index.js';
import { verifyAuthor } from '../crypto/age/author.js';
import { resolveRecipients, unlockAgeHeader } from '../crypto/age/file.js';
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

/** Bytes read from the store per request while re-encrypting, and written per part (above S3's 5 MiB minimum). */
const REENCRYPT_READ_BYTES = 4 * 1024 * 1024;
const REENCRYPT_PART_BYTES = 8 * 1024 * 1024;

export interface UnshareRequest {
  readonly storage: Storage;
  readonly name: string;
  readonly identity: AgeIdentity;
  readonly authors: readonly AuthorKey[];
  /** Who keeps access besides the identity: age1… or cloudlockercard1… strings. */
  readonly keep: readonly string[];
  readonly signal?: AbortSignal;
  /** Stored bytes read (and authenticated, up to one read) so far, of the stored size. */
  readonly onProgress?: (doneBytes: number, storedSize: number) => void;
  /** Called right before the new object is published (the last point where a cancel counts); may throw to stop. */
  readonly beforePublish?: () => void;
}

/**
 * Unsharing: a former recipient may have kept the file key, so removing their
 * stanza would protect nothing. The file is re-encrypted under a new file key
 * to the identity and `keep` only (a full read and write, streamed with
 * bounded memory; the new object is published only once every chunk of the
 * old one authenticated). Only the file's author may do it: the new author
 * stanza is theirs.
 */
export async function unshareStoredFile(request: UnshareRequest): Promise<ObjectInfo> {
  const { storage, name, identity, signal } = request;
  const { bytes, version, storedSize } = await readHeader(storage, name, signal);
  const { fileKey, header } = await unlockAgeHeader(bytes, (stanzas) => identity.unwrap(stanzas));
  let authorCardId: string | undefined;
  try {
    authorCardId = verifyAuthor(header.stanzas, fileKey, { authors: request.authors, name });
  } finally {
    fileKey.fill(0);
  }
  if (authorCardId !== identity.card.cardId) {
    throw new InvalidParamsError('Only the author of a file can unshare it (it is re-encrypted and signed anew): ask its author.', 'name');
  }
  // Checks the recipients (and the classical/post-quantum rule) before any byte is read.
  resolveRecipients(identity, request.keep);
  async function* stored(): AsyncGenerator<Uint8Array> {
    for (let at = 0; at < storedSize; at += REENCRYPT_READ_BYTES) {
      yield await storage.readRange(name, at, Math.min(REENCRYPT_READ_BYTES, storedSize - at), signal);
      request.onProgress?.(Math.min(storedSize, at + REENCRYPT_READ_BYTES), storedSize);
    }
  }
  const plaintext = openAgeStream(stored(), { identity, name, authors: request.authors });
  const writer = await storage.beginWrite(name, { ...(signal === undefined ? {} : { signal }) });
  try {
    let pending: Buffer[] = [];
    let pendingBytes = 0;
    let partIndex = 0;
    let offset = 0;
    const flush = async (): Promise<void> => {
      const data = Buffer.concat(pending);
      await writer.writePart(partIndex++, offset, data);
      offset += data.length;
      pending = [];
      pendingBytes = 0;
    };
    for await (const piece of sealAgeStream(plaintext, { identity, name, recipients: request.keep })) {
      pending.push(piece);
      pendingBytes += piece.length;
      if (pendingBytes >= REENCRYPT_PART_BYTES) await flush();
    }
    if (pendingBytes > 0 || partIndex === 0) await flush();
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
