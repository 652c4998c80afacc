/**
 * The registry of transfers: their TransferStatus, the server-wide
 * notification sequence, throttled progress and exactly one finish event per
 * transfer. The server subscribes to its events and fans them out; it never
 * changes a seq, so `listTransfers({ sinceSeq })` and the notifications agree.
 */
import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'eventemitter3';
import type {
  ErrorObject,
  TransferDirection,
  TransferFinishedParams,
  TransferOperation,
  TransferOutcome,
  TransferProgressParams,
  TransferState,
  TransferStatus,
  UploadResult,
  DownloadResult,
  UploadFolderResult,
  DownloadFolderResult,
  DeleteProgressParams,
  ShareFileResult,
  UnshareFileResult,
  ExportFileResult,
} from '../../protocol/index.js';
import { RateMeter } from './rate-meter.js';

/** What a completed transfer answered (and lists as its result). */
export type TransferResult =
  | UploadResult
  | DownloadResult
  | UploadFolderResult
  | DownloadFolderResult
  | ShareFileResult
  | UnshareFileResult
  | ExportFileResult;

export interface TransferEvents {
  transferProgress: (params: TransferProgressParams) => void;
  transferFinished: (params: TransferFinishedParams) => void;
  /** A folder deletion's progress (deleteFile recursive: delete-file.ts); not a transfer, so no seq. */
  deleteProgress: (params: DeleteProgressParams) => void;
}

export interface TransferRegistryOptions {
  /** Least time between two progress notifications of one transfer. Default 100 ms. */
  readonly progressIntervalMs?: number;
  /** How long finished transfers stay listed. Default 10 minutes (the contract's minimum). */
  readonly retentionMs?: number;
  /** Most finished transfers kept listed, whatever their age; the oldest go first. Default 10 000. */
  readonly maxFinishedKept?: number;
  /** Clock, injectable for tests. */
  readonly now?: () => number;
  /** The server instance's id; default a random UUID. */
  readonly instanceId?: string;
}

/** What every finished transfer's signal becomes: aborted, so no work can start under it. */
const FINISHED_CONTROLLER = new AbortController();
FINISHED_CONTROLLER.abort();

/** The mutable record behind one TransferStatus. */
export class TransferRecord {
  state: TransferState = 'queued';
  totalBytes: number;
  cryptoBytes = 0;
  transferredBytes = 0;
  error: ErrorObject | undefined;
  /** A completed transfer's result (stored name, size, key path...), listed so that a client that was away learns it. */
  result: TransferResult | undefined;
  finishedAt: number | undefined;
  /** seq of the last notification about this transfer. */
  lastSeq = 0;
  /** Replaced by an already-aborted, shared controller once the transfer has finished (see release()). */
  abortController = new AbortController();
  readonly rate: RateMeter;

  /** Counters as last notified, to send nothing when nothing changed. */
  notifiedState: TransferState | undefined;
  notifiedCryptoBytes = -1;
  notifiedTransferredBytes = -1;
  lastNotifiedAt = 0;
  progressTimer: ReturnType<typeof setTimeout> | undefined;
  /** Journaled: a shutdown interrupts it (to resume later) instead of cancelling it. */
  resumable = false;
  /** A transfer group (uploadFolder): its files' counters. */
  group: { filesTotal: number; filesDone: number; filesFailed: number; currentFile?: string } | undefined;
  /** The group this transfer is one file of. */
  groupId: string | undefined;
  /** shareFile, unshareFile or exportFile running as a transfer; undefined for upload and download. */
  operation: TransferOperation | undefined;

  constructor(
    readonly transferId: string,
    readonly direction: TransferDirection,
    readonly name: string,
    totalBytes: number,
    readonly startedAt: number,
    now: () => number,
  ) {
    this.totalBytes = totalBytes;
    this.rate = new RateMeter(now);
  }

  /**
   * Drop what only a running transfer needs. Finished transfers stay listed
   * for a day, and a live AbortController (with the signals derived from it)
   * costs about 3 KiB each: thousands of them are megabytes for nothing.
   */
  release(): void {
    this.abortController = FINISHED_CONTROLLER;
    this.rate.reset();
  }

  get signal(): AbortSignal {
    return this.abortController.signal;
  }

  get finished(): boolean {
    return this.state === 'completed' || this.state === 'failed' || this.state === 'cancelled';
  }

  toStatus(): TransferStatus {
    const bytesPerSecond = this.finished ? 0 : this.rate.bytesPerSecond();
    const remaining = this.totalBytes - Math.min(this.cryptoBytes, this.transferredBytes);
    const etaSeconds = this.finished ? 0 : bytesPerSecond > 0 ? remaining / bytesPerSecond : null;
    return {
      transferId: this.transferId,
      direction: this.direction,
      name: this.name,
      state: this.state,
      totalBytes: this.totalBytes,
      cryptoBytes: this.cryptoBytes,
      transferredBytes: this.transferredBytes,
      bytesPerSecond: Math.round(bytesPerSecond),
      etaSeconds: etaSeconds === null ? null : Math.round(etaSeconds * 10) / 10,
      ...(this.error === undefined ? {} : { error: this.error }),
      ...(this.result === undefined ? {} : { result: this.result }),
      ...(this.group === undefined ? {} : { group: { ...this.group } }),
      ...(this.groupId === undefined ? {} : { groupId: this.groupId }),
      ...(this.operation === undefined ? {} : { operation: this.operation }),
      startedAt: new Date(this.startedAt).toISOString(),
      ...(this.finishedAt === undefined ? {} : { finishedAt: new Date(this.finishedAt).toISOString() }),
    };
  }
}

export class TransferRegistry extends EventEmitter<TransferEvents> {
  /**
   * New at every start of the server (listTransfers' instanceId): a client
   * that sees it change knows the server restarted, whatever the seqs say.
   */
  readonly instanceId: string;
  private readonly transfers = new Map<string, TransferRecord>();
  private seq = 0;
  /** Least time between two progress notifications of one transfer (or folder deletion). */
  readonly progressIntervalMs: number;
  private readonly retentionMs: number;
  private readonly maxFinishedKept: number;
  private readonly now: () => number;
  /**
   * Bounds that let prune() skip its walk over every record: at least as many
   * finished records as are held, and at most the oldest one's finishedAt.
   * prune() runs on every get/has/create/list, so without them a group of
   * 10 000 small files cost 10 000 walks of up to 10 000 records.
   */
  private finishedAtMost = 0;
  private oldestFinishedAtLeast = Number.POSITIVE_INFINITY;

  constructor(options: TransferRegistryOptions = {}) {
    super();
    this.progressIntervalMs = options.progressIntervalMs ?? 100;
    this.retentionMs = options.retentionMs ?? 10 * 60 * 1000;
    this.maxFinishedKept = options.maxFinishedKept ?? 10_000;
    this.now = options.now ?? Date.now;
    this.instanceId = options.instanceId ?? randomUUID();
  }

  get currentSeq(): number {
    return this.seq;
  }

  has(transferId: string): boolean {
    this.prune();
    return this.transfers.has(transferId);
  }

  get(transferId: string): TransferRecord | undefined {
    this.prune();
    return this.transfers.get(transferId);
  }

  /**
   * A new transfer, or a resumed one (`resumed`: it keeps its start time and
   * its counters start at the bytes already done; it replaces the
   * 'interrupted' record of the same id, and its seq keeps rising).
   */
  create(
    transferId: string,
    direction: TransferDirection,
    name: string,
    totalBytes: number,
    resumed?: { startedAt: number; doneBytes: number },
    membership?: {
      groupId?: string;
      group?: { filesTotal: number; filesDone?: number; filesFailed?: number };
      operation?: TransferOperation;
      /**
       * It starts at once, in a slot its group already holds (a small file of
       * a folder): listed and first notified as running, never as queued, so
       * each such file costs one notification fewer (setRunning then finds
       * nothing changed and sends none).
       */
      running?: boolean;
    },
  ): TransferRecord {
    this.prune();
    const record = new TransferRecord(transferId, direction, name, totalBytes, resumed?.startedAt ?? this.now(), this.now);
    if (membership?.running === true) {
      record.state = 'running';
      record.rate.start();
    }
    record.groupId = membership?.groupId;
    record.operation = membership?.operation;
    if (membership?.group !== undefined) {
      const { filesTotal, filesDone, filesFailed } = membership.group;
      record.group = { filesTotal, filesDone: filesDone ?? 0, filesFailed: filesFailed ?? 0 };
    }
    if (resumed !== undefined) {
      record.cryptoBytes = Math.min(totalBytes, resumed.doneBytes);
      record.transferredBytes = record.cryptoBytes;
    }
    this.transfers.set(transferId, record);
    this.notifyProgress(record);
    return record;
  }

  /**
   * A transfer known from the journal after a restart: 'interrupted' (not
   * running; resumable) or finished with its outcome. No notification: the
   * clients of the earlier run learn of it through listTransfers.
   */
  restore(status: {
    transferId: string;
    direction: TransferDirection;
    name: string;
    totalBytes: number;
    doneBytes: number;
    startedAt: number;
    state: 'interrupted' | TransferOutcome;
    finishedAt?: number;
    error?: ErrorObject;
    result?: TransferResult;
    /** A transfer group's file counters (from its log). */
    group?: { filesTotal: number; filesDone: number; filesFailed: number };
  }): TransferRecord {
    const record = new TransferRecord(status.transferId, status.direction, status.name, status.totalBytes, status.startedAt, this.now);
    record.state = status.state;
    record.cryptoBytes = Math.min(status.totalBytes, status.doneBytes);
    record.transferredBytes = record.cryptoBytes;
    record.finishedAt = status.finishedAt;
    if (status.finishedAt !== undefined) this.noteFinished(status.finishedAt);
    record.error = status.error;
    record.result = status.state === 'completed' ? status.result : undefined;
    record.resumable = status.state === 'interrupted';
    if (status.group !== undefined) record.group = { ...status.group };
    // Listed to any sinceSeq, including 0: it changed before every seq of this run.
    record.lastSeq = Math.max(1, this.seq);
    this.transfers.set(status.transferId, record);
    return record;
  }

  /** A running transfer stopped by a shutdown (or a failed resume attempt): it waits, 'interrupted', to resume. */
  interrupt(record: TransferRecord): void {
    if (record.finished) return;
    if (record.progressTimer !== undefined) clearTimeout(record.progressTimer);
    record.progressTimer = undefined;
    record.state = 'interrupted';
    this.notifyProgress(record);
  }

  /** Forget a finished or interrupted transfer (acknowledged, or cleaned up). */
  remove(transferId: string): boolean {
    const record = this.transfers.get(transferId);
    if (record === undefined || !(record.finished || record.state === 'interrupted')) return false;
    if (record.progressTimer !== undefined) clearTimeout(record.progressTimer);
    return this.transfers.delete(transferId);
  }

  /** Transfers (running and recently finished) whose last notification is after sinceSeq. */
  list(sinceSeq = 0): { seq: number; instanceId: string; transfers: TransferStatus[] } {
    this.prune();
    const transfers = [...this.transfers.values()].filter((t) => t.lastSeq > sinceSeq).map((t) => t.toStatus());
    return { seq: this.seq, instanceId: this.instanceId, transfers };
  }

  setRunning(record: TransferRecord): void {
    record.state = 'running';
    record.rate.start();
    this.notifyProgress(record);
  }

  /** A group's file counters changed (a file started or finished): notified with the next progress. */
  updateGroup(record: TransferRecord, change: { fileStarted?: string; fileDone?: boolean; fileFailed?: boolean }): void {
    if (record.finished || record.group === undefined) return;
    if (change.fileStarted !== undefined) record.group.currentFile = change.fileStarted;
    if (change.fileDone === true) record.group.filesDone += 1;
    if (change.fileFailed === true) record.group.filesFailed += 1;
    // Counters that move only in files still deserve a notification.
    if (change.fileDone === true) record.notifiedCryptoBytes = -1;
    this.scheduleProgress(record);
  }

  /** Count bytes; notifies at most once per progressIntervalMs. Counters never go down. */
  addProgress(record: TransferRecord, counters: { cryptoBytes?: number; transferredBytes?: number }): void {
    if (record.finished) return;
    if (counters.cryptoBytes) record.cryptoBytes = Math.min(record.totalBytes, record.cryptoBytes + counters.cryptoBytes);
    if (counters.transferredBytes) {
      record.transferredBytes = Math.min(record.totalBytes, record.transferredBytes + counters.transferredBytes);
      record.rate.record(counters.transferredBytes);
    }
    this.scheduleProgress(record);
  }

  finish(
    record: TransferRecord,
    outcome: TransferOutcome,
    detail: { result?: TransferResult; error?: ErrorObject } = {},
  ): void {
    if (record.finished) return;
    if (record.progressTimer !== undefined) clearTimeout(record.progressTimer);
    record.progressTimer = undefined;
    if (outcome === 'completed') {
      // The contract: a last progress with both counters at totalBytes precedes transferFinished.
      record.cryptoBytes = record.totalBytes;
      record.transferredBytes = record.totalBytes;
    }
    record.state = outcome;
    record.finishedAt = this.now();
    // A group's member is forgotten once finished (below): it never counts among the finished kept.
    if (record.groupId === undefined) this.noteFinished(record.finishedAt);
    record.error = detail.error;
    record.result = outcome === 'completed' ? detail.result : undefined;
    if (record.group !== undefined) delete record.group.currentFile;
    this.notifyProgress(record);
    const params: TransferFinishedParams = {
      seq: this.nextSeq(record),
      transferId: record.transferId,
      direction: record.direction,
      name: record.name,
      ...(record.operation === undefined ? {} : { operation: record.operation }),
      outcome,
      ...(detail.result === undefined ? {} : { result: detail.result }),
      ...(detail.error === undefined ? {} : { error: detail.error }),
    };
    this.emit('transferFinished', params);
    record.release();
    // A group's member is not kept once finished: its group holds what it came to (the counters,
    // the bytes, `failed`), and a 10 000-file group would otherwise keep 10 000 records listed.
    if (record.groupId !== undefined && this.transfers.get(record.transferId) === record) this.transfers.delete(record.transferId);
  }

  private scheduleProgress(record: TransferRecord): void {
    if (record.progressTimer !== undefined) return;
    const wait = record.lastNotifiedAt + this.progressIntervalMs - this.now();
    if (wait <= 0) {
      this.notifyProgress(record);
      return;
    }
    record.progressTimer = setTimeout(() => {
      record.progressTimer = undefined;
      if (!record.finished) this.notifyProgress(record);
    }, wait);
    record.progressTimer.unref?.();
  }

  private notifyProgress(record: TransferRecord): void {
    const unchanged =
      record.notifiedState === record.state &&
      record.notifiedCryptoBytes === record.cryptoBytes &&
      record.notifiedTransferredBytes === record.transferredBytes;
    if (unchanged) return;
    record.notifiedState = record.state;
    record.notifiedCryptoBytes = record.cryptoBytes;
    record.notifiedTransferredBytes = record.transferredBytes;
    record.lastNotifiedAt = this.now();
    const status = record.toStatus();
    this.emit('transferProgress', { ...status, seq: this.nextSeq(record) });
  }

  /**
   * A seq for a notification that is not about a transfer (identityChanged):
   * one sequence for every notification, so a client orders them all, and
   * one that reconnects replays those above its listing's seq.
   */
  takeSeq(): number {
    this.seq += 1;
    return this.seq;
  }

  private nextSeq(record: TransferRecord): number {
    this.seq += 1;
    record.lastSeq = this.seq;
    return this.seq;
  }

  /** Forget finished transfers older than the retention time. */
  private noteFinished(at: number): void {
    this.finishedAtMost += 1;
    if (at < this.oldestFinishedAtLeast) this.oldestFinishedAtLeast = at;
  }

  private prune(): void {
    const cutoff = this.now() - this.retentionMs;
    // Nothing can be due: within the cap and none old enough (the bounds are loose, never too tight).
    if (this.finishedAtMost <= this.maxFinishedKept && this.oldestFinishedAtLeast >= cutoff) return;
    let finished = 0;
    for (const [id, record] of this.transfers) {
      if (record.finishedAt === undefined) continue;
      if (record.finishedAt < cutoff) this.transfers.delete(id);
      else finished += 1;
    }
    // Beyond the cap the oldest finished go first (the map keeps creation order), so memory stays bounded.
    for (const [id, record] of this.transfers) {
      if (finished <= this.maxFinishedKept) break;
      if (record.finishedAt === undefined) continue;
      this.transfers.delete(id);
      finished -= 1;
    }
    this.finishedAtMost = finished;
    this.oldestFinishedAtLeast = Number.POSITIVE_INFINITY;
    for (const record of this.transfers.values()) {
      if (record.finishedAt !== undefined && record.finishedAt < this.oldestFinishedAtLeast) this.oldestFinishedAtLeast = record.finishedAt;
    }
  }

}
