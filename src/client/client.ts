/**
 * The transport-agnostic core of the cloudlocker client: JSON-RPC requests
 * with typed params and results, typed notification subscriptions, transfer
 * cancellation, request timeouts, and automatic reconnection that
 * resynchronises through `listTransfers({ sinceSeq })` so that a UI misses no
 * finished transfer.
 *
 * The Node entry (node.ts) and the browser entry (browser.ts) only differ in
 * how they open a WebSocket (the `OpenTransport` they pass to `createClient`).
 */
import {
  JsonRpcErrorCode,
  type DownloadParams,
  type DownloadResult,
  type ErrorObject,
  type ListTransfersParams,
  type ListTransfersResult,
  type MethodDescriptor,
  type MethodDescriptorOf,
  type MethodName,
  type NotificationDescriptor,
  type ParamsOf,
  type ResultOf,
  type TransferDirection,
  type TransferFinishedParams,
  type TransferProgressParams,
  type TransferStatus,
  type UploadParams,
  type UploadResult,
  type UploadFolderParams,
  type UploadFolderResult,
  type DownloadFolderParams,
  type DownloadFolderResult,
} from '../../protocol/index.js';
import { DEFAULT_RECONNECT, reconnectDelay, type ReconnectOptions } from './backoff.js';
import { ClientClosedError, ConnectionLostError, isRpcError } from './errors.js';
import { parseInbound, type JsonRpcNotification } from './json-rpc.js';
import { RequestTable, type CallOptions } from './request-table.js';
import { planResync } from './resync.js';
import {
  FINISHED_STATES,
  TransferBook,
  cancelledError,
  isInterruption,
  outcomeOf,
  type DownloadOutcome,
  type RecoveredTransferResult,
  type PendingTransfer,
  type UploadOutcome,
} from './transfer-tracking.js';
import { newTransferId } from './transfer-id.js';
import type { OpenTransport, Transport } from './transport.js';

/** `connecting` until the first connection is up; `reconnecting` while a lost connection is being restored and resynchronised. */
export type ConnectionState = 'connecting' | 'open' | 'reconnecting' | 'closed';

export interface StateChange {
  readonly state: ConnectionState;
  /** Why the connection was lost, the last attempt failed, or the client closed. */
  readonly error?: Error;
  /** For `reconnecting`: the attempt about to be made (1 for the first) and the wait before it. */
  readonly attempt?: number;
  readonly delayMs?: number;
}

export interface ClientOptions {
  /**
   * Reject a request that has no answer after this many ms (RequestTimeoutError).
   * Default 30000; 0 waits for ever. Never applied to upload and download,
   * which answer only when the transfer has finished.
   */
  requestTimeoutMs?: number;
  /** Reconnect with backoff after a lost connection (default), or `false` to close instead. */
  reconnect?: ReconnectOptions | false;
}

export interface RequestOptions {
  /** Overrides the client's requestTimeoutMs for this request; 0 waits for ever. */
  timeoutMs?: number;
  /** Stop waiting (RequestAbortedError). The service may still carry the request out. */
  signal?: AbortSignal;
}

export interface TransferOptions {
  /**
   * Aborting cancels the transfer on the service (cancelTransfer). The promise
   * then rejects with an RpcError whose reason is CANCELLED, or resolves if
   * the transfer had already completed.
   */
  signal?: AbortSignal;
  /** Progress of this transfer only (the same notifications `onProgress` sees). */
  onProgress?: (progress: TransferProgressParams) => void;
}

/**
 * How an event reached the client: `live` as a notification; `resync` made up
 * from `listTransfers` after a reconnect (the notification itself was missed);
 * `lost` for a transfer the client saw running that the service no longer
 * knows (it restarted while the client was away): reported as failed.
 */
export type EventSource = 'live' | 'resync' | 'lost';
export interface EventInfo {
  readonly source: EventSource;
}

/** `request(method, params?, options?)`: params may be left out only where the method takes none. */
export type RequestArgs<D> = undefined extends ParamsOf<D>
  ? [params?: ParamsOf<D>, options?: RequestOptions]
  : [params: ParamsOf<D>, options?: RequestOptions];

export type Unsubscribe = () => void;
export type { DownloadOutcome, RecoveredTransferResult, UploadOutcome } from './transfer-tracking.js';

const DEFAULT_REQUEST_TIMEOUT_MS = 30_000;
/** How long close() waits for the closing handshake before giving up on it. */
const CLOSE_WAIT_MS = 2000;

export class CloudlockerClient {
  private connectionState: ConnectionState = 'connecting';
  private transport: Transport | undefined;
  private transportClosed: (() => void) | undefined;
  private readonly requests = new RequestTable();
  private readonly book = new TransferBook();
  private seq = 0;
  /** Notifications that arrive while a resync is in flight wait here, to be replayed after it. */
  private resyncBuffer: JsonRpcNotification[] | undefined;
  private closing = false;
  /** Close code of the last lost connection: 1001 means the service went away (shut down or restarting). */
  private lastCloseCode: number | undefined;
  private wakeReconnect: (() => void) | undefined;
  private readonly listeners = new Map<string, Set<(params: never, info: EventInfo) => void>>();
  private readonly stateListeners = new Set<(change: StateChange) => void>();
  private readonly requestTimeoutMs: number;
  private readonly reconnect: Required<ReconnectOptions> | false;

  /** Use `connect` from the Node or browser entry; this is for custom transports. */
  constructor(
    private readonly openTransport: OpenTransport,
    options: ClientOptions = {},
  ) {
    this.requestTimeoutMs = options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
    this.reconnect = options.reconnect === false ? false : { ...DEFAULT_RECONNECT, ...options.reconnect };
  }

  get state(): ConnectionState {
    return this.connectionState;
  }

  /** The highest notification `seq` seen (or listed) so far: where a resync starts. */
  get lastSeq(): number {
    return this.seq;
  }

  /** A typed JSON-RPC call: by descriptor (`request(ListFiles, {...})`) or by name (`request('listFiles', {...})`). */
  request<N extends MethodName>(method: N, ...args: RequestArgs<MethodDescriptorOf<N>>): Promise<ResultOf<MethodDescriptorOf<N>>>;
  request<D extends MethodDescriptor>(descriptor: D, ...args: RequestArgs<D>): Promise<ResultOf<D>>;
  request(target: string | MethodDescriptor, params?: unknown, options: RequestOptions = {}): Promise<unknown> {
    const method = typeof target === 'string' ? target : target.method;
    // upload and download answer when the transfer has finished, however long that takes.
    const defaultTimeout = method === 'upload' || method === 'download' ? 0 : this.requestTimeoutMs;
    return this.call(method, params, { timeoutMs: options.timeoutMs ?? defaultTimeout, signal: options.signal });
  }

  /**
   * Upload with a client-chosen transferId (unless params has one): survives a
   * reconnect, and `signal` cancels it on the service.
   */
  upload(params: UploadParams, options: TransferOptions = {}): Promise<UploadOutcome> {
    return this.transfer('upload', params, options) as Promise<UploadOutcome>;
  }

  /**
   * Download, with the same transfer handling as `upload`. `destination` is
   * sent as given and read by the service's rules (docs/protocol.md,
   * "Destinations"): keep a trailing "/" (or the platform's separator) to mean
   * "into this folder"; a missing folder is NOT_FOUND unless
   * `createDirectories: true`.
   */
  download(params: DownloadParams, options: TransferOptions = {}): Promise<DownloadOutcome> {
    return this.transfer('download', params, options) as Promise<DownloadOutcome>;
  }

  /**
   * A folder upload (uploadFolder), tracked as one transfer: `onProgress`
   * gets the group's progress (with `group.filesDone`, `filesTotal`,
   * `currentFile`), `signal` cancels the whole group.
   */
  uploadFolder(params: UploadFolderParams, options: TransferOptions = {}): Promise<UploadFolderResult | RecoveredTransferResult> {
    return this.transfer('upload', params, options, 'uploadFolder') as unknown as Promise<UploadFolderResult | RecoveredTransferResult>;
  }

  /** A folder download (downloadFolder), tracked as one transfer like uploadFolder. */
  downloadFolder(params: DownloadFolderParams, options: TransferOptions = {}): Promise<DownloadFolderResult | RecoveredTransferResult> {
    return this.transfer('download', params, options, 'downloadFolder') as unknown as Promise<DownloadFolderResult | RecoveredTransferResult>;
  }

  /** Progress of every transfer on the service (not just this client's). */
  onProgress(handler: (progress: TransferProgressParams, info: EventInfo) => void): Unsubscribe {
    return this.addListener('transferProgress', handler);
  }

  /** Every finished transfer, exactly once, including those that finished while the client was reconnecting. */
  onFinished(handler: (finished: TransferFinishedParams, info: EventInfo) => void): Unsubscribe {
    return this.addListener('transferFinished', handler);
  }

  /** A notification by descriptor: `on(TransferProgress, handler)`. */
  on<D extends NotificationDescriptor>(descriptor: D, handler: (params: ParamsOf<D>, info: EventInfo) => void): Unsubscribe {
    return this.addListener(descriptor.method, handler);
  }

  /** Connection state changes: drive a "reconnecting…" indicator with this. */
  onStateChange(handler: (change: StateChange) => void): Unsubscribe {
    this.stateListeners.add(handler);
    return () => this.stateListeners.delete(handler);
  }

  /**
   * Close the connection and stop reconnecting. Waiting requests reject with
   * ClientClosedError; transfers go on in the service (cancel them first if
   * that is not wanted).
   */
  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    this.wakeReconnect?.();
    const closed = new Promise<void>((resolve) => {
      if (this.transport === undefined) {
        resolve();
        return;
      }
      const timer = setTimeout(resolve, CLOSE_WAIT_MS);
      this.transportClosed = () => {
        clearTimeout(timer);
        resolve();
      };
      this.transport.close(1000, 'client closed');
    });
    this.shutdown(new ClientClosedError());
    await closed;
  }

  // ---------------------------------------------------------------------------
  // Connecting and reconnecting

  /** Open the first connection and learn the current seq; rejects (ConnectError) if the service cannot be reached. */
  async start(): Promise<void> {
    try {
      await this.openConnection();
      const listed = await this.listTransfersNow({});
      this.seq = listed.seq;
      this.instanceId = listed.instanceId;
      for (const status of listed.transfers) {
        this.book.trackActive(status);
        // Finished before this client came: history, not news for a later resync.
        if (FINISHED_STATES.has(status.state)) this.book.rememberFinished(status.transferId);
      }
    } catch (err) {
      this.closing = true;
      this.transport?.close(1000, 'client closed');
      this.shutdown(err instanceof Error ? err : new Error(String(err)));
      throw err;
    }
    this.setState({ state: 'open' });
  }

  private async openConnection(): Promise<Transport> {
    let opened: Transport | undefined;
    const transport = await this.openTransport({
      onMessage: (text) => {
        if (opened === this.transport) this.handleMessage(text);
      },
      onClose: (info) => {
        if (opened === undefined || opened !== this.transport) return;
        this.handleClose(info);
      },
    });
    opened = transport;
    this.transport = transport;
    return transport;
  }

  private handleClose(info: { code: number; reason: string }): void {
    this.transport = undefined;
    this.lastCloseCode = info.code;
    const closedCallback = this.transportClosed;
    this.transportClosed = undefined;
    closedCallback?.();
    if (this.closing) return;
    const error = new ConnectionLostError(
      `The connection to the cloudlocker service was lost (close code ${info.code}${info.reason === '' ? '' : `: ${info.reason}`}); the request may or may not have taken effect.`,
    );
    const wasReconnecting = this.connectionState === 'reconnecting';
    if (this.connectionState === 'connecting') {
      // start() fails with it; there is nothing to restore yet.
      for (const entry of this.requests.takeSent()) entry.fail(error);
      return;
    }
    for (const entry of this.requests.takeSent()) {
      const transfer = entry.transferId === undefined ? undefined : this.book.waiting.get(entry.transferId);
      if (transfer !== undefined && this.reconnect !== false) transfer.orphaned = true;
      else entry.fail(error);
    }
    if (this.reconnect === false) {
      this.closing = true;
      this.shutdown(error);
      return;
    }
    // A drop during a resync is handled by the reconnect loop already running.
    if (!wasReconnecting) void this.reconnectLoop(error, this.reconnect);
  }

  private async reconnectLoop(firstError: Error, options: Required<ReconnectOptions>): Promise<void> {
    let lastError = firstError;
    for (let attempt = 1; !this.closing; attempt += 1) {
      if (attempt > options.maxAttempts) {
        this.closing = true;
        this.shutdown(new ConnectionLostError(`Gave up reconnecting to the cloudlocker service after ${options.maxAttempts} attempts: ${lastError.message}`, { cause: lastError }));
        return;
      }
      const delayMs = reconnectDelay(attempt, options);
      this.setState({ state: 'reconnecting', error: lastError, attempt, delayMs });
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, delayMs);
        this.wakeReconnect = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.wakeReconnect = undefined;
      if (this.closing) return;
      let transport: Transport | undefined;
      try {
        transport = await this.openConnection();
        if (this.closing) {
          transport.close(1000, 'client closed');
          return;
        }
        await this.resync();
      } catch (err) {
        lastError = err instanceof Error ? err : new Error(String(err));
        if (transport !== undefined && transport === this.transport) {
          // The connection is up but the resync failed (a timeout): start over on a fresh one.
          this.transport = undefined;
          transport.close(1000, 'resync failed');
        }
        continue;
      }
      if (transport !== this.transport) continue; // it dropped again right after the resync
      this.setState({ state: 'open' });
      this.flushOutbox();
      for (const transfer of this.book.waiting.values()) {
        if (transfer.cancelWanted && !transfer.cancelInFlight) this.sendCancel(transfer);
      }
      return;
    }
  }

  /**
   * Catch up with what happened while disconnected (resync.ts decides what):
   * every transfer that changed after the last seq seen is reported (finished
   * ones through onFinished, running ones through onProgress), waiting
   * transfer requests are settled, and transfers the service no longer knows
   * are reported lost. Notifications that arrived meanwhile are replayed.
   */
  private async resync(): Promise<void> {
    this.resyncBuffer = [];
    try {
      const plan = await planResync({
        since: this.seq,
        closeCode: this.lastCloseCode,
        unfinished: this.book.unfinishedIds(),
        ...(this.instanceId === undefined ? {} : { instanceId: this.instanceId }),
        listTransfers: (params) => this.listTransfersNow(params),
      });
      if (plan.instanceId !== undefined) this.instanceId = plan.instanceId;
      // seq counts again from the listing's; finished transfers already
      // reported stay so (a service that keeps transfers across restarts lists them again).
      if (plan.restarted) this.seq = 0;
      for (const status of plan.statuses) this.reportStatus(status, plan.listedAt);
      for (const id of plan.vanished) this.reportLost(id, plan.listedAt);
      this.seq = Math.max(this.seq, plan.listedAt);
      const buffered = this.resyncBuffer;
      this.resyncBuffer = undefined;
      for (const notification of buffered) {
        const seq = notification.params['seq'];
        if (typeof seq === 'number' && seq > plan.listedAt) this.dispatchNotification(notification, 'live');
      }
    } finally {
      this.resyncBuffer = undefined;
    }
  }

  private reportStatus(status: TransferStatus, seq: number): void {
    if (FINISHED_STATES.has(status.state)) {
      const finished: TransferFinishedParams = {
        seq,
        transferId: status.transferId,
        direction: status.direction,
        name: status.name,
        outcome: status.state as TransferFinishedParams['outcome'],
        ...(status.error === undefined ? {} : { error: status.error }),
        // A service that lists results gives the whole result, not only a RecoveredTransferResult.
        ...(status.result === undefined ? {} : { result: status.result }),
      };
      this.handleFinished(finished, 'resync', status.totalBytes);
    } else {
      this.handleProgress({ ...status, seq }, 'resync');
    }
  }

  private reportLost(transferId: string, seq: number): void {
    const seen = this.book.active.get(transferId);
    const transfer = this.book.waiting.get(transferId);
    if (transfer !== undefined && transfer.orphaned) {
      this.book.settle(
        transfer,
        new ConnectionLostError(
          'The connection was lost and the cloudlocker service no longer knows this transfer (it may have restarted): its outcome is unknown; check with listFiles and try again if needed.',
        ),
      );
    }
    if (seen === undefined) return;
    const error: ErrorObject = {
      code: JsonRpcErrorCode.INTERNAL_ERROR,
      message: 'The cloudlocker service no longer knows this transfer (it restarted while the client was disconnected); try it again.',
    };
    this.handleFinished({ seq, transferId, direction: seen.direction, name: seen.name, outcome: 'failed', error }, 'lost');
  }

  // ---------------------------------------------------------------------------
  // Requests

  /**
   * Every request goes through here. The caller's requests wait in the
   * outbox while the connection is being restored; the client's own
   * (`immediate`: listTransfers during start and resync) go on the current
   * connection at once, or fail.
   */
  private call(method: string, params: unknown, options: CallOptions & { immediate?: boolean }): Promise<unknown> {
    if (this.closing) return Promise.reject(new ClientClosedError());
    if (options.immediate === true) {
      if (this.transport === undefined) return Promise.reject(new ConnectionLostError());
      return this.requests.call(method, params, options, this.transport);
    }
    const transport = this.connectionState === 'open' ? this.transport : undefined;
    return this.requests.call(method, params, options, transport);
  }

  private async listTransfersNow(params: ListTransfersParams): Promise<ListTransfersResult> {
    return (await this.call('listTransfers', params, { timeoutMs: this.requestTimeoutMs, immediate: true })) as ListTransfersResult;
  }

  /** The service instance last listed (listTransfers' instanceId): a new one means it restarted. */
  private instanceId: string | undefined;

  private flushOutbox(): void {
    if (this.transport !== undefined) this.requests.flush(this.transport);
  }

  private handleMessage(text: string): void {
    const inbound = parseInbound(text);
    if (inbound.kind === 'response') {
      this.requests.answer(inbound.message);
    } else if (inbound.kind === 'notification') {
      if (this.resyncBuffer !== undefined) this.resyncBuffer.push(inbound.message);
      else this.dispatchNotification(inbound.message, 'live');
    }
  }

  // ---------------------------------------------------------------------------
  // Transfers

  private transfer(
    direction: TransferDirection,
    params: UploadParams | DownloadParams | UploadFolderParams | DownloadFolderParams,
    options: TransferOptions,
    method: 'upload' | 'download' | 'uploadFolder' | 'downloadFolder' = direction,
  ): Promise<UploadOutcome | DownloadOutcome> {
    const transferId = params.transferId ?? newTransferId();
    return new Promise((resolve, reject) => {
      if (this.closing) {
        reject(new ClientClosedError());
        return;
      }
      if (options.signal?.aborted === true) {
        reject(cancelledError());
        return;
      }
      if (this.book.waiting.has(transferId)) {
        reject(new RangeError(`A transfer with id ${transferId} is already waiting in this client.`));
        return;
      }
      const signal = options.signal;
      const onAbort = () => this.requestCancel(transfer);
      const transfer: PendingTransfer = {
        transferId,
        direction,
        resolve,
        reject,
        onProgress: options.onProgress,
        orphaned: false,
        cancelWanted: false,
        cancelInFlight: false,
        cancelAtNextNotification: false,
        detachSignal: () => signal?.removeEventListener('abort', onAbort),
      };
      this.book.waiting.set(transferId, transfer);
      signal?.addEventListener('abort', onAbort, { once: true });
      this.call(method, { ...params, transferId }, { timeoutMs: 0, transferId }).then(
        (result) => this.book.settle(transfer, result as UploadResult | DownloadResult),
        (err: unknown) => {
          // A service shutting down answers CANCELLED with data.interrupted for a transfer it
          // will resume after its restart: not the outcome yet, so wait for it as across a reconnect.
          if (isInterruption(err) && this.reconnect !== false && !transfer.cancelWanted) {
            transfer.orphaned = true;
            return;
          }
          this.book.settle(transfer, err instanceof Error ? err : new Error(String(err)));
        },
      );
    });
  }

  private requestCancel(transfer: PendingTransfer): void {
    transfer.cancelWanted = true;
    if (!transfer.cancelInFlight && this.book.waiting.get(transfer.transferId) === transfer) this.sendCancel(transfer);
  }

  private sendCancel(transfer: PendingTransfer): void {
    transfer.cancelInFlight = true;
    transfer.cancelAtNextNotification = false;
    this.call('cancelTransfer', { transferId: transfer.transferId }, { timeoutMs: this.requestTimeoutMs }).then(
      () => {
        transfer.cancelInFlight = false;
      },
      (err: unknown) => {
        transfer.cancelInFlight = false;
        if (this.book.waiting.get(transfer.transferId) !== transfer) return;
        // Not registered yet (its request is still being prepared): its first notification says it is.
        if (isRpcError(err, 'NOT_FOUND')) transfer.cancelAtNextNotification = true;
        // Lost with the connection: sent again once reconnected (see reconnectLoop).
      },
    );
  }

  // ---------------------------------------------------------------------------
  // Notifications

  private dispatchNotification(notification: JsonRpcNotification, source: EventSource): void {
    const seq = notification.params['seq'];
    if (typeof seq === 'number' && seq > this.seq) this.seq = seq;
    if (notification.method === 'transferProgress') {
      this.handleProgress(notification.params as unknown as TransferProgressParams, source);
    } else if (notification.method === 'transferFinished') {
      this.handleFinished(notification.params as unknown as TransferFinishedParams, source);
    } else {
      this.emit(notification.method, notification.params, { source });
    }
  }

  private handleProgress(progress: TransferProgressParams, source: EventSource): void {
    this.book.trackActive(progress);
    const transfer = this.book.waiting.get(progress.transferId);
    if (transfer !== undefined) {
      if (transfer.cancelAtNextNotification && !transfer.cancelInFlight) this.sendCancel(transfer);
      if (transfer.onProgress !== undefined) this.deliver(transfer.onProgress, progress);
    }
    this.emit('transferProgress', progress, { source });
  }

  /** `totalBytes`: known when the finish was made up from a TransferStatus (a recovered result needs the size). */
  private handleFinished(finished: TransferFinishedParams, source: EventSource, totalBytes?: number): void {
    if (!this.book.noteFinished(finished.transferId)) return;
    const transfer = this.book.waiting.get(finished.transferId);
    // A transfer whose request is still on the current connection is settled by its answer.
    if (transfer !== undefined && transfer.orphaned) this.book.settle(transfer, outcomeOf(finished, totalBytes));
    this.emit('transferFinished', finished, { source });
  }

  private addListener<P>(method: string, handler: (params: P, info: EventInfo) => void): Unsubscribe {
    let handlers = this.listeners.get(method);
    if (handlers === undefined) {
      handlers = new Set();
      this.listeners.set(method, handlers);
    }
    const stored = handler as (params: never, info: EventInfo) => void;
    handlers.add(stored);
    return () => handlers.delete(stored);
  }

  private emit(method: string, params: unknown, info: EventInfo): void {
    for (const handler of this.listeners.get(method) ?? []) this.deliver(handler as (params: unknown, info: EventInfo) => void, params, info);
  }

  /** A throwing handler must not break the client's bookkeeping: its error is rethrown on its own. */
  private deliver<A extends unknown[]>(handler: (...args: A) => void, ...args: A): void {
    try {
      handler(...args);
    } catch (err) {
      queueMicrotask(() => {
        throw err;
      });
    }
  }

  private setState(change: StateChange): void {
    this.connectionState = change.state;
    for (const handler of this.stateListeners) this.deliver(handler, change);
  }

  /** Final state: everything still waiting fails with `error`. */
  private shutdown(error: Error): void {
    this.requests.failAll(error);
    this.book.settleAll(error);
    if (this.connectionState !== 'closed') this.setState({ state: 'closed', error });
  }
}

/** Open a client over any transport: resolves once connected (ConnectError otherwise). */
export async function createClient(openTransport: OpenTransport, options: ClientOptions = {}): Promise<CloudlockerClient> {
  const client = new CloudlockerClient(openTransport, options);
  await client.start();
  return client;
}
