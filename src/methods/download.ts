import type { Download } from '../../protocol/index.js';
import { readKeyFile } from '../crypto/index.js';
import type { TransferEngine } from '../transfer/transfer-engine.js';
import type { MethodHandler } from './handler.js';

export function createDownloadHandler(engine: TransferEngine): MethodHandler<typeof Download> {
  return async (params) => {
    const key = await readKeyFile(params.keyPath, params.keyPassphrase === undefined ? {} : { passphrase: params.keyPassphrase });
    return engine.download({
      ...(params.transferId === undefined ? {} : { transferId: params.transferId }),
      name: params.name,
      destination: params.destination,
      overwrite: params.overwrite ?? false,
      key,
    });
  };
}
