import type { CancelTransfer } from '../../protocol/index.js';
import type { TransferEngine } from '../transfer/transfer-engine.js';
import type { MethodHandler } from './handler.js';

export function createCancelTransferHandler(engine: TransferEngine): MethodHandler<typeof CancelTransfer> {
  return async ({ transferId }) => engine.cancel(transferId);
}
