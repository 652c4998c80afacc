import type { AcknowledgeTransfers } from '../../protocol/index.js';
import type { ResumableTransfers } from '../transfer/resume.js';
import type { TransferRegistry } from '../transfer/transfer-registry.js';
import type { MethodHandler } from './handler.js';

/**
 * acknowledgeTransfers: the client has taken note of these finished
 * transfers; they leave listTransfers and the journal. Unfinished or unknown
 * ids are left out of the answer (not an error: a UI may acknowledge twice).
 */
export function createAcknowledgeTransfersHandler(
  registry: TransferRegistry,
  resumable: ResumableTransfers | undefined,
): MethodHandler<typeof AcknowledgeTransfers> {
  return async ({ transferIds }) => {
    if (resumable !== undefined) return resumable.acknowledge(transferIds);
    const acknowledged = [...new Set(transferIds)].filter((id) => registry.get(id)?.finished === true && registry.remove(id));
    return { acknowledged };
  };
}
