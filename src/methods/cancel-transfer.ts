import type { CancelTransfer } from '../../protocol/index.js';
import type { ResumableTransfers } from '../transfer/resume.js';
import type { TransferEngine } from '../transfer/transfer-engine.js';
import type { MethodHandler } from './handler.js';

/** An interrupted transfer is not the engine's (nothing runs): cancelling it discards what it left. */
export function createCancelTransferHandler(
  engine: TransferEngine,
  resumable?: ResumableTransfers,
): MethodHandler<typeof CancelTransfer> {
  return async ({ transferId }) => (await resumable?.cancelInterrupted(transferId)) ?? engine.cancel(transferId);
}
