import type { ListTransfers } from '../../protocol/index.js';
import type { TransferRegistry } from '../transfer/transfer-registry.js';
import type { MethodHandler } from './handler.js';

export function createListTransfersHandler(registry: TransferRegistry): MethodHandler<typeof ListTransfers> {
  return async ({ sinceSeq }) => registry.list(sinceSeq ?? 0);
}
