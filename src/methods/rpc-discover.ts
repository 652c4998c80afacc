/**
 * rpc.discover: the OpenRPC document of this API, built from the protocol's
 * descriptors, with this server's URL in `servers`. The URL is known only
 * once the server listens (port 0 picks one), hence the getter.
 */
import { buildOpenRpcDocument, withServer, type RpcDiscover, type RpcDiscoverResult } from '../../protocol/index.js';
import type { MethodHandler } from './handler.js';

export function createRpcDiscoverHandler(serverUrl: () => string): MethodHandler<typeof RpcDiscover> {
  // Built at the first call, not at start: few clients ask, and every start would pay for it (issue 17).
  let document: ReturnType<typeof buildOpenRpcDocument> | undefined;
  return async () => withServer((document ??= buildOpenRpcDocument()), serverUrl()) as unknown as RpcDiscoverResult;
}
