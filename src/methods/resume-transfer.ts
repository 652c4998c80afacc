import type { ResumeTransfer } from '../../protocol/index.js';
import { CloudlockerError } from '../errors.js';
import type { ResumableTransfers } from '../transfer/resume.js';
import type { MethodHandler } from './handler.js';

/** resumeTransfer: continue an interrupted transfer; answers when it has finished. Without a journal no transfer is ever interrupted. */
export function createResumeTransferHandler(resumable: ResumableTransfers | undefined): MethodHandler<typeof ResumeTransfer> {
  return async ({ transferId, keyPassphrase }) => {
    if (resumable === undefined) throw new CloudlockerError('NOT_FOUND', 'No interrupted transfer has that id.');
    return resumable.resume(transferId, keyPassphrase);
  };
}
