/**
 * A transfer group (uploadFolder, downloadFolder): one listed record with
 * one id, whose files run as ordinary transfers through the engine's queue,
 * a few at a time (as many as may run at once), so a folder of thousands of
 * small files is neither one RPC per file nor thousands of queued transfers
 * (the group counts once against maxQueuedTransfers). Cancelling the group
 * cancels the files in flight (each leaves nothing behind) and starts no
 * more; files finished before stay. A file that fails is reported with its
 * error and the others go on. Every file has settled before the group
 * answers, so nothing is still being written when it does.
 *
 * Not (yet) journaled: a group stopped by a crash or shutdown does not
 * resume; its files finished so far stay, the rest must be sent again.
 */
import { randomUUID } from 'node:crypto';
import type { ErrorObject, TransferProgressParams, UploadFolderResult, DownloadFolderResult } from '../../protocol/index.js';
import { CloudlockerError, toErrorObject } from '../errors.js';
import type { TransferEngine } from './transfer-engine.js';
import type { TransferReservation } from './transfer-requests.js';

export interface GroupItem {
  /** The remote name (shown as the group's current file). */
  readonly name: string;
  /** How the user knows it: a path relative to the local folder. */
  readonly relativePath: string;
}

export interface GroupSummary {
  readonly filesDone: number;
  readonly size: number;
  readonly failed: Array<{ path: string; name: string; error: ErrorObject }>;
}

export interface GroupRun<I extends GroupItem, R extends UploadFolderResult | DownloadFolderResult> {
  readonly reservation: TransferReservation;
  readonly totalBytes: number;
  readonly items: readonly I[];
  /**
   * Transfer one item as a member of the group (`member`: its reservation,
   * cancelled with the group; `groupId` for its request). Resolves with its
   * plaintext size.
   */
  runItem(item: I, member: TransferReservation, groupId: string, signal: AbortSignal): Promise<number>;
  result(summary: GroupSummary): R;
}

export async function runTransferGroup<I extends GroupItem, R extends UploadFolderResult | DownloadFolderResult>(
  engine: TransferEngine,
  run: GroupRun<I, R>,
): Promise<R> {
  const { reservation, items } = run;
  const registry = engine.registry;
  const group = engine.startGroup(reservation, run.totalBytes, items.length);
  const signal = group.signal;
  const failed: GroupSummary['failed'] = [];
  let filesDone = 0;
  let size = 0;

  // The group's bytes are its files' bytes: follow their progress.
  const seen = new Map<string, { cryptoBytes: number; transferredBytes: number }>();
  const onProgress = (progress: TransferProgressParams): void => {
    if (progress.groupId !== group.transferId) return;
    const before = seen.get(progress.transferId) ?? { cryptoBytes: 0, transferredBytes: 0 };
    const cryptoBytes = Math.max(0, progress.cryptoBytes - before.cryptoBytes);
    const transferredBytes = Math.max(0, progress.transferredBytes - before.transferredBytes);
    seen.set(progress.transferId, {
      cryptoBytes: Math.max(before.cryptoBytes, progress.cryptoBytes),
      transferredBytes: Math.max(before.transferredBytes, progress.transferredBytes),
    });
    if (cryptoBytes > 0 || transferredBytes > 0) registry.addProgress(group, { cryptoBytes, transferredBytes });
    if (progress.state !== 'queued' && progress.state !== 'running') seen.delete(progress.transferId);
  };
  registry.on('transferProgress', onProgress);

  const runOne = async (item: I): Promise<void> => {
    registry.updateGroup(group, { fileStarted: item.name });
    const abortController = new AbortController();
    const forward = () => abortController.abort(signal.reason);
    signal.addEventListener('abort', forward, { once: true });
    try {
      const member: TransferReservation = { transferId: randomUUID(), direction: reservation.direction, name: item.name, abortController };
      // Awaited before adding: `size += await …` would read size before the await and lose the other workers' sums.
      const itemSize = await run.runItem(item, member, group.transferId, abortController.signal);
      size += itemSize;
      filesDone += 1;
      registry.updateGroup(group, { fileDone: true });
    } catch (err) {
      if (signal.aborted) throw err;
      failed.push({ path: item.relativePath, name: item.name, error: toErrorObject(err) });
      registry.updateGroup(group, { fileDone: true, fileFailed: true });
    } finally {
      signal.removeEventListener('abort', forward);
    }
  };

  try {
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < items.length && !signal.aborted) {
        const item = items[next] as I;
        next += 1;
        await runOne(item);
      }
    };
    const workers = Math.max(1, Math.min(engine.concurrentTransfers, items.length));
    const settled = await Promise.allSettled(Array.from({ length: workers }, worker));
    signal.throwIfAborted();
    const rejected = settled.find((outcome): outcome is PromiseRejectedResult => outcome.status === 'rejected');
    if (rejected !== undefined) throw rejected.reason;
    const result = run.result({ filesDone, size, failed });
    registry.finish(group, 'completed', { result });
    return result;
  } catch (err) {
    const error = signal.aborted ? new CloudlockerError('CANCELLED', 'The folder transfer was cancelled: the files finished before stay, none is partly written.') : err;
    registry.finish(group, signal.aborted ? 'cancelled' : 'failed', { error: toErrorObject(error) });
    throw error;
  } finally {
    registry.off('transferProgress', onProgress);
  }
}
