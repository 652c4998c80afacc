/**
 * What the client knows of transfers: its own, waiting for their outcome
 * (PendingTransfer), every transfer seen queued or running on the service
 * (for a 'lost' report after a restart), and the ids already reported
 * finished (to drop the duplicate a resync may bring). The client
 * (client.ts) sends the requests and the events; this keeps the books.
 */
import {
  ApplicationErrors,
  JsonRpcErrorCode,
  type DownloadResult,
  type ProtocolError,
  type TransferDirection,
  type TransferFinishedParams,
  type TransferProgressParams,
  type TransferStatus,
  type UploadResult,
} from '../../protocol/index.js';
import { RpcError, isRpcError } from './errors.js';

/**
 * A transfer that completed while the client was disconnected: its outcome
 * came from `listTransfers`, which does not carry the method's full result.
 */
export interface RecoveredTransferResult {
  readonly recovered: true;
  readonly transferId: string;
  readonly name: string;
  /** Plaintext bytes. */
  readonly size: number;
}

export type UploadOutcome = UploadResult | RecoveredTransferResult;
export type DownloadOutcome = DownloadResult | RecoveredTransferResult;

export interface PendingTransfer {
  readonly transferId: string;
  readonly direction: TransferDirection;
  readonly resolve: (result: UploadOutcome | DownloadOutcome) => void;
  readonly reject: (error: Error) => void;
  readonly onProgress: ((progress: TransferProgressParams) => void) | undefined;
  /** Its request was sent on a connection that has since closed: only notifications or a resync can settle it. */
  orphaned: boolean;
  cancelWanted: boolean;
  cancelInFlight: boolean;
  /** cancelTransfer answered NOT_FOUND before the service had registered the transfer: try again at its first notification. */
  cancelAtNextNotification: boolean;
  detachSignal: () => void;
}

/** Transfer ids already reported finished, to drop the duplicate a resync may bring; bounded. */
const MAX_REMEMBERED_FINISHED = 10_000;

export const FINISHED_STATES: ReadonlySet<string> = new Set(['completed', 'failed', 'cancelled']);

export class TransferBook {
  /** This client's transfers, waiting for their outcome. */
  readonly waiting = new Map<string, PendingTransfer>();
  /** Transfers seen queued or running and not yet finished, with what a 'lost' report needs. */
  readonly active = new Map<string, { direction: TransferDirection; name: string }>();
  private readonly reportedFinished = new Set<string>();

  /** Settle a waiting transfer once; a transfer already settled (or replaced) is left alone. */
  settle(transfer: PendingTransfer, outcome: UploadOutcome | DownloadOutcome | Error): void {
    if (this.waiting.get(transfer.transferId) !== transfer) return;
    this.waiting.delete(transfer.transferId);
    transfer.detachSignal();
    if (outcome instanceof Error) transfer.reject(outcome);
    else transfer.resolve(outcome);
  }

  settleAll(error: Error): void {
    for (const transfer of [...this.waiting.values()]) this.settle(transfer, error);
  }

  orphanedIds(): string[] {
    return [...this.waiting.values()].filter((transfer) => transfer.orphaned).map((transfer) => transfer.transferId);
  }

  /** Transfers the client knows unfinished: a resync must account for each. */
  unfinishedIds(): string[] {
    return [...new Set([...this.active.keys(), ...this.orphanedIds()])];
  }

  trackActive(status: Pick<TransferStatus, 'transferId' | 'direction' | 'name' | 'state'>): void {
    if (FINISHED_STATES.has(status.state)) return;
    this.active.set(status.transferId, { direction: status.direction, name: status.name });
  }

  /** Record a finish; false when it was reported already (the duplicate a resync brings). */
  noteFinished(transferId: string): boolean {
    this.active.delete(transferId);
    if (this.reportedFinished.has(transferId)) return false;
    this.rememberFinished(transferId);
    return true;
  }

  rememberFinished(transferId: string): void {
    this.reportedFinished.add(transferId);
    if (this.reportedFinished.size > MAX_REMEMBERED_FINISHED) {
      const oldest = this.reportedFinished.values().next().value;
      if (oldest !== undefined) this.reportedFinished.delete(oldest);
    }
  }
}

/** CANCELLED with data.interrupted: the service shut down and resumes the transfer after its restart. */
export function isInterruption(err: unknown): boolean {
  return isRpcError(err, 'CANCELLED') && err.data?.['interrupted'] === true;
}

export function cancelledError(): RpcError {
  const spec = ApplicationErrors.CANCELLED;
  return new RpcError({ code: spec.code, message: spec.message, data: { reason: 'CANCELLED' } });
}

/** The outcome a transferFinished gives a waiting transfer; `totalBytes` when made up from a TransferStatus. */
export function outcomeOf(finished: TransferFinishedParams, totalBytes: number | undefined): UploadOutcome | DownloadOutcome | Error {
  if (finished.outcome === 'completed') {
    if (finished.result !== undefined) return finished.result as UploadResult | DownloadResult;
    return { recovered: true, transferId: finished.transferId, name: finished.name, size: totalBytes ?? 0 };
  }
  const error: ProtocolError =
    finished.error === undefined
      ? finished.outcome === 'cancelled'
        ? cancelledError().toProtocolError()
        : { code: JsonRpcErrorCode.INTERNAL_ERROR, message: 'The transfer failed.' }
      : (finished.error as ProtocolError);
  return new RpcError(error);
}
