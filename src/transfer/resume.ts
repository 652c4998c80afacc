/**
 * Resumable transfers: the transfer journal put to work. This file holds the
 * attach() cycle (journal new transfers, restore and resume them after a
 * restart, cancel and acknowledge); the checkpoints themselves are
 * journal-checkpoints.ts, the check of a resumed upload's source
 * source-verification.ts.
 *
 * - Every upload, and every download whose key file is known, is journaled
 *   before it touches the store (see transfer-journal.ts for what is kept).
 * - At start, unfinished transfers come back as 'interrupted' in
 *   listTransfers and, with resumeOnStart, resume by themselves; a key file
 *   protected by a passphrase cannot be read without its passphrase (which is
 *   never journaled), so such a transfer waits for resumeTransfer.
 * - A resumed upload first checks that the source is unchanged: size and
 *   mtime, then that every part that was being written at the crash (those
 *   are encrypted again, under the same nonces: only the same plaintext may
 *   be) and a sample of the parts already stored seal, in memory, to the
 *   GCM tags journaled for them (partTagDigest). Any difference:
 *   SOURCE_CHANGED, and the partial object is discarded. Parts already
 *   stored are never encrypted again.
 * - A resumed download keeps its temporary file beside the target when the
 *   stored object still has the same header (a replaced object has a new
 *   random salt, hence a new header); otherwise it starts over.
 * - A transfer group (uploadFolder, downloadFolder) is journaled as one
 *   entry with a log of its members (group-resume.ts): restored as
 *   'interrupted' with its file counters, resumed like a transfer (by
 *   itself, or with resumeTransfer when its key needs a passphrase), and
 *   its members logged done are not transferred again.
 * - Finished outcomes stay in the journal until acknowledgeTransfers or for
 *   24 hours, and come back in listTransfers after a restart.
 */
import { stat } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';
import type { DownloadFolderResult, DownloadResult, UploadFolderResult, UploadResult } from '../../protocol/index.js';
import type { AuthorKey } from '../crypto/age/index.js';
import { keyFileCredentials, keyFileEncryption, loadKeyFile, storedFormats, type LoadedKey, type StoredHeader } from '../crypto/index.js';
import { CloudlockerError, InvalidParamsError, isCloudlockerError, toErrorObject } from '../errors.js';
import type { Storage } from '../storage/storage.js';
import type { DownloadCheckpoints, ResumedTransfer, UploadCheckpoints } from './checkpoints.js';
import { DownloadJournalCheckpoints, UploadJournalCheckpoints } from './journal-checkpoints.js';
import { removeQuietly, temporaryPathFor } from './local-files.js';
import { PartLayout } from './part-layout.js';
import type { TransferEngine } from './transfer-engine.js';
import type { CheckpointFactory, DownloadRequest, GroupJournalRequest, StoredSizes, UploadRequest } from './transfer-requests.js';
import { groupProgress, journalGroupCheckpoints, summarizeGroupLog, type GroupResumer } from './group-resume.js';
import type { GroupCheckpoints } from './transfer-group.js';
import type { GroupParameters } from './transfer-journal.js';
import { PartState, type JournalEntry, type PartSlot, type TransferJournal } from './transfer-journal.js';
import type { TransferRecord, TransferRegistry } from './transfer-registry.js';

export interface ResumableTransfersOptions {
  readonly journal: TransferJournal;
  readonly storage: Storage;
  readonly registry: TransferRegistry;
  readonly logger?: Logger;
  /** The authors a resumed download trusts besides the key's own card (the contacts); default: none. */
  readonly trustedAuthors?: (key: LoadedKey) => Promise<readonly AuthorKey[] | undefined>;
  /**
   * The identity unlocked in the service when its card id is `cardId`, else
   * undefined: a resume asked for without a passphrase uses it instead of
   * reading a (maybe passphrase-protected) key file. Default: none.
   */
  readonly unlockedKey?: (cardId: string) => LoadedKey | undefined;
}

export class ResumableTransfers implements CheckpointFactory {
  private readonly journal: TransferJournal;
  private readonly storage: Storage;
  private readonly registry: TransferRegistry;
  private readonly logger: Logger | undefined;
  private engine: TransferEngine | undefined;
  /** Resumes asked for and not yet handed to the engine (a second call must not start a second run). */
  private readonly starting = new Set<string>();

  constructor(options: ResumableTransfersOptions) {
    this.journal = options.journal;
    this.storage = options.storage;
    this.registry = options.registry;
    this.logger = options.logger;
    this.trustedAuthors = options.trustedAuthors;
    this.unlockedKey = options.unlockedKey;
  }

  private readonly trustedAuthors: ResumableTransfersOptions['trustedAuthors'];
  private readonly unlockedKey: ResumableTransfersOptions['unlockedKey'];

  /** The writes the store must keep at init(): those of unfinished uploads. */
  static keepWrites(journal: TransferJournal): string[] {
    return journal
      .active()
      .map((entry) => entry.record.resumeToken)
      .filter((token): token is string => token !== undefined);
  }

  /** The engine is made with this factory, so it is handed over afterwards. */
  attach(engine: TransferEngine): void {
    this.engine = engine;
  }

  // -- CheckpointFactory: journaling new transfers ---------------------------

  async upload(transferId: string, request: UploadRequest): Promise<UploadCheckpoints> {
    await this.journal.pruneFinished();
    const entry = await this.journal.create({
      transferId,
      direction: 'upload',
      name: request.name,
      totalBytes: request.source.size,
      startedAt: new Date().toISOString(),
      upload: {
        sourcePath: request.source.path,
        sourceSize: request.source.size,
        sourceMtimeMs: request.source.mtimeMs,
        keyPath: request.keyPath,
        keyCreated: request.keyCreated,
        ...(request.keyCardId === undefined ? {} : { keyCardId: request.keyCardId }),
        overwrite: request.overwrite,
        ...(request.recipients === undefined ? {} : { recipients: request.recipients }),
      },
    });
    return new UploadJournalCheckpoints(entry, this.storage, undefined);
  }

  async download(transferId: string, request: DownloadRequest, sizes: StoredSizes): Promise<DownloadCheckpoints | undefined> {
    if (request.keyPath === undefined) return undefined;
    await this.journal.pruneFinished();
    const entry = await this.journal.create({
      transferId,
      direction: 'download',
      name: request.name,
      totalBytes: sizes.plaintextSize,
      startedAt: new Date().toISOString(),
      download: {
        destination: request.destination,
        ...(request.createDirectories === true ? { createDirectories: true } : {}),
        keyPath: request.keyPath,
        ...(request.keyCardId === undefined ? {} : { keyCardId: request.keyCardId }),
        overwrite: request.overwrite,
        storedSize: sizes.storedSize,
        ...(request.acceptUnauthored === true ? { acceptUnauthored: true } : {}),
      },
    });
    return new DownloadJournalCheckpoints(entry, undefined);
  }

  /** A transfer group: its request journaled (never a key or passphrase); its members are logged by the group as they go. */
  async group(transferId: string, request: GroupJournalRequest): Promise<GroupCheckpoints> {
    await this.journal.pruneFinished();
    const entry = await this.journal.create({
      transferId,
      direction: request.direction,
      name: request.name,
      totalBytes: request.totalBytes,
      startedAt: new Date().toISOString(),
      group: request.parameters,
    });
    return journalGroupCheckpoints(entry);
  }

  private readonly groupResumers = new Map<GroupParameters['kind'], GroupResumer>();

  /** The methods that run groups resume them (they walk the folder or list the store again: upload-folder.ts, download-folder.ts). */
  registerGroupResumer<K extends GroupParameters['kind']>(kind: K, resumer: GroupResumer<Extract<GroupParameters, { kind: K }>>): void {
    this.groupResumers.set(kind, resumer as GroupResumer);
  }

  // -- After a restart --------------------------------------------------------

  /** Put the journal's transfers into the registry: unfinished ones as 'interrupted', finished ones with their outcome. */
  async restore(): Promise<void> {
    for (const entry of this.journal.finished()) {
      const record = entry.record;
      this.registry.restore({
        transferId: record.transferId,
        direction: record.direction,
        name: record.name,
        totalBytes: record.totalBytes,
        doneBytes: record.outcome === 'completed' ? record.totalBytes : 0,
        startedAt: Date.parse(record.startedAt),
        state: record.outcome ?? 'failed',
        finishedAt: Date.parse(record.finishedAt ?? record.startedAt),
        ...(record.error === undefined ? {} : { error: record.error }),
        ...(record.result === undefined ? {} : { result: record.result }),
      });
    }
    for (const entry of this.journal.active()) {
      const record = entry.record;
      // A group's progress comes from its member log; a single transfer's from its parts.
      let doneBytes: number;
      let group: Omit<ReturnType<typeof groupProgress>, 'doneBytes'> | undefined;
      if (record.group === undefined) ({ doneBytes } = await progressOf(entry));
      else ({ doneBytes, ...group } = groupProgress(summarizeGroupLog(await entry.readLog()), record.group.filesTotal));
      this.registry.restore({
        transferId: record.transferId,
        direction: record.direction,
        name: record.name,
        totalBytes: record.totalBytes,
        doneBytes,
        startedAt: Date.parse(record.startedAt),
        state: 'interrupted',
        ...(group === undefined ? {} : { group }),
      });
    }
  }

  /** resumeOnStart: resume every interrupted transfer whose key file opens without a passphrase. */
  resumeAll(): void {
    for (const entry of this.journal.active()) {
      this.resume(entry.transferId).catch((err: unknown) => {
        if (isCloudlockerError(err, 'KEY_INVALID')) {
          this.logger?.info({ transferId: entry.transferId }, 'interrupted transfer waits for resumeTransfer (its key file needs a passphrase or cannot be read)');
        }
        // Anything else has been recorded as the transfer's outcome by the engine.
      });
    }
  }

  /**
   * Resume an interrupted transfer; resolves with its result when it has
   * finished. NOT_FOUND for an unknown id; -32602 for one that is not
   * interrupted. A key that cannot be read leaves it interrupted.
   */
  async resume(transferId: string, keyPassphrase?: string): Promise<UploadResult | DownloadResult | UploadFolderResult | DownloadFolderResult> {
    const engine = this.engine;
    if (engine === undefined) throw new Error('ResumableTransfers.attach() must be called first.');
    const entry = this.journal.get(transferId);
    const record = this.registry.get(transferId);
    if (entry === undefined || record === undefined) {
      throw new CloudlockerError('NOT_FOUND', 'No transfer has that id: it may have finished and been acknowledged.');
    }
    if (record.state !== 'interrupted' || entry.record.state !== 'active' || this.starting.has(transferId)) {
      throw new InvalidParamsError(`The transfer is ${record.state}, not interrupted: there is nothing to resume.`, 'transferId');
    }
    this.starting.add(transferId);
    try {
      const { slots, doneBytes } = await progressOf(entry);
      const resumed: ResumedTransfer = { startedAt: record.startedAt, doneBytes };
      const upload = entry.record.upload;
      const download = entry.record.download;
      const group = entry.record.group;
      if (group !== undefined) {
        const resumer = this.groupResumers.get(group.kind);
        if (resumer === undefined) throw new CloudlockerError('NOT_FOUND', 'The journal entry of this transfer is incomplete.');
        const pending = resumer(
          {
            transferId,
            name: entry.record.name,
            startedAt: record.startedAt,
            parameters: group,
            summary: summarizeGroupLog(await entry.readLog()),
            checkpoints: journalGroupCheckpoints(entry),
            reservation: { transferId, direction: entry.record.direction, name: entry.record.name, abortController: new AbortController() },
          },
          () => this.keyFor(group, keyPassphrase),
        );
        try {
          return await pending;
        } catch (err) {
          // Failed before the group started again (its record is still the interrupted one): a key that
          // needs its passphrase leaves it waiting; anything else (the folder gone...) is its outcome.
          const current = this.registry.get(transferId);
          if (current === record && !isCloudlockerError(err, 'KEY_INVALID')) {
            const error = toErrorObject(err);
            await entry.finish('failed', { error });
            this.registry.finish(record, 'failed', { error });
          }
          throw err;
        }
      }
      if (upload !== undefined) {
        const published = await this.publishedBeforeCrash(entry);
        if (published !== undefined) return await this.completedBeforeCrash(entry, record, published);
        const key = await this.keyFor(upload, keyPassphrase);
        const pending = engine.upload({
          transferId,
          source: { path: upload.sourcePath, size: upload.sourceSize, mtimeMs: upload.sourceMtimeMs },
          name: entry.record.name,
          overwrite: upload.overwrite,
          encryption: keyFileEncryption(key, { name: entry.record.name, recipients: upload.recipients ?? [] }),
          keyPath: upload.keyPath,
          keyCreated: upload.keyCreated,
          ...(upload.keyCardId === undefined ? {} : { keyCardId: upload.keyCardId }),
          ...(upload.recipients === undefined ? {} : { recipients: upload.recipients }),
          resume: { checkpoints: new UploadJournalCheckpoints(entry, this.storage, slots), resumed },
        });
        this.starting.delete(transferId);
        return await pending;
      }
      if (download !== undefined) {
        const saved = await savedBeforeCrash(entry);
        if (saved !== undefined) return await this.completedBeforeCrash(entry, record, saved);
        const key = await this.keyFor(download, keyPassphrase);
        const authors = await this.trustedAuthors?.(key);
        const acceptUnauthored = download.acceptUnauthored === true;
        const pending = engine.download({
          transferId,
          name: entry.record.name,
          destination: download.target ?? download.destination,
          overwrite: download.overwrite,
          createDirectories: download.createDirectories === true,
          credentials: keyFileCredentials(key, { name: entry.record.name, acceptUnauthored, ...(authors === undefined ? {} : { authors }) }),
          keyPath: download.keyPath,
          ...(download.keyCardId === undefined ? {} : { keyCardId: download.keyCardId }),
          ...(acceptUnauthored ? { acceptUnauthored } : {}),
          resume: { checkpoints: new DownloadJournalCheckpoints(entry, slots), resumed },
        });
        this.starting.delete(transferId);
        return await pending;
      }
      throw new CloudlockerError('NOT_FOUND', 'The journal entry of this transfer is incomplete.');
    } finally {
      this.starting.delete(transferId);
    }
  }

  /**
   * The key a resume opens or seals with. Without a passphrase, the identity
   * unlocked in the service when it is the very identity the transfer started
   * with (same card id, journaled): its key file, maybe passphrase-protected,
   * is then not read. Otherwise the key file, with the passphrase if given (a
   * protected one without it: KEY_INVALID, and the transfer stays interrupted).
   */
  private async keyFor(parameters: { keyPath: string; keyCardId?: string }, keyPassphrase: string | undefined): Promise<LoadedKey> {
    if (keyPassphrase === undefined && parameters.keyCardId !== undefined) {
      const unlocked = this.unlockedKey?.(parameters.keyCardId);
      if (unlocked !== undefined) return unlocked;
    }
    return loadKeyFile(parameters.keyPath, keyPassphrase === undefined ? {} : { passphrase: keyPassphrase });
  }

  /** Record as completed a transfer whose crash came after its result was in place. */
  private async completedBeforeCrash<R extends UploadResult | DownloadResult>(entry: JournalEntry, record: TransferRecord, result: R): Promise<R> {
    await entry.finish('completed', { result });
    this.registry.finish(record, 'completed', { result });
    return result;
  }

  /**
   * An upload that crashed while publishing may be complete: the object is
   * ours when it has the stored size and the very header (random salt
   * included) that the journal holds. Then its result is rebuilt from the
   * journal; nothing is sent again.
   */
  private async publishedBeforeCrash(entry: JournalEntry): Promise<UploadResult | undefined> {
    const { committing, header, upload, name, totalBytes, transferId } = entry.record;
    if (committing !== true || header === undefined || upload === undefined) return undefined;
    const journaled = parseJournaledHeader(header);
    if (journaled === undefined) return undefined;
    try {
      const info = await this.storage.stat(name);
      if (info.storedSize !== journaled.layout.storedSizeFor(totalBytes)) return undefined;
      const stored = await this.storage.readRange(name, 0, journaled.header.length);
      if (!journaled.header.equals(Buffer.from(stored))) return undefined;
      return {
        transferId,
        name,
        size: totalBytes,
        storedSize: info.storedSize,
        keyId: journaled.format.describe(journaled.header).keyId ?? '',
        keyPath: upload.keyPath,
        keyCreated: upload.keyCreated,
      };
    } catch (err) {
      if (isCloudlockerError(err, 'NOT_FOUND')) return undefined;
      throw err;
    }
  }

  /** cancelTransfer of an interrupted transfer: discard its partial object or temporary file and its journal entry. */
  async cancelInterrupted(transferId: string): Promise<{ transferId: string; cancelled: boolean } | undefined> {
    const record = this.registry.get(transferId);
    const entry = this.journal.get(transferId);
    if (record?.state !== 'interrupted' || this.starting.has(transferId)) return undefined;
    if (entry !== undefined) {
      const { upload, download, resumeToken, group } = entry.record;
      // A group's members stored or saved so far stay, as a cancel of a running group leaves them; its in-flight downloads' temporaries go.
      if (group?.kind === 'downloadFolder') await removeGroupTemporaries(entry, group.root);
      if (upload !== undefined && resumeToken !== undefined) await this.storage.discardWrite(entry.record.name, resumeToken);
      if (download?.target !== undefined) await removeQuietly(temporaryPathFor(download.target, transferId));
      await this.journal.remove(transferId);
    }
    this.registry.finish(record, 'cancelled', { error: { code: -32007, message: 'The transfer was cancelled.', data: { reason: 'CANCELLED' } } });
    return { transferId, cancelled: true };
  }

  /** Forget finished transfers, in the journal and in listTransfers. Unknown or unfinished ids are left out of the answer. */
  async acknowledge(transferIds: readonly string[]): Promise<{ acknowledged: string[] }> {
    const acknowledged: string[] = [];
    for (const transferId of new Set(transferIds)) {
      const record = this.registry.get(transferId);
      if (record === undefined || !record.finished) continue;
      this.registry.remove(transferId);
      await this.journal.remove(transferId);
      acknowledged.push(transferId);
    }
    return { acknowledged };
  }
}

/** The temporaries a download group's members in flight at the crash left beside their targets. */
async function removeGroupTemporaries(entry: JournalEntry, root: string): Promise<void> {
  const { inFlight } = summarizeGroupLog(await entry.readLog());
  const prefix = `${entry.record.name}/`;
  for (const [name, started] of inFlight) {
    if (!name.startsWith(prefix)) continue;
    const target = groupTarget(root, name.slice(prefix.length));
    if (target !== undefined) await removeQuietly(temporaryPathFor(target, started.memberId));
  }
}

/** Where a download group saves the member at `relative` (its remote name's part under the folder); undefined if that would leave the folder. */
export function groupTarget(root: string, relative: string): string | undefined {
  const target = path.join(root, ...relative.split('/'));
  const inside = path.relative(root, target);
  return inside === '' || inside.startsWith('..') || path.isAbsolute(inside) ? undefined : target;
}

/**
 * A download that crashed while moving its temporary into place may be
 * complete: the journal says it was publishing, its temporary is gone (the
 * move consumed it) and the target has the file's size.
 */
async function savedBeforeCrash(entry: JournalEntry): Promise<DownloadResult | undefined> {
  const { committing, download, transferId, name, totalBytes } = entry.record;
  if (committing !== true || download?.target === undefined) return undefined;
  const target = download.target;
  const [temporary, saved] = await Promise.all([
    stat(temporaryPathFor(target, transferId)).catch(() => undefined),
    stat(target).catch(() => undefined),
  ]);
  if (temporary !== undefined || saved === undefined || !saved.isFile() || saved.size !== totalBytes) return undefined;
  return { transferId, name, path: target, size: totalBytes };
}

/** A journaled header's format and layout; undefined when it is not one any format reads (the transfer then starts over or fails where it is used). */
function parseJournaledHeader(base64: string): StoredHeader | undefined {
  try {
    return storedFormats.parse(Buffer.from(base64, 'base64'));
  } catch (err) {
    if (isCloudlockerError(err, 'INTEGRITY')) return undefined;
    throw err;
  }
}

/** The journaled parts of an active entry and the plaintext bytes they cover. */
async function progressOf(entry: JournalEntry): Promise<{ slots: PartSlot[] | undefined; doneBytes: number }> {
  const { partCount, chunksPerPart, totalBytes, header } = entry.record;
  if (partCount === undefined || chunksPerPart === undefined || header === undefined) return { slots: undefined, doneBytes: 0 };
  const slots = await entry.readParts(partCount);
  // An upload whose write the store cannot resume (S3 before its multipart upload existed) starts over.
  if (entry.record.direction === 'upload' && entry.record.resumeToken === undefined) return { slots, doneBytes: 0 };
  const journaled = parseJournaledHeader(header);
  if (journaled === undefined) return { slots, doneBytes: 0 };
  const layout = new PartLayout(totalBytes, chunksPerPart, journaled.layout);
  let doneBytes = 0;
  slots.forEach((slot, index) => {
    if (slot.state === PartState.done) doneBytes += layout.part(index).plainLength;
  });
  return { slots, doneBytes };
}
