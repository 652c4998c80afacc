/**
 * A transfer group (uploadFolder, downloadFolder): one listed record with
 * one id, whose files run as ordinary transfers through the engine's queue,
 * a few at a time (as many as may run at once; small files several to a
 * slot, see SMALL_FILES_PER_SLOT), so a folder of thousands of small files is
 * neither one RPC per file nor thousands of queued transfers (the group
 * counts once against maxQueuedTransfers). Cancelling the group
 * cancels the files in flight (each leaves nothing behind) and starts no
 * more; files finished before stay. A file that fails is reported with its
 * error and the others go on. Every file has settled before the group
 * answers, so nothing is still being written when it does.
 *
 * Journaled groups (`checkpoints`, see group-resume.ts) log each member as
 * it starts and ends, and a shutdown interrupts them instead of cancelling
 * them: at the next start the group resumes under its id (`resumed`), and
 * only the members not logged as done (and still verified) run again.
 */
import { randomUUID } from 'node:crypto';
import { setMaxListeners } from 'node:events';
import type { ErrorObject, TransferProgressParams, UploadFolderResult, DownloadFolderResult } from '../../protocol/index.js';
import { CloudlockerError, toErrorObject } from '../errors.js';
import { isInterruption } from './checkpoints.js';
import { collectIfHeapGrew } from './gc-tuning.js';
import { SMALL_FILE_BYTES, SMALL_FILES_PER_SLOT, type TransferEngine } from './transfer-engine.js';

/** Small files a group runs in one slot before it queues for the slot again (fairness to other transfers). */
const SMALL_FILES_PER_TENURE = 4 * SMALL_FILES_PER_SLOT;
/** Members settled between two looks at the heap (gc-tuning.ts collectIfHeapGrew: what many small files in flight leave in the old generation). */
const MEMBERS_PER_HEAP_CHECK = 32;
import type { TransferReservation } from './transfer-requests.js';
import type { GroupLogLine } from './transfer-journal.js';

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

/** A member's outcome: its plaintext size, and what its log line keeps to verify it at a resume. */
export interface ItemDone {
  readonly size: number;
  readonly proof?: Omit<Extract<GroupLogLine, { done: string }>, 'done' | 'size'>;
}

/** Where a journaled group logs its members (resume.ts hands it out). */
export interface GroupCheckpoints {
  log(line: GroupLogLine): Promise<void>;
  finish(outcome: 'completed' | 'failed' | 'cancelled', detail: { result?: UploadFolderResult | DownloadFolderResult; error?: ErrorObject }): Promise<void>;
}

/** What the earlier runs of a resumed group finished: their counts go on from there. */
export interface ResumedGroup {
  readonly startedAt: number;
  readonly filesDone: number;
  readonly size: number;
  readonly failed: GroupSummary['failed'];
}

export interface GroupRun<I extends GroupItem, R extends UploadFolderResult | DownloadFolderResult> {
  readonly reservation: TransferReservation;
  readonly totalBytes: number;
  /** Every file of the group (those done in an earlier run included: filesTotal counts them). */
  readonly filesTotal?: number;
  /** The files still to transfer. */
  readonly items: readonly I[];
  /**
   * Transfer one item as a member of the group (`member`: its reservation,
   * cancelled with the group; `groupId` for its request). Resolves with its
   * plaintext size.
   */
  runItem(item: I, member: TransferReservation, groupId: string, signal: AbortSignal, inGroupSlot: boolean): Promise<number | ItemDone>;
  /**
   * The item's size in bytes: items of at most SMALL_FILE_BYTES run up to
   * SMALL_FILES_PER_SLOT at a time in one slot the group holds for them
   * (`inGroupSlot` true: the item's transfer must not queue for its own).
   * Without it every item queues for a slot of its own.
   */
  sizeOf?(item: I): number;
  /** Journaled: what the log's "started" line records before the member runs (the prior object's version...). */
  beforeItem?(item: I): Promise<string | boolean | null | undefined>;
  readonly checkpoints?: GroupCheckpoints;
  readonly resumed?: ResumedGroup;
  result(summary: GroupSummary): R;
}

export async function runTransferGroup<I extends GroupItem, R extends UploadFolderResult | DownloadFolderResult>(
  engine: TransferEngine,
  run: GroupRun<I, R>,
): Promise<R> {
  const { reservation, items, checkpoints, resumed } = run;
  const registry = engine.registry;
  const filesTotal = run.filesTotal ?? items.length;
  const group = engine.startGroup(reservation, run.totalBytes, filesTotal, {
    ...(resumed === undefined
      ? {}
      : {
          resumed: {
            startedAt: resumed.startedAt,
            doneBytes: resumed.size,
            // filesDone counts files finished either way, as updateGroup does.
            filesDone: resumed.filesDone + resumed.failed.length,
            filesFailed: resumed.failed.length,
          },
        }),
    resumable: checkpoints !== undefined,
  });
  const signal = group.signal;
  // Each file in flight listens to the group's signal (to be cancelled with it), and each slot it waits for:
  // up to SMALL_FILES_PER_SLOT per slot is what it is for, not a leak.
  setMaxListeners((SMALL_FILES_PER_SLOT + 1) * engine.concurrentTransfers + 10, signal);
  const failed: GroupSummary['failed'] = [...(resumed?.failed ?? [])];
  let filesDone = resumed?.filesDone ?? 0;
  let size = resumed?.size ?? 0;

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

  let settledMembers = 0;
  const runOne = async (item: I, inGroupSlot: boolean): Promise<void> => {
    registry.updateGroup(group, { fileStarted: item.name });
    const abortController = new AbortController();
    const forward = () => abortController.abort(signal.reason);
    signal.addEventListener('abort', forward, { once: true });
    try {
      const member: TransferReservation = { transferId: randomUUID(), direction: reservation.direction, name: item.name, abortController };
      if (checkpoints !== undefined) {
        const prior = await run.beforeItem?.(item);
        await checkpoints.log({ started: item.name, memberId: member.transferId, ...(prior === undefined ? {} : { prior }) });
      }
      // Awaited before adding: `size += await …` would read size before the await and lose the other workers' sums.
      const outcome = await run.runItem(item, member, group.transferId, abortController.signal, inGroupSlot);
      const done: ItemDone = typeof outcome === 'number' ? { size: outcome } : outcome;
      // Logged before it counts: a crash between the two redoes (or re-checks) the member, never skips an unfinished one.
      await checkpoints?.log({ done: item.name, size: done.size, ...done.proof });
      size += done.size;
      filesDone += 1;
      registry.updateGroup(group, { fileDone: true });
    } catch (err) {
      if (signal.aborted) throw err;
      const error = toErrorObject(err);
      await checkpoints?.log({ failed: item.name, path: item.relativePath, error });
      failed.push({ path: item.relativePath, name: item.name, error });
      registry.updateGroup(group, { fileDone: true, fileFailed: true });
    } finally {
      signal.removeEventListener('abort', forward);
      settledMembers += 1;
      if (settledMembers % MEMBERS_PER_HEAP_CHECK === 0) collectIfHeapGrew();
    }
  };

  let next = 0;
  const isSmall = (item: I): boolean => run.sizeOf !== undefined && run.sizeOf(item) <= SMALL_FILE_BYTES;
  const smallAtHead = (): boolean => next < items.length && isSmall(items[next] as I);
  /**
   * In a slot the group holds: SMALL_FILES_PER_SLOT lanes, each running the
   * next small file as soon as its last one has settled, until the head of
   * the list is no small file or SMALL_FILES_PER_TENURE have started; the
   * slot is then queued for again, behind the transfers waiting for one.
   */
  const runSmallInSlot = async (): Promise<void> => {
    let started = 0;
    const lane = async (): Promise<void> => {
      while (started < SMALL_FILES_PER_TENURE && smallAtHead() && !signal.aborted) {
        const item = items[next] as I;
        next += 1;
        started += 1;
        await runOne(item, true);
      }
    };
    // Every lane settles before the slot is freed: a cancelled file cleans up inside it.
    const settled = await Promise.allSettled(Array.from({ length: SMALL_FILES_PER_SLOT }, lane));
    const rejected = settled.find((outcome): outcome is PromiseRejectedResult => outcome.status === 'rejected');
    if (rejected !== undefined) throw rejected.reason;
  };

  try {
    const worker = async (): Promise<void> => {
      while (next < items.length && !signal.aborted) {
        if (smallAtHead()) {
          await engine.inSharedSlot(signal, runSmallInSlot);
          continue;
        }
        // A larger file queues for a slot of its own, as any transfer.
        const item = items[next] as I;
        next += 1;
        await runOne(item, false);
      }
    };
    const workers = Math.max(1, Math.min(engine.concurrentTransfers, items.length));
    const settled = await Promise.allSettled(Array.from({ length: workers }, worker));
    signal.throwIfAborted();
    const rejected = settled.find((outcome): outcome is PromiseRejectedResult => outcome.status === 'rejected');
    if (rejected !== undefined) throw rejected.reason;
    const result = run.result({ filesDone, size, failed });
    // A journal that cannot be written leaves the group to be re-checked at the next start, never a wrong answer now.
    await checkpoints?.finish('completed', { result }).catch(() => undefined);
    registry.finish(group, 'completed', { result });
    return result;
  } catch (err) {
    if (checkpoints !== undefined && isInterruption(signal)) {
      // Shutdown: kept, log and all, to resume at the next start.
      registry.interrupt(group);
      throw new CloudlockerError('CANCELLED', 'The server is shutting down: the folder transfer resumes when it starts again.', {
        details: { interrupted: true },
      });
    }
    const error = signal.aborted ? new CloudlockerError('CANCELLED', 'The folder transfer was cancelled: the files finished before stay, none is partly written.') : err;
    const outcome = signal.aborted ? 'cancelled' : 'failed';
    await checkpoints?.finish(outcome, { error: toErrorObject(error) }).catch(() => undefined);
    registry.finish(group, outcome, { error: toErrorObject(error) });
    throw error;
  } finally {
    registry.off('transferProgress', onProgress);
    engine.groupSettled(group.transferId);
  }
}
