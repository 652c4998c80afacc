/**
 * The transfer engine: uploads and downloads as queued, cancellable
 * transfers whose parts go through one shared p-queue. This file holds
 * admission, cancellation and closing; the pipelines are upload-pipeline.ts
 * and download-pipeline.ts, the shared part queue and buffers
 * part-scheduler.ts, the requests transfer-requests.ts.
 *
 * - At most `maxConcurrentTransfers` run at once; up to `maxQueuedTransfers`
 *   more wait as "queued"; beyond that a new one is refused with BUSY.
 * - Every part of every transfer is one task of the shared part queue, and a
 *   transfer keeps at most `partConcurrency` parts in it, so memory in flight
 *   is bounded by partConcurrency x part size whatever the file sizes, and
 *   transfers share the queue fairly.
 * - One AbortSignal per transfer reaches every stage; cancelling stops the
 *   work within one part, answers the request with CANCELLED and leaves no
 *   object, temporary or partial download behind.
 */
import PQueue from 'p-queue';
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { DownloadResult, ErrorObject, TransferDirection, TransferOperation, UploadResult } from '../../protocol/index.js';
import { storedFormats, type FormatRegistry } from '../crypto/index.js';
import { DEFAULT_PAYLOAD_WORKERS, PayloadWorkers } from '../crypto/payload-workers.js';
import { CloudlockerError, InvalidParamsError, toErrorObject } from '../errors.js';
import type { Storage } from '../storage/storage.js';
import { isInterruption, TransferInterruption, type ResumedTransfer, type TransferCheckpoints } from './checkpoints.js';
import { DownloadPipeline } from './download-pipeline.js';
import { keepYoungGenerationSmall } from './gc-tuning.js';
import { PartScheduler, type PipelineContext } from './part-scheduler.js';
import type { CheckpointFactory, DownloadRequest, GroupJournalRequest, StoredSizes, TransferReservation, UploadRequest } from './transfer-requests.js';
import type { GroupCheckpoints } from './transfer-group.js';
import { TransferRegistry, type TransferRecord, type TransferResult } from './transfer-registry.js';
import { SMALL_FILE_BYTES } from './small-file.js';
import { UploadPipeline } from './upload-pipeline.js';

export type { CheckpointFactory, DownloadRequest, GroupJournalRequest, StoredSizes, TransferReservation, UploadRequest } from './transfer-requests.js';

/** shareFile, unshareFile or exportFile as a transfer (see TransferEngine.operation). */
export interface OperationRequest {
  readonly operation: TransferOperation;
  readonly name: string;
  /** What progress counts up to (the bytes the operation copies or re-encrypts). */
  readonly totalBytes: number;
  readonly reservation: TransferReservation;
}

/** What an operation's work gets: its record (signal) and how to report bytes and its commit point. */
export interface OperationControl {
  readonly signal: AbortSignal;
  /** Bytes done so far, of totalBytes (never going down; larger values are capped). */
  progress(doneBytes: number): void;
  /** The last point where a cancel counts: call it right before publishing. Throws CANCELLED if cancelled already. */
  beginCommit(): void;
}

/** Which way a sharing method moves data: share and unshare write the store, export writes a local file. */
export function directionOf(operation: TransferOperation): TransferDirection {
  return operation === 'export' ? 'download' : 'upload';
}

/** The fields of a request run() reads. */
interface RunRequest {
  readonly name: string;
  readonly transferId?: string;
  readonly reservation?: TransferReservation;
  readonly groupId?: string;
  readonly inGroupSlot?: boolean;
  readonly resume?: { readonly resumed: ResumedTransfer };
}

/**
 * Small files of a group share a slot: a file of at most SMALL_FILE_BYTES
 * counts as 1/SMALL_FILES_PER_SLOT of one. A 4 KiB file's time is mostly
 * waits (its fsync, a publish, thread-pool round trips), not work; with only
 * maxConcurrentTransfers of them in flight, those waits follow each other.
 * Several in flight per slot overlap the waits (and their fsyncs can share
 * the file system's journal commits), while a large file still takes a whole
 * slot (docs/protocol.md, uploadFolder "One queue").
 */
export { SMALL_FILE_BYTES };
export const SMALL_FILES_PER_SLOT = 8;

/** A folder download's stored object up to this size is read whole, header and body at once (readSmallObject). */
const SMALL_OBJECT_READ_BYTES = 128 * 1024;

export interface TransferEngineOptions {
  readonly storage: Storage;
  readonly registry: TransferRegistry;
  /** Transfers running at once. Default 4. */
  readonly maxConcurrentTransfers?: number;
  /** Transfers allowed to wait beyond those running; more are refused with BUSY. Default 64. */
  readonly maxQueuedTransfers?: number;
  /** Parts in flight across all transfers (the shared queue's concurrency). Default 4. */
  readonly partConcurrency?: number;
  /** Format chunks per part, before raising to the backend's minimum part size. Default 16 (1 MiB). */
  readonly chunksPerPart?: number;
  readonly logger?: Logger;
  /** Journals new transfers so they can resume after a restart (resume.ts); without it nothing is journaled. */
  readonly checkpoints?: CheckpointFactory;
  /**
   * Keep V8's young generation from growing, process-wide, so the chunk
   * buffers Node's ciphers allocate are freed by scavenges (gc-tuning.ts).
   * Default false: a process-wide V8 flag is the host's choice (an Electron
   * main process embedding startCloudlocker() did not ask for it); the
   * `cloudlocker` command sets it itself, before loading anything.
   */
  readonly tuneGarbageCollection?: boolean;
  /** The stored formats it reads and writes. Default: storedFormats (crypto/formats.ts). */
  readonly formats?: FormatRegistry;
  /**
   * Worker threads that seal and open age payloads off the JavaScript
   * thread (crypto/payload-workers.ts). Default 0 (DEFAULT_PAYLOAD_WORKERS): none.
   */
  readonly payloadWorkers?: number;
}

export class TransferEngine {
  readonly registry: TransferRegistry;
  private readonly storage: Storage;
  private readonly transferQueue: PQueue;
  private readonly maxQueuedTransfers: number;
  private readonly uploads: UploadPipeline;
  private readonly downloads: DownloadPipeline;
  private readonly logger: Logger | undefined;
  private readonly checkpointFactory: CheckpointFactory | undefined;
  private readonly formats: FormatRegistry;
  private readonly payloadWorkers: PayloadWorkers | undefined;
  private closed = false;
  /** Transfers past their last cancellable step (publishing the object or the file). */
  private readonly committing = new Set<string>();
  /** Groups started and not yet settled; close() waits for them (they write their journal's last lines). */
  private readonly runningGroups = new Set<string>();
  private groupsIdle: (() => void) | undefined;
  /** Ids of requests still being checked, not yet transfers (see reserving()). */
  private readonly reservations = new Map<string, TransferReservation>();

  constructor(options: TransferEngineOptions) {
    this.storage = options.storage;
    this.registry = options.registry;
    this.transferQueue = new PQueue({ concurrency: options.maxConcurrentTransfers ?? 4 });
    this.maxQueuedTransfers = options.maxQueuedTransfers ?? 64;
    this.logger = options.logger;
    this.checkpointFactory = options.checkpoints;
    this.formats = options.formats ?? storedFormats;
    const workerCount = options.payloadWorkers ?? DEFAULT_PAYLOAD_WORKERS;
    this.payloadWorkers = workerCount === 0 ? undefined : new PayloadWorkers(workerCount);
    const context: PipelineContext = {
      storage: this.storage,
      registry: this.registry,
      formats: this.formats,
      parts: new PartScheduler(this.storage, options.partConcurrency ?? 4, options.chunksPerPart ?? 16, this.payloadWorkers),
      beginCommit: (record) => this.beginCommit(record),
    };
    this.uploads = new UploadPipeline(context);
    this.downloads = new DownloadPipeline(context);
    if (options.tuneGarbageCollection === true) keepYoungGenerationSmall();
  }

  /** Encrypt and store a local file. Resolves when the transfer has completed; rejects when it failed or was cancelled. */
  async upload(request: UploadRequest): Promise<UploadResult> {
    const checkpoints =
      request.resume?.checkpoints ??
      ((transferId: string) => (request.groupId === undefined ? this.checkpointFactory?.upload(transferId, request) : undefined));
    return this.run('upload', request, request.source.size, checkpoints, (record, journal) => this.uploads.run(record, request, journal));
  }

  /** Fetch, authenticate and decrypt a stored file into a local file. */
  async download(request: DownloadRequest): Promise<DownloadResult> {
    const sizes = (await this.readSmallObject(request)) ?? (await this.storedSizes(request.name));
    const checkpoints =
      request.resume?.checkpoints ??
      ((transferId: string) => (request.groupId === undefined ? this.checkpointFactory?.download(transferId, request, sizes) : undefined));
    return this.run('download', request, sizes.plaintextSize, checkpoints, (record, journal) => this.downloads.run(record, request, sizes, journal));
  }

  /**
   * A small object of the local store, as a listing said (a folder's file),
   * read whole in one read: its header and its body, and its size from what
   * was read (no stat, no second open for the body). Undefined when it turns
   * out larger than SMALL_OBJECT_READ_BYTES: the caller then goes the usual way.
   */
  private async readSmallObject(request: DownloadRequest): Promise<StoredSizes | undefined> {
    const listed = request.listedStoredSize;
    if (listed === undefined || listed > SMALL_OBJECT_READ_BYTES || this.storage.kind !== 'local') return undefined;
    const storedBytes = await this.storage.readRange(request.name, 0, SMALL_OBJECT_READ_BYTES + 1);
    if (storedBytes.length > SMALL_OBJECT_READ_BYTES) return undefined;
    const storedSize = storedBytes.length;
    const header = await this.formats.readHeader(async (position, length) => storedBytes.subarray(position, position + length));
    const plaintextSize = this.formats.plaintextSizeFromStoredSize(storedSize) ?? header.layout.plaintextSizeFor(storedSize);
    return { storedSize, plaintextSize, header, storedBytes };
  }

  /** A stored object's sizes from a stat (and its header, when the formats need it for the plaintext size). */
  private async storedSizes(name: string): Promise<StoredSizes> {
    const info = await this.storage.stat(name);
    // From the stored size alone when the formats allow it (v1: a fixed header); otherwise from the header.
    const fromSize = this.formats.plaintextSizeFromStoredSize(info.storedSize);
    const header =
      fromSize === undefined
        ? await this.formats.readHeader((position, length) => this.storage.readRange(name, position, length))
        : undefined;
    const size = fromSize ?? header!.layout.plaintextSizeFor(info.storedSize);
    return { storedSize: info.storedSize, plaintextSize: size, ...(header === undefined ? {} : { header }) };
  }

  /**
   * Run shareFile, unshareFile or exportFile as a transfer under its
   * request's reservation: listed and notified (with `operation`), admitted
   * by the same cap and concurrency as uploads and downloads, cancellable
   * until `beginCommit()`. Never journaled: each is safe to redo after a
   * crash (the store or the destination keeps the old object or gets the
   * new one whole; temporaries are swept at the next start), so a restart
   * forgets it rather than resuming it (docs/protocol.md).
   */
  async operation<R extends TransferResult>(request: OperationRequest, work: (control: OperationControl) => Promise<R>): Promise<R> {
    const direction = directionOf(request.operation);
    return this.run(direction, request, request.totalBytes, undefined, async (record) => {
      let done = 0;
      const control: OperationControl = {
        signal: record.signal,
        progress: (doneBytes) => {
          const next = Math.min(record.totalBytes, doneBytes);
          if (next <= done) return;
          this.registry.addProgress(record, { cryptoBytes: next - done, transferredBytes: next - done });
          done = next;
        },
        beginCommit: () => this.beginCommit(record),
      };
      return work(control);
    }, request.operation);
  }

  /**
   * Reserve a request's transferId (a random one if it has none) and run
   * `prepare`: the request's checks, ending with upload() or download()
   * given the reservation. The id is held before anything is awaited, so a
   * cancelTransfer sent right after the request finds it although the
   * checks (key file, source, store) take a while: it used to answer
   * NOT_FOUND, and the transfer then ran to the end. A second request with
   * the id is refused meanwhile. A request cancelled before its transfer
   * started answers CANCELLED and is listed as a cancelled transfer.
   */
  async reserving<R>(
    direction: TransferDirection,
    requestedId: string | undefined,
    name: string,
    prepare: (reservation: TransferReservation) => Promise<R>,
    /** shareFile, unshareFile or exportFile: listed with it even when cancelled before it started. */
    operation?: TransferOperation,
  ): Promise<R> {
    const transferId = requestedId ?? randomUUID();
    this.refuseIdInUse(transferId, undefined, undefined);
    const reservation: TransferReservation = { transferId, direction, name, abortController: new AbortController() };
    this.reservations.set(transferId, reservation);
    try {
      return await prepare(reservation);
    } catch (err) {
      // A transfer that started answers for itself; this request failed before (its checks, or refused).
      const started = this.reservations.get(transferId) !== reservation;
      if (started || !reservation.abortController.signal.aborted) throw err;
      const record = this.registry.create(transferId, direction, name, 0, undefined, operation === undefined ? undefined : { operation });
      this.registry.finish(record, 'cancelled', { error: toErrorObject(new CloudlockerError('CANCELLED')) });
      this.logger?.child({ transferId, direction }).info('transfer cancelled before it started');
      throw new CloudlockerError('CANCELLED');
    } finally {
      if (this.reservations.get(transferId) === reservation) this.reservations.delete(transferId);
    }
  }

  /** Transfers that may run at once: how many files a group keeps in the queue. */
  get concurrentTransfers(): number {
    return this.transferQueue.concurrency;
  }

  /**
   * Run `work` (a group's small files, up to SMALL_FILES_PER_SLOT at a time,
   * each started with `inGroupSlot`) in one of the maxConcurrentTransfers slots, queued behind
   * the transfers that wait for one (so a group cannot starve them), and
   * holding it until `work` has settled. Cancelled (`signal`) while it
   * waits: leaves the queue and rejects at once; once started, the slot is
   * freed only when `work` has settled (its files cleaned up).
   */
  inSharedSlot<R>(signal: AbortSignal, work: () => Promise<R>): Promise<R> {
    if (this.closed) return Promise.reject(new CloudlockerError('BUSY', 'The server is shutting down: try again once it has restarted.'));
    let started = false;
    return this.queueForSlot(signal, () => !started, async () => {
      started = true;
      signal.throwIfAborted();
      return work();
    });
  }

  /**
   * Start a transfer group (uploadFolder) under its request's reservation:
   * admitted like one transfer (BUSY past maxQueuedTransfers counts it once),
   * listed at once, and cancelled through its record's signal, which the
   * group hands on to its files. The caller runs the files and finishes it.
   */
  startGroup(
    reservation: TransferReservation,
    totalBytes: number,
    filesTotal: number,
    options: {
      /** A group resumed after a restart: it replaces its 'interrupted' record, its counters go on from its earlier runs'. */
      resumed?: { startedAt: number; doneBytes: number; filesDone: number; filesFailed: number };
      /** Journaled: a shutdown interrupts it (to resume) instead of cancelling it. */
      resumable?: boolean;
    } = {},
  ): TransferRecord {
    if (this.closed) throw new CloudlockerError('BUSY', 'The server is shutting down: try again once it has restarted.');
    if (this.transferQueue.size >= this.maxQueuedTransfers) throw new CloudlockerError('BUSY');
    const { resumed } = options;
    if (resumed === undefined) this.refuseIdInUse(reservation.transferId, undefined, reservation);
    const record = this.registry.create(reservation.transferId, reservation.direction, reservation.name, totalBytes, resumed, {
      group: { filesTotal, ...(resumed === undefined ? {} : { filesDone: resumed.filesDone, filesFailed: resumed.filesFailed }) },
    });
    record.abortController = reservation.abortController;
    record.resumable = options.resumable === true;
    this.reservations.delete(reservation.transferId);
    this.runningGroups.add(reservation.transferId);
    this.registry.setRunning(record);
    return record;
  }

  /**
   * Journal a group about to start (uploadFolder, downloadFolder), so that it
   * resumes after a restart; undefined when there is no journal or it cannot
   * be written (the group then runs, only not resumably, as a transfer does).
   */
  async journalGroup(transferId: string, request: GroupJournalRequest): Promise<GroupCheckpoints | undefined> {
    const log = this.logger?.child({ transferId, direction: request.direction });
    const make = this.checkpointFactory?.group?.bind(this.checkpointFactory);
    return make === undefined ? undefined : journalOrNothing((id) => make(id, request), transferId, log);
  }

  /** A group has settled (finished or interrupted): close() no longer waits for it. */
  groupSettled(transferId: string): void {
    this.runningGroups.delete(transferId);
    if (this.runningGroups.size === 0) this.groupsIdle?.();
  }

  /** Cancel a queued or running transfer, or one whose request is still being checked. `cancelled` is false when it had already finished. */
  cancel(transferId: string): { transferId: string; cancelled: boolean } {
    const record = this.registry.get(transferId);
    const reservation = this.reservations.get(transferId);
    if (record === undefined && reservation !== undefined) {
      // Its request is still being checked: the transfer will start cancelled.
      reservation.abortController.abort(new CloudlockerError('CANCELLED'));
      return { transferId, cancelled: true };
    }
    if (record === undefined) {
      throw new CloudlockerError('NOT_FOUND', 'No transfer has that id: it may have finished and been acknowledged, or finished more than a day ago.');
    }
    // Once publishing has begun the transfer completes: saying "cancelled" would be untrue.
    if (record.finished || this.committing.has(transferId)) return { transferId, cancelled: false };
    record.abortController.abort(new CloudlockerError('CANCELLED'));
    return { transferId, cancelled: true };
  }

  /**
   * Stop everything and wait for the work to stop (server shutdown).
   * Journaled transfers are interrupted, keeping what they have done, to
   * resume at the next start; the others are cancelled.
   */
  async close(): Promise<void> {
    this.closed = true;
    const active = this.registry
      .list()
      .transfers.filter(({ state }) => state === 'queued' || state === 'running')
      .map(({ transferId }) => this.registry.get(transferId))
      .filter((record): record is TransferRecord => record !== undefined);
    // Journaled ones first: a journaled group hands its interruption on to its
    // members, which must not be cancelled before (the group would log them failed).
    for (const record of active) {
      if (record.resumable && !this.committing.has(record.transferId)) record.abortController.abort(new TransferInterruption());
    }
    for (const record of active) {
      if (!record.signal.aborted) this.cancel(record.transferId);
    }
    const groupsSettled =
      this.runningGroups.size === 0 ? Promise.resolve() : new Promise<void>((resolve) => (this.groupsIdle = resolve));
    await this.transferQueue.onIdle();
    await groupsSettled;
    await this.payloadWorkers?.close();
  }

  private async run<R extends TransferResult, C extends TransferCheckpoints>(
    direction: TransferDirection,
    request: RunRequest,
    totalBytes: number,
    checkpointsOf: C | undefined | ((transferId: string) => Promise<C | undefined> | undefined),
    work: (record: TransferRecord, checkpoints: C | undefined) => Promise<R>,
    operation?: TransferOperation,
  ): Promise<R> {
    const { name, reservation } = request;
    const resumed = request.resume?.resumed;
    if (this.closed) throw new CloudlockerError('BUSY', 'The server is shutting down: try again once it has restarted.');
    const transferId = reservation?.transferId ?? request.transferId ?? randomUUID();
    this.refuseIdInUse(transferId, resumed, reservation);
    const groupId = request.groupId;
    // A group's files do not count: the group admitted itself once and feeds them a few at a time.
    if (groupId === undefined && this.transferQueue.size >= this.maxQueuedTransfers) throw new CloudlockerError('BUSY');

    // A small file of a group starts at once in the slot its group holds (inSharedSlot): running from the first notification.
    const inGroupSlot = groupId !== undefined && request.inGroupSlot === true;
    const record = this.registry.create(
      transferId,
      direction,
      name,
      totalBytes,
      resumed,
      groupId !== undefined ? { groupId, running: inGroupSlot } : operation !== undefined ? { operation } : undefined,
    );
    if (reservation !== undefined) {
      // The transfer takes over its reservation, and with it a cancel that came while its request was checked.
      record.abortController = reservation.abortController;
      this.reservations.delete(transferId);
    }
    // A folder group's files log at debug level, with their groupId: the group itself is the transfer the
    // user asked for, and two info lines per file (a child logger each) cost a 10 000-file folder ~5 % of its time.
    const log = groupId === undefined ? this.logger?.child({ transferId, direction }) : this.memberLogger(transferId, direction, groupId);
    log?.info({ totalBytes, resumedFrom: resumed?.doneBytes }, resumed === undefined ? 'transfer queued' : 'transfer resumed');
    let checkpoints: C | undefined;
    try {
      // Cancelled while its request was checked: nothing to journal or run.
      record.signal.throwIfAborted();
      checkpoints = typeof checkpointsOf === 'function' ? await journalOrNothing(checkpointsOf, transferId, log) : checkpointsOf;
      record.resumable = checkpoints !== undefined;
      const start = async (): Promise<R> => {
        this.registry.setRunning(record);
        return work(record, checkpoints);
      };
      // A small file of a group runs in the slot its group holds for it (inSharedSlot).
      const result = inGroupSlot ? await start() : await this.whenSlotFree(record, start);
      // Only uploads and downloads are journaled (operations pass no checkpoints).
      await checkpoints?.finish('completed', { result: result as UploadResult | DownloadResult }).catch((err: unknown) => log?.warn({ err: errorForLog(err) }, 'journal not updated'));
      this.registry.finish(record, 'completed', { result });
      log?.info('transfer completed');
      return result;
    } catch (err) {
      if (checkpoints !== undefined && isInterruption(record.signal)) {
        // Kept, journal and partial data alike, to resume at the next start.
        this.registry.interrupt(record);
        log?.info('transfer interrupted');
        throw new CloudlockerError('CANCELLED', 'The server is shutting down: the transfer resumes when it starts again.', {
          details: { interrupted: true },
        });
      }
      const error = record.signal.aborted ? new CloudlockerError('CANCELLED') : err;
      const errorObject: ErrorObject = toErrorObject(error);
      const outcome = record.signal.aborted ? 'cancelled' : 'failed';
      await checkpoints?.finish(outcome, { error: errorObject }).catch((journalError: unknown) =>
        log?.warn({ err: errorForLog(journalError) }, 'journal not updated'),
      );
      this.registry.finish(record, outcome, { error: errorObject });
      if (outcome === 'cancelled') log?.info('transfer cancelled');
      else log?.warn({ err: errorForLog(err), reason: errorObject.data?.['reason'] }, 'transfer failed');
      throw error;
    } finally {
      this.committing.delete(transferId);
    }
  }

  /** Only a resume may take the id of an interrupted transfer, and only its own reservation a reserved one. */
  private refuseIdInUse(transferId: string, resumed: ResumedTransfer | undefined, reservation: TransferReservation | undefined): void {
    const existing = this.registry.get(transferId);
    const reserved = this.reservations.get(transferId);
    if (
      (existing !== undefined && !(resumed !== undefined && existing.state === 'interrupted')) ||
      (reserved !== undefined && reserved !== reservation)
    ) {
      throw new InvalidParamsError('transferId is already in use: choose another or leave it out.', 'transferId');
    }
  }

  /**
   * Run `work` once one of the maxConcurrentTransfers slots is free. A
   * transfer cancelled while it waits is answered at once and leaves the
   * queue. (The transfer's own signal is not handed to p-queue, which would
   * free the slot while cancelled work still cleans up.)
   */
  private async whenSlotFree<R>(record: TransferRecord, work: () => Promise<R>): Promise<R> {
    return this.queueForSlot(record.signal, () => record.state === 'queued', async () => {
      record.signal.throwIfAborted();
      return work();
    });
  }

  /** whenSlotFree for any waiter: `signal` dequeues it while `waiting()` says it has not started. */
  private async queueForSlot<R>(signal: AbortSignal, waiting: () => boolean, work: () => Promise<R>): Promise<R> {
    // Fires only while the transfer waits, so p-queue drops it from the queue
    // (it no longer counts towards BUSY) but never frees a running slot early.
    const dequeue = new AbortController();
    let onAbort: (() => void) | undefined;
    const cancelledWhileQueued = new Promise<never>((_, reject) => {
      onAbort = () => {
        if (!waiting()) return;
        dequeue.abort(signal.reason);
        reject(signal.reason);
      };
      if (signal.aborted) onAbort();
      else signal.addEventListener('abort', onAbort, { once: true });
    });
    const queued = this.transferQueue.add(work, { signal: dequeue.signal });
    // Whichever loses the race must not become an unhandled rejection.
    queued.catch(() => undefined);
    cancelledWhileQueued.catch(() => undefined);
    try {
      return await Promise.race([queued, cancelledWhileQueued]);
    } finally {
      // A group's signal sees one waiter per slot it takes: listeners must not pile up on it.
      signal.removeEventListener('abort', onAbort!);
    }
  }

  /** The last point where a cancel still counts; from here on the transfer publishes its result. */
  private beginCommit(record: TransferRecord): void {
    record.signal.throwIfAborted();
    this.committing.add(record.transferId);
  }

  /** A group member's log: its info lines at debug level (its warnings stay warnings); no child logger unless one is written. */
  private memberLogger(transferId: string, direction: TransferDirection, groupId: string): TransferLog | undefined {
    const logger = this.logger;
    if (logger === undefined) return undefined;
    let child: Logger | undefined;
    const log = () => (child ??= logger.child({ transferId, direction, groupId }));
    return {
      info: (...args: Parameters<Logger['info']>) => {
        if (logger.isLevelEnabled('debug')) log().debug(...args);
      },
      warn: (...args: Parameters<Logger['warn']>) => log().warn(...args),
    };
  }

}

/** What a transfer logs through. */
type TransferLog = Pick<Logger, 'info' | 'warn'>;

/** A transfer whose journal entry cannot be written still runs, only not resumably. */
async function journalOrNothing<C>(
  make: (transferId: string) => Promise<C | undefined> | undefined,
  transferId: string,
  log: TransferLog | undefined,
): Promise<C | undefined> {
  try {
    return await make(transferId);
  } catch (err) {
    log?.warn({ err: errorForLog(err) }, 'transfer not journaled: it cannot resume after a restart');
    return undefined;
  }
}

/** What of an error may go to the log: its kind and code, never a message that might carry a path. */
function errorForLog(err: unknown): Record<string, unknown> {
  if (err instanceof CloudlockerError) return { type: err.name, reason: err.reason };
  if (err instanceof Error) return { type: err.name, code: (err as { code?: unknown }).code, stack: err.stack };
  return { type: typeof err };
}
