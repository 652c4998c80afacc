/**
 * The transfer journal: what survives a crash of the server about each
 * transfer, so that an unfinished one can resume where it stopped and a
 * finished one can still be reported to a UI that was away.
 *
 * Layout, in `<dataDir>/transfers/` (mode 0700):
 *   <transferId>.json    the transfer's parameters and state, rewritten
 *                        atomically (temporary + fsync + rename) only when
 *                        they change: at the start, once the part layout and
 *                        the store's resume token are known, at the finish.
 *   <transferId>.parts   one fixed-size slot per part, written in place with
 *                        a positioned write as each part progresses, so a
 *                        part costs two small writes, never a rewrite.
 *
 * A slot is SLOT_SIZE bytes: a state byte (0 untouched, 1 sealed: encrypted
 * and being written; 2 done: the store acknowledged it), the SHA-256 of the
 * part's GCM tags (uploads; partTagDigest in part-seal.ts, which identifies
 * the plaintext without revealing it), and the store's receipt for the part (S3: its
 * ETag), length-prefixed. A slot is written whole in one write() far smaller
 * than a page, so a killed process leaves each slot either old or new.
 * Nothing here is fsynced per part: the data written by the store and the
 * slot both sit in the same kernel's page cache, which outlives the process
 * (kill -9); after a power cut a done slot may describe a part the disk lost,
 * which the format's authentication then reports as INTEGRITY on download.
 *
 * A transfer group (uploadFolder, downloadFolder) has a record of its own,
 * `<groupId>.json`, holding its request (folder, destination, options, the
 * key FILE's path: never a key or passphrase), written at its start and its
 * finish only, and an append-only log `<groupId>.done`: one JSON line per
 * member started, done (with what proves it: the stored object's version,
 * the saved file's size) or failed. A member costs one or two appended
 * lines, never a rewrite, so a group of n files writes O(n) bytes. A line
 * torn by a kill -9 is ignored (its member is then redone or re-checked).
 *
 * Never in the journal: keys, passphrases, plaintext. The stored object's
 * header is kept (whatever its format and length; it holds no secret — v1:
 * salt, key id, MAC; age: recipient stanzas, author stanza, MAC, payload
 * nonce) to re-create the sealer and find the format's layout. An age
 * upload's sealer is rebuilt from the key file (the identity, read again),
 * the journaled name and extra recipients (public), and that header.
 */
import { createHash } from 'node:crypto';
import { constants } from 'node:fs';
import { open, readdir, readFile, rm, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import type {
  DownloadFolderResult,
  DownloadResult,
  ErrorObject,
  TransferDirection,
  TransferOutcome,
  UploadFolderResult,
  UploadResult,
} from '../../protocol/index.js';
import { ensurePrivateDirectory, writeFileAtomic } from '../fs/atomic-file.js';

export const JOURNAL_FOLDER = 'transfers';
const FILE_MODE = 0o600;
export const SLOT_SIZE = 128;
const HASH_SIZE = 32;
const RECEIPT_OFFSET = 1 + HASH_SIZE + 1;
const MAX_RECEIPT_BYTES = SLOT_SIZE - RECEIPT_OFFSET;
/** A transfer id (protocol: 1-64 of A-Za-z0-9_-) is safe as a file name; anything else in the folder is not ours. */
const ENTRY_FILE = /^([A-Za-z0-9_-]{1,64})\.json$/;

export const PartState = { untouched: 0, sealed: 1, done: 2 } as const;
export type PartState = (typeof PartState)[keyof typeof PartState];

export interface PartSlot {
  readonly state: PartState;
  /** SHA-256 of the part's chunk tags (uploads, partTagDigest in part-seal.ts), once sealed. */
  readonly sha256?: Buffer;
  /** The store's receipt (S3: the ETag), once done. */
  readonly receipt?: string;
}

export interface UploadParameters {
  readonly sourcePath: string;
  readonly sourceSize: number;
  readonly sourceMtimeMs: number;
  readonly keyPath: string;
  readonly keyCreated: boolean;
  /** The age identity's card id (public): a resume may use the unlocked identity when it is this one. */
  readonly keyCardId?: string;
  readonly overwrite: boolean;
  /** Extra recipients (age recipients or public cards: public keys), when the upload named any. */
  readonly recipients?: readonly string[];
}

export interface DownloadParameters {
  /** The destination as the request gave it. */
  readonly destination: string;
  /** The resolved target file, once the download has started. */
  readonly target?: string;
  /** The request asked for missing folders to be created. */
  readonly createDirectories?: boolean;
  readonly keyPath: string;
  /** The age identity's card id (public), as for an upload. */
  readonly keyCardId?: string;
  readonly overwrite: boolean;
  readonly storedSize: number;
  /** The download accepted an age file without an author stanza. */
  readonly acceptUnauthored?: boolean;
}

/** A transfer group's request, as its resume needs it (the key by its file's path only). */
export type GroupParameters =
  | {
      readonly kind: 'uploadFolder';
      /** The local folder (absolute). */
      readonly path: string;
      readonly keyPath: string;
      /** The age identity's card id (public): a resume may use the unlocked identity when it is this one. */
      readonly keyCardId?: string;
      readonly keyCreated: boolean;
      readonly overwrite: boolean;
      readonly filesTotal: number;
    }
  | {
      readonly kind: 'downloadFolder';
      /** The folder the tree is recreated in (absolute: destination/<last segment of name>). */
      readonly root: string;
      readonly keyPath: string;
      /** The age identity's card id (public), as for uploadFolder. */
      readonly keyCardId?: string;
      readonly overwrite: boolean;
      readonly filesTotal: number;
    };

/** One line of a group's log (`<groupId>.done`). */
export type GroupLogLine =
  /** A member is about to be transferred (`memberId`: its transfer id; `prior`: the stored object's version or the local file's existence before it). */
  | { readonly started: string; readonly memberId: string; readonly prior?: string | boolean | null }
  /** A member finished: its plaintext size and what a resume checks before skipping it. */
  | {
      readonly done: string;
      readonly size: number;
      /** Upload: the stored object's version right after it was stored. */
      readonly version?: string;
      /** Upload: the source file as it was read. */
      readonly sourceSize?: number;
      readonly sourceMtimeMs?: number;
    }
  | { readonly failed: string; readonly path: string; readonly error: ErrorObject };

/** What the .json file holds. */
export interface JournalRecord {
  readonly version: 1;
  readonly transferId: string;
  readonly direction: TransferDirection;
  readonly name: string;
  readonly totalBytes: number;
  readonly startedAt: string;
  readonly state: 'active' | 'finished';
  readonly upload?: UploadParameters;
  readonly download?: DownloadParameters;
  /** A transfer group: its request; its members are in the log (`<transferId>.done`). */
  readonly group?: GroupParameters;
  /** Format chunks per part: fixed at the first start, so a resume cuts the file the same way. */
  readonly chunksPerPart?: number;
  readonly partCount?: number;
  /** The stored object's header, base64 (uploads: written by us; downloads: to notice a replaced object). */
  readonly header?: string;
  /** The store's token for the unfinished write (uploads). */
  readonly resumeToken?: string;
  /** About to publish the object (upload) or move the file into place (download): a resume first looks whether that is done. */
  readonly committing?: boolean;
  /** How many times this transfer has been resumed, and the parts it found done each time (for diagnostics). */
  readonly resumes?: ReadonlyArray<{ readonly at: string; readonly doneParts: number; readonly partCount: number }>;
  readonly outcome?: TransferOutcome;
  readonly result?: UploadResult | DownloadResult | UploadFolderResult | DownloadFolderResult;
  readonly error?: ErrorObject;
  readonly finishedAt?: string;
}

/** One transfer's journal files. */
export class JournalEntry {
  private partsHandle: Promise<FileHandle> | undefined;
  private writing: Promise<void> = Promise.resolve();

  constructor(
    private readonly directory: string,
    private current: JournalRecord,
  ) {}

  get record(): JournalRecord {
    return this.current;
  }

  get transferId(): string {
    return this.current.transferId;
  }

  private get jsonPath(): string {
    return path.join(this.directory, `${this.transferId}.json`);
  }

  private get partsPath(): string {
    return path.join(this.directory, `${this.transferId}.parts`);
  }

  private get logPath(): string {
    return path.join(this.directory, `${this.transferId}.done`);
  }

  private logging: Promise<void> = Promise.resolve();
  private logHandle: Promise<FileHandle> | undefined;

  private async closeLog(): Promise<void> {
    await this.logging;
    const handle = this.logHandle;
    this.logHandle = undefined;
    await handle?.then((opened) => opened.close()).catch(() => undefined);
  }

  /**
   * Append one line to a group's log (in call order). Not fsynced, as the
   * part slots are not: the page cache outlives a kill -9, and what a done
   * line claims is checked again before a resume skips the member.
   */
  appendLog(line: GroupLogLine): Promise<void> {
    // Lines that come while a write is under way go out together in the next one (one write for the
    // group's workers instead of one per line); each call still resolves once its own line is written.
    const text = `${JSON.stringify(line)}\n`;
    if (this.pendingLines !== undefined) {
      this.pendingLines.push(text);
      return this.pendingWrite!;
    }
    const lines = [text];
    this.pendingLines = lines;
    const write = this.logging.then(async () => {
      // From here on, new lines wait for the next write.
      this.pendingLines = undefined;
      this.pendingWrite = undefined;
      const bytes = Buffer.from(lines.join(''), 'utf8');
      // Kept open (append mode) while the group runs: an open and a close per line cost as much as the write.
      this.logHandle ??= open(this.logPath, 'a', FILE_MODE);
      const handle = await this.logHandle;
      let written = 0;
      while (written < bytes.length) written += (await handle.write(bytes, written, bytes.length - written)).bytesWritten;
    });
    this.pendingWrite = write;
    this.logging = write.catch(() => undefined);
    return write;
  }

  /** Lines waiting for the next log write, and that write (see appendLog). */
  private pendingLines: string[] | undefined;
  private pendingWrite: Promise<void> | undefined;

  /** The group's log, line by line; a torn or foreign line is skipped. */
  async readLog(): Promise<GroupLogLine[]> {
    await this.logging;
    let text: string;
    try {
      text = await readFile(this.logPath, 'utf8');
    } catch {
      return [];
    }
    const lines: GroupLogLine[] = [];
    for (const raw of text.split('\n')) {
      if (raw === '') continue;
      try {
        const value: unknown = JSON.parse(raw);
        if (isGroupLogLine(value)) lines.push(value);
      } catch {
        // Torn by a crash mid-write: as if never written.
      }
    }
    return lines;
  }

  /** Change the record and write it out atomically; changes are applied in call order. */
  update(change: Partial<JournalRecord>): Promise<void> {
    this.current = { ...this.current, ...change };
    const snapshot = JSON.stringify(this.current);
    const write = this.writing.then(() => writeFileAtomic(this.jsonPath, snapshot, FILE_MODE));
    this.writing = write.catch(() => undefined);
    return write;
  }

  /** Every part's slot (untouched ones included), as the .parts file holds them. */
  async readParts(partCount: number): Promise<PartSlot[]> {
    let bytes: Buffer;
    try {
      bytes = await readFile(this.partsPath);
    } catch {
      bytes = Buffer.alloc(0);
    }
    const slots: PartSlot[] = [];
    for (let index = 0; index < partCount; index++) slots.push(decodeSlot(bytes.subarray(index * SLOT_SIZE, (index + 1) * SLOT_SIZE)));
    return slots;
  }

  /** Upload: the part is encrypted and about to be written; the digest of its tags guards a resume against a changed source. */
  async partSealed(partIndex: number, sha256: Buffer): Promise<void> {
    await this.writeSlot(partIndex, encodeSlot({ state: PartState.sealed, sha256 }));
  }

  /** The store acknowledged the part (upload) or it is decrypted and written (download). */
  async partDone(partIndex: number, detail: { sha256?: Buffer; receipt?: string } = {}): Promise<void> {
    await this.writeSlot(partIndex, encodeSlot({ state: PartState.done, ...detail }));
  }

  /** Forget every part (a restart from zero: new salt, new temporary). */
  async clearParts(): Promise<void> {
    await this.closeParts();
    await rm(this.partsPath, { force: true });
  }

  async closeParts(): Promise<void> {
    const handle = this.partsHandle;
    this.partsHandle = undefined;
    await handle?.then((opened) => opened.close()).catch(() => undefined);
    await this.closeLog();
  }

  /** Record the outcome; the parts are no longer needed. */
  async finish(
    outcome: TransferOutcome,
    detail: { result?: UploadResult | DownloadResult | UploadFolderResult | DownloadFolderResult; error?: ErrorObject },
  ): Promise<void> {
    await this.clearParts();
    // A group's log is of no use once its outcome is recorded (the result lists its failures).
    await this.closeLog();
    await rm(this.logPath, { force: true });
    await this.update({
      state: 'finished',
      outcome,
      ...(detail.result === undefined ? {} : { result: detail.result }),
      ...(detail.error === undefined ? {} : { error: detail.error }),
      finishedAt: new Date().toISOString(),
    });
  }

  /** Delete its files. */
  async remove(): Promise<void> {
    await this.clearParts();
    await this.writing;
    await this.closeLog();
    await rm(this.logPath, { force: true });
    await rm(this.jsonPath, { force: true });
  }

  private async writeSlot(partIndex: number, slot: Buffer): Promise<void> {
    // Created without truncating (O_CREAT, not 'w'): the slots of an earlier run are kept.
    this.partsHandle ??= open(this.partsPath, constants.O_RDWR | constants.O_CREAT, FILE_MODE);
    const handle = await this.partsHandle;
    let written = 0;
    while (written < slot.length) {
      const { bytesWritten } = await handle.write(slot, written, slot.length - written, partIndex * SLOT_SIZE + written);
      written += bytesWritten;
    }
  }
}

export interface TransferJournalOptions {
  /** How long finished outcomes are kept when nobody acknowledges them. Default 24 hours. */
  readonly finishedRetentionMs?: number;
  /**
   * Most finished outcomes kept, whatever their age; the oldest go first.
   * Default 10 000, as many as the registry lists (TransferRegistry's
   * maxFinishedKept): beyond that nobody could see them, yet each cost
   * memory and two files for a day (a client that never acknowledged kept
   * the server's RSS rising ~5 MiB a minute).
   */
  readonly maxFinishedKept?: number;
  readonly now?: () => number;
}

export class TransferJournal {
  private readonly entries = new Map<string, JournalEntry>();

  private constructor(
    readonly directory: string,
    private readonly finishedRetentionMs: number,
    private readonly maxFinishedKept: number,
    private readonly now: () => number,
  ) {}

  /** Opens (creating) `<dataDir>/transfers`, loads every entry, drops finished ones past retention and unreadable ones. */
  static async open(dataDir: string, options: TransferJournalOptions = {}): Promise<TransferJournal> {
    const directory = path.join(dataDir, JOURNAL_FOLDER);
    await ensurePrivateDirectory(directory);
    const journal = new TransferJournal(
      directory,
      options.finishedRetentionMs ?? 24 * 60 * 60 * 1000,
      options.maxFinishedKept ?? 10_000,
      options.now ?? Date.now,
    );
    await journal.load();
    return journal;
  }

  private async load(): Promise<void> {
    const names = await readdir(this.directory);
    const known = new Set<string>();
    for (const name of names) {
      const match = ENTRY_FILE.exec(name);
      if (match === null) continue;
      const record = await readRecord(path.join(this.directory, name));
      if (record === undefined || record.transferId !== match[1]) {
        await rm(path.join(this.directory, name), { force: true });
        continue;
      }
      known.add(record.transferId);
      this.entries.set(record.transferId, new JournalEntry(this.directory, record));
    }
    // Leftovers: temporaries of an interrupted atomic write, parts of an entry that is gone.
    for (const name of names) {
      const partsOf = /^([A-Za-z0-9_-]{1,64})\.(?:parts|done)$/.exec(name)?.[1];
      if (name.startsWith('.') || (partsOf !== undefined && !known.has(partsOf))) {
        await rm(path.join(this.directory, name), { force: true });
      }
    }
    await this.pruneFinished();
  }

  /** Unfinished transfers, oldest first. */
  active(): JournalEntry[] {
    return this.sorted().filter((entry) => entry.record.state === 'active');
  }

  /** Finished transfers not yet acknowledged or expired, oldest first. */
  finished(): JournalEntry[] {
    return this.sorted().filter((entry) => entry.record.state === 'finished');
  }

  get(transferId: string): JournalEntry | undefined {
    return this.entries.get(transferId);
  }

  /** Write-ahead: the entry exists on disk before the transfer touches the store. */
  async create(record: Omit<JournalRecord, 'version' | 'state'>): Promise<JournalEntry> {
    const entry = new JournalEntry(this.directory, { version: 1, state: 'active', ...record });
    this.entries.set(record.transferId, entry);
    await entry.update({});
    return entry;
  }

  async remove(transferId: string): Promise<void> {
    const entry = this.entries.get(transferId);
    this.entries.delete(transferId);
    await entry?.remove();
  }

  /** Remove finished entries older than the retention time, and the oldest beyond maxFinishedKept. */
  async pruneFinished(): Promise<void> {
    const cutoff = this.now() - this.finishedRetentionMs;
    const finished = this.finished();
    let kept = finished.length;
    for (const entry of finished) {
      const finishedAt = Date.parse(entry.record.finishedAt ?? '');
      if (!Number.isFinite(finishedAt) || finishedAt < cutoff || kept > this.maxFinishedKept) {
        await this.remove(entry.transferId);
        kept -= 1;
      }
    }
  }

  async close(): Promise<void> {
    await Promise.all([...this.entries.values()].map((entry) => entry.closeParts()));
  }

  private sorted(): JournalEntry[] {
    // ISO 8601 times in UTC sort as plain strings (localeCompare was the cost of this sort).
    return [...this.entries.values()].sort((a, b) => (a.record.startedAt < b.record.startedAt ? -1 : a.record.startedAt > b.record.startedAt ? 1 : 0));
  }
}

export function sha256Of(data: Uint8Array): Buffer {
  return createHash('sha256').update(data).digest();
}

function encodeSlot(slot: PartSlot): Buffer {
  const bytes = Buffer.alloc(SLOT_SIZE);
  bytes[0] = slot.state;
  slot.sha256?.copy(bytes, 1, 0, HASH_SIZE);
  if (slot.receipt !== undefined) {
    const receipt = Buffer.from(slot.receipt, 'utf8');
    // An ETag is 34 bytes ("<md5 hex>"); a store with longer receipts cannot be resumed by part.
    if (receipt.length > MAX_RECEIPT_BYTES) throw new RangeError('The store gave a part receipt too long to journal.');
    bytes[1 + HASH_SIZE] = receipt.length;
    receipt.copy(bytes, RECEIPT_OFFSET);
  }
  return bytes;
}

function decodeSlot(bytes: Buffer): PartSlot {
  if (bytes.length < SLOT_SIZE) return { state: PartState.untouched };
  const state = bytes[0];
  if (state !== PartState.sealed && state !== PartState.done) return { state: PartState.untouched };
  const sha256 = Buffer.from(bytes.subarray(1, 1 + HASH_SIZE));
  const receiptLength = Math.min(bytes[1 + HASH_SIZE]!, MAX_RECEIPT_BYTES);
  return {
    state,
    ...(sha256.some((byte) => byte !== 0) ? { sha256 } : {}),
    ...(receiptLength > 0 ? { receipt: bytes.toString('utf8', RECEIPT_OFFSET, RECEIPT_OFFSET + receiptLength) } : {}),
  };
}

async function readRecord(file: string): Promise<JournalRecord | undefined> {
  try {
    const value: unknown = JSON.parse(await readFile(file, 'utf8'));
    if (typeof value !== 'object' || value === null) return undefined;
    const record = value as Partial<JournalRecord>;
    const valid =
      record.version === 1 &&
      typeof record.transferId === 'string' &&
      (record.direction === 'upload' || record.direction === 'download') &&
      typeof record.name === 'string' &&
      typeof record.totalBytes === 'number' &&
      typeof record.startedAt === 'string' &&
      (record.state === 'active' || record.state === 'finished') &&
      (record.group !== undefined
        ? typeof record.group === 'object' && record.group !== null && (record.group.kind === 'uploadFolder' || record.group.kind === 'downloadFolder')
        : record.direction === 'upload'
          ? typeof record.upload === 'object'
          : typeof record.download === 'object');
    return valid ? (record as JournalRecord) : undefined;
  } catch {
    return undefined;
  }
}

function isGroupLogLine(value: unknown): value is GroupLogLine {
  if (typeof value !== 'object' || value === null) return false;
  const line = value as Record<string, unknown>;
  if (typeof line['started'] === 'string') return typeof line['memberId'] === 'string';
  if (typeof line['done'] === 'string') return typeof line['size'] === 'number';
  if (typeof line['failed'] === 'string') return typeof line['path'] === 'string' && typeof line['error'] === 'object' && line['error'] !== null;
  return false;
}
