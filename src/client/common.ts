/** What both entries (node.ts, browser.ts) export: the core, its errors and the protocol's descriptors. */
export {
  CloudlockerClient,
  createClient,
  type ClientOptions,
  type ConnectionState,
  type DownloadOutcome,
  type EventInfo,
  type EventSource,
  type RecoveredTransferResult,
  type RequestArgs,
  type RequestOptions,
  type StateChange,
  type TransferOptions,
  type Unsubscribe,
  type UploadOutcome,
} from './client.js';
export type { ReconnectOptions } from './backoff.js';
export {
  ClientClosedError,
  ConnectError,
  ConnectionLostError,
  RequestAbortedError,
  RequestTimeoutError,
  RpcError,
  isInvalidParams,
  isRpcError,
  type ConnectErrorKind,
} from './errors.js';
export type { OpenTransport, Transport, TransportHandlers } from './transport.js';
export { newTransferId } from './transfer-id.js';
export {
  CancelTransfer,
  CreateKey,
  DeleteFile,
  Download,
  GetFileInfo,
  GetServerInfo,
  ListFiles,
  ListTransfers,
  RpcDiscover,
  TransferFinished,
  TransferProgress,
  Upload,
  type ErrorReason,
} from '../../protocol/index.js';
export type * from '../../protocol/types.js';
