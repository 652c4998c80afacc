/**
 * The cloudlocker client for Node (scripts, the CLI, an Electron main
 * process): `connect()` over `ws` with the token in a header and the
 * service's certificate pinned, and `discover()` to find the service through
 * `<dataDir>/server.json`.
 *
 *   const client = await connect({ dataDir });              // or { url, token, ca | spkiSha256 }
 *   const result = await client.upload({ path, keyPath }, { signal, onProgress });
 */
import { createClient, type ClientOptions, type CloudlockerClient } from './client.js';
import { discover } from './discovery.js';
import { nodeTransport, type NodeEndpoint, type NodeTransportOptions } from './node-transport.js';

export interface NodeConnectOptions extends ClientOptions, NodeTransportOptions, Partial<NodeEndpoint> {
  /**
   * Find the service through `<dataDir>/server.json`, read again at every
   * (re)connect, so a restarted service (new port or token) is found. Used
   * when `url` is not given; default: CLOUDLOCKER_DATA_DIR, else the platform
   * data directory.
   */
  dataDir?: string;
  /** Or any function that says where to connect, called at every (re)connect. */
  endpoint?: () => NodeEndpoint | Promise<NodeEndpoint>;
}

/** Connect and resolve once the first connection is open; rejects with ConnectError otherwise. */
export function connect(options: NodeConnectOptions = {}): Promise<CloudlockerClient> {
  const { url, token, ca, spkiSha256, sha256, dataDir, endpoint, handshakeTimeoutMs, ...clientOptions } = options;
  let where: () => NodeEndpoint | Promise<NodeEndpoint>;
  if (endpoint !== undefined) {
    where = endpoint;
  } else if (url !== undefined) {
    if (token === undefined) return Promise.reject(new TypeError('connect: pass token with url.'));
    const fixed: NodeEndpoint = { url, token, ...(ca === undefined ? {} : { ca }), ...(spkiSha256 === undefined ? {} : { spkiSha256 }), ...(sha256 === undefined ? {} : { sha256 }) };
    where = () => fixed;
  } else {
    where = () => discover(dataDir === undefined ? {} : { dataDir });
  }
  return createClient(nodeTransport(where, handshakeTimeoutMs === undefined ? {} : { handshakeTimeoutMs }), clientOptions);
}

export * from './common.js';
export { discover, resolveDataDir, type DiscoverOptions, type DiscoveredService } from './discovery.js';
export { nodeTransport, type NodeEndpoint, type NodeTransportOptions } from './node-transport.js';
export { sha256Of, spkiSha256Of, type CertificatePin } from './certificate-pin.js';
