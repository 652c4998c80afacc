/**
 * What a client missed while disconnected, found out after it reconnects.
 *
 * `seq` is the service's own counter and starts again at 0 when it restarts,
 * so a restart is looked for first: the service closed the connection with
 * 1001 (going away, as on shutdown), its instanceId changed, the seq it
 * reports went down, or a transfer the client knew has vanished. Then the whole list is the news.
 * The client (client.ts) applies the plan: it reports each status, reports
 * the vanished transfers lost, and replays the notifications it held back.
 */
import { CLOSE_GOING_AWAY, type ListTransfersParams, type ListTransfersResult, type TransferStatus } from '../../protocol/index.js';

export interface ResyncInput {
  /** The highest seq seen before the connection was lost. */
  readonly since: number;
  /** Close code of the lost connection. */
  readonly closeCode: number | undefined;
  /** The service instance the client knew (listTransfers' instanceId), when the service reports one. */
  readonly instanceId?: string;
  /** Transfers the client knows unfinished (seen running, or waited for): each must be accounted for. */
  readonly unfinished: readonly string[];
  readonly listTransfers: (params: ListTransfersParams) => Promise<ListTransfersResult>;
}

export interface ResyncPlan {
  /** The service restarted: its seq counts again from 0. */
  readonly restarted: boolean;
  /** Transfers to report, as of `listedAt`. */
  readonly statuses: readonly TransferStatus[];
  readonly listedAt: number;
  /** Transfers the service no longer knows. */
  readonly vanished: readonly string[];
  /** The service instance now listed, when it reports one. */
  readonly instanceId?: string;
}

export async function planResync(input: ResyncInput): Promise<ResyncPlan> {
  const { since } = input;
  let restarted = input.closeCode === CLOSE_GOING_AWAY;
  let statuses: readonly TransferStatus[] = [];
  let listedAt = 0;
  let unaccounted: string[] = [...new Set(input.unfinished)];
  let instanceId: string | undefined;
  if (!restarted) {
    const changed = await input.listTransfers({ sinceSeq: since });
    instanceId = changed.instanceId;
    // A new instance id is a restart even when the new seq has already passed the old one.
    restarted = changed.seq < since || (input.instanceId !== undefined && instanceId !== undefined && instanceId !== input.instanceId);
    statuses = changed.transfers;
    listedAt = changed.seq;
    const listed = new Set(statuses.map((status) => status.transferId));
    unaccounted = unaccounted.filter((id) => !listed.has(id));
  }
  let vanished: string[] = [];
  if (restarted || unaccounted.length > 0) {
    // A known transfer not listed has either not changed, or is gone: only the whole list tells.
    const all = await input.listTransfers({});
    instanceId = all.instanceId ?? instanceId;
    const known = new Set(all.transfers.map((status) => status.transferId));
    vanished = unaccounted.filter((id) => !known.has(id));
    if (restarted || vanished.length > 0) {
      statuses = all.transfers;
      listedAt = all.seq;
    }
  }
  return { restarted, statuses, listedAt, vanished, ...(instanceId === undefined ? {} : { instanceId }) };
}
