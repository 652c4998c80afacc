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
  ApplicationErrors,
  JsonRpcErrorCode,
  type DownloadParams,
  type DownloadResult,
  type ErrorObject,
  type ListTransfersResult,
  type MethodDescriptor,
  type MethodDescriptorOf,
  type MethodName,
  type NotificationDescriptor,
  type ParamsOf,
  type ProtocolError,
  type ResultOf,
  type TransferDirection,
  type TransferFinishedParams,
  type TransferProgressParams,
  type TransferStatus,
  type UploadParams,
  type UploadResult,
  CLOSE_GOING_AWAY,
} from '../../protocol/index.js';
import { DEFAULT_RECONNECT, reconnectDelay, type ReconnectOptions } from './backoff.js';
import { ClientClosedError, ConnectionLostError, RequestAbortedError, RequestTimeoutError, RpcError, isRpcError } from './errors.js';
import { parseInbound, type JsonRpcNotification } from './json-rpc.js';
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

/**
 * A transfer that completed while the client was disconnected: its outcome
 * came from `listTransfers`, which does not carry the method's full result.
 */
export interface RecoveredTransferResult {
  readonly recovered: true;
  readonly transferId: string;
  readonly name: string;
  /** Plaintext bytes. */
  readonly size: number;
}

export type UploadOutcome = UploadResult | RecoveredTransferResult;
export type DownloadOutcome = DownloadResult | RecoveredTransferResult;

/** `request(method, params?, options?)`: params may be left out only where the method takes none. */
export type RequestArgs<D> = undefined extends ParamsOf<D>
  ? [params?: ParamsOf<D>, options?: RequestOptions]
  : [params: ParamsOf<D>, options?: RequestOptions];

export type Unsubscribe = () => void;

interface OutgoingRequest {
  readonly method: string;
  readonly params: unknown;
  readonly resolve: (result: unknown) => void;
  readonly fail: (error: Error) => void;
  /** Set for upload and download: kept across a reconnect instead of failing. */
  readonly transferId: string | undefined;
  id: number | undefined;
}

interface PendingTransfer {
  readonly transferId: string;
  readonly direction: TransferDirection;
  readonly resolve: (result: UploadOutcome | DownloadOutcome) => void;
  readonly reject: (error: Error) => void;
  readonly onProgress: ((progress: TransferProgressParams) => void) | undefined;
  /** Its request was sent on a connection that has since closed: only notifications or a resync can settle it. */
  orphaned: boolean;
  cancelWanted: boolean;
  cancelInFlight: boolean;
  /** cancelTransfer answered NOT_FOUND before the service had registered the transfer: try again at its first notification. */
  cancelAtNextNotification: boolean;
  detachSignal: () => void;
}

/** Transfer ids already reported finished, to drop the duplicate a resync may bring; bounded. */
const MAX_REMEMBERED_FINISHED = 10_000;
const DEFAULT_REQUEST_TIMEOUT_MS = 30_000;
/** How long close() waits for the closing handshake before giving up on it. */
const CLOSE_WAIT_MS = 2000;

const FINISHED_STATES: ReadonlySet<string> = new Set(['completed', 'failed', 'cancelled']);

export class CloudlockerClient {
  private connectionState: ConnectionState = 'connecting';
  private transport: Transport | undefined;
  private transportClosed: (() => void) | undefined;
  private nextId = 1;
  private readonly pending = new Map<number, OutgoingRequest>();
  private readonly outbox: OutgoingRequest[] = [];
  private readonly transfers = new Map<string, PendingTransfer>();
  /** Transfers seen queued or running and not yet finished, with what a 'lost' report needs. */
  private readonly active = new Map<string, { direction: TransferDirection; name: string }>();
  private readonly reportedFinished = new Set<string>();
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
    return this.call(method, params, options.timeoutMs ?? defaultTimeout, options.signal);
  }

  /**
   * Upload with a client-chosen transferId (unless params has one): survives a
   * reconnect, and `signal` cancels it on the service.
   */
  upload(params: UploadParams, options: TransferOptions = {}): Promise<UploadOutcome> {
    return this.transfer('upload', params, options) as Promise<UploadOutcome>;
  }

  /** Download, with the same transfer handling as `upload`. */
  download(params: DownloadParams, options: TransferOptions = {}): Promise<DownloadOutcome> {
    return this.transfer('download', params, options) as Promise<DownloadOutcome>;
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
      const listed = (await this.callNow('listTransfers', {})) as ListTransfersResult;
      this.seq = listed.seq;
      for (const status of listed.transfers) {
        this.trackActive(status);
        // Finished before this client came: history, not news for a later resync.
        if (FINISHED_STATES.has(status.state)) this.rememberFinished(status.transferId);
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
      for (const entry of [...this.pending.values()]) entry.fail(error);
      this.pending.clear();
      return;
    }
    for (const entry of this.pending.values()) {
      const transfer = entry.transferId === undefined ? undefined : this.transfers.get(entry.transferId);
      if (transfer !== undefined && this.reconnect !== false) transfer.orphaned = true;
      else entry.fail(error);
    }
    this.pending.clear();
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
      for (const transfer of this.transfers.values()) {
        if (transfer.cancelWanted && !transfer.cancelInFlight) this.sendCancel(transfer);
      }
      return;
    }
  }

  /**
   * Catch up with what happened while disconnected: every transfer that changed
   * after the last seq seen is reported (finished ones through onFinished,
   * running ones through onProgress), waiting transfer requests are settled,
   * and transfers the service no longer knows are reported lost.
   *
   * `seq` is the service's own counter and starts again at 0 when it restarts,
   * so a restart is looked for first: the service closed the connection with
   * 1001 (going away, as on shutdown), the seq it reports went down, or a
   * transfer the client knew has vanished. Then the whole list is the news.
   */
  private async resync(): Promise<void> {
    const since = this.seq;
    this.resyncBuffer = [];
    try {
      let restarted = this.lastCloseCode === CLOSE_GOING_AWAY;
      let statuses: readonly TransferStatus[] = [];
      let listedAt = 0;
      let unaccounted: string[] = [...new Set([...this.active.keys(), ...this.orphanedTransferIds()])];
      if (!restarted) {
        const changed = (await this.callNow('listTransfers', { sinceSeq: since })) as ListTransfersResult;
        restarted = changed.seq < since;
        statuses = changed.transfers;
        listedAt = changed.seq;
        const listed = new Set(statuses.map((status) => status.transferId));
        unaccounted = unaccounted.filter((id) => !listed.has(id));
      }
      let vanished: string[] = [];
      if (restarted || unaccounted.length > 0) {
        // A known transfer not listed has either not changed, or is gone: only the whole list tells.
        const all = (await this.callNow('listTransfers', {})) as ListTransfersResult;
        const known = new Set(all.transfers.map((status) => status.transferId));
        vanished = unaccounted.filter((id) => !known.has(id));
        if (restarted || vanished.length > 0) {
          statuses = all.transfers;
          listedAt = all.seq;
        }
        // seq counts again from the listing's; finished transfers already
        // reported stay so (a service that keeps transfers across restarts lists them again).
        if (restarted) this.seq = 0;
      }
      for (const status of statuses) this.reportStatus(status, listedAt);
      for (const id of vanished) this.reportLost(id, listedAt);
      this.seq = Math.max(this.seq, listedAt);
      const buffered = this.resyncBuffer;
      this.resyncBuffer = undefined;
      for (const notification of buffered) {
        const seq = notification.params['seq'];
        if (typeof seq === 'number' && seq > listedAt) this.dispatchNotification(notification, 'live');
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
      };
      this.handleFinished(finished, 'resync', status.totalBytes);
    } else {
      this.handleProgress({ ...status, seq }, 'resync');
    }
  }

  private reportLost(transferId: string, seq: number): void {
    const seen = this.active.get(transferId);
    const transfer = this.transfers.get(transferId);
    if (transfer !== undefined && transfer.orphaned) {
      this.settleTransfer(
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

  private orphanedTransferIds(): string[] {
    return [...this.transfers.values()].filter((transfer) => transfer.orphaned).map((transfer) => transfer.transferId);
  }

  // ---------------------------------------------------------------------------
  // Requests

  private call(method: string, params: unknown, timeoutMs: number, signal: AbortSignal | undefined, transferId?: string): Promise<unknown> {
    return new Promise((resolve, reject) => {
      if (this.closing) {
        reject(new ClientClosedError());
        return;
      }
      if (signal?.aborted === true) {
        reject(new RequestAbortedError(method, { cause: signal.reason }));
        return;
      }
      let timer: ReturnType<typeof setTimeout> | undefined;
      let settled = false;
      const onAbort = () => entry.fail(new RequestAbortedError(method, { cause: signal?.reason }));
      const finish = () => {
        settled = true;
        if (timer !== undefined) clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        if (entry.id !== undefined) this.pending.delete(entry.id);
        const queued = this.outbox.indexOf(entry);
        if (queued >= 0) this.outbox.splice(queued, 1);
      };
      const entry: OutgoingRequest = {
        method,
        params,
        transferId,
        id: undefined,
        resolve: (result) => {
          if (settled) return;
          finish();
          resolve(result);
        },
        fail: (error) => {
          if (settled) return;
          finish();
          reject(error);
        },
      };
      if (timeoutMs > 0) timer = setTimeout(() => entry.fail(new RequestTimeoutError(method, timeoutMs)), timeoutMs);
      signal?.addEventListener('abort', onAbort, { once: true });
      if (this.connectionState === 'open' && this.transport !== undefined) this.send(entry, this.transport);
      else this.outbox.push(entry);
    });
  }

  /** Send at once on the current connection (the client's own calls during start and resync). */
  private callNow(method: string, params: unknown): Promise<unknown> {
    return new Promise((resolve, reject) => {
      const transport = this.transport;
      if (transport === undefined) {
        reject(new ConnectionLostError());
        return;
      }
      let timer: ReturnType<typeof setTimeout> | undefined;
      const entry: OutgoingRequest = {
        method,
        params,
        transferId: undefined,
        id: undefined,
        resolve: (result) => {
          if (timer !== undefined) clearTimeout(timer);
          resolve(result);
        },
        fail: (error) => {
          if (timer !== undefined) clearTimeout(timer);
          if (entry.id !== undefined) this.pending.delete(entry.id);
          reject(error);
        },
      };
      if (this.requestTimeoutMs > 0) timer = setTimeout(() => entry.fail(new RequestTimeoutError(method, this.requestTimeoutMs)), this.requestTimeoutMs);
      this.send(entry, transport);
    });
  }

  private send(entry: OutgoingRequest, transport: Transport): void {
    const id = this.nextId++;
    entry.id = id;
    this.pending.set(id, entry);
    const message = { jsonrpc: '2.0', id, method: entry.method, ...(entry.params === undefined ? {} : { params: entry.params }) };
    transport.send(JSON.stringify(message));
  }

  private flushOutbox(): void {
    const transport = this.transport;
    if (transport === undefined) return;
    for (const entry of this.outbox.splice(0)) this.send(entry, transport);
  }

  private handleMessage(text: string): void {
    const inbound = parseInbound(text);
    if (inbound.kind === 'response') {
      const { id, result, error } = inbound.message;
      const entry = typeof id === 'number' ? this.pending.get(id) : undefined;
      if (entry === undefined) return; // timed out or abandoned: the late answer has no one waiting
      this.pending.delete(id as number);
      if (error !== undefined) entry.fail(new RpcError(error));
      else entry.resolve(result);
    } else if (inbound.kind === 'notification') {
      if (this.resyncBuffer !== undefined) this.resyncBuffer.push(inbound.message);
      else this.dispatchNotification(inbound.message, 'live');
    }
  }

  // ---------------------------------------------------------------------------
  // Transfers

  private transfer(direction: TransferDirection, params: UploadParams | DownloadParams, options: TransferOptions): Promise<UploadOutcome | DownloadOutcome> {
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
      if (this.transfers.has(transferId)) {
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
      this.transfers.set(transferId, transfer);
      signal?.addEventListener('abort', onAbort, { once: true });
      this.call(direction, { ...params, transferId }, 0, undefined, transferId).then(
        (result) => this.settleTransfer(transfer, result as UploadResult | DownloadResult),
        (err: unknown) => {
          // A service shutting down answers CANCELLED with data.interrupted for a transfer it
          // will resume after its restart: not the outcome yet, so wait for it as across a reconnect.
          if (isInterruption(err) && this.reconnect !== false && !transfer.cancelWanted) {
            transfer.orphaned = true;
            return;
          }
          this.settleTransfer(transfer, err instanceof Error ? err : new Error(String(err)));
        },
      );
    });
  }

  private settleTransfer(transfer: PendingTransfer, outcome: UploadOutcome | DownloadOutcome | Error): void {
    if (this.transfers.get(transfer.transferId) !== transfer) return;
    this.transfers.delete(transfer.transferId);
    transfer.detachSignal();
    if (outcome instanceof Error) transfer.reject(outcome);
    else transfer.resolve(outcome);
  }

  private requestCancel(transfer: PendingTransfer): void {
    transfer.cancelWanted = true;
    if (!transfer.cancelInFlight && this.transfers.get(transfer.transferId) === transfer) this.sendCancel(transfer);
  }

  private sendCancel(transfer: PendingTransfer): void {
    transfer.cancelInFlight = true;
    transfer.cancelAtNextNotification = false;
    this.call('cancelTransfer', { transferId: transfer.transferId }, this.requestTimeoutMs, undefined).then(
      () => {
        transfer.cancelInFlight = false;
      },
      (err: unknown) => {
        transfer.cancelInFlight = false;
        if (this.transfers.get(transfer.transferId) !== transfer) return;
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
    this.trackActive(progress);
    const transfer = this.transfers.get(progress.transferId);
    if (transfer !== undefined) {
      if (transfer.cancelAtNextNotification && !transfer.cancelInFlight) this.sendCancel(transfer);
      if (transfer.onProgress !== undefined) this.deliver(transfer.onProgress, progress);
    }
    this.emit('transferProgress', progress, { source });
  }

  /** `totalBytes`: known when the finish was made up from a TransferStatus (a recovered result needs the size). */
  private handleFinished(finished: TransferFinishedParams, source: EventSource, totalBytes?: number): void {
    this.active.delete(finished.transferId);
    if (this.reportedFinished.has(finished.transferId)) return;
    this.rememberFinished(finished.transferId);
    const transfer = this.transfers.get(finished.transferId);
    // A transfer whose request is still on the current connection is settled by its answer.
    if (transfer !== undefined && transfer.orphaned) this.settleTransfer(transfer, outcomeOf(finished, totalBytes));
    this.emit('transferFinished', finished, { source });
  }

  private trackActive(status: TransferStatus): void {
    if (FINISHED_STATES.has(status.state)) return;
    this.active.set(status.transferId, { direction: status.direction, name: status.name });
  }

  private rememberFinished(transferId: string): void {
    this.reportedFinished.add(transferId);
    if (this.reportedFinished.size > MAX_REMEMBERED_FINISHED) {
      const oldest = this.reportedFinished.values().next().value;
      if (oldest !== undefined) this.reportedFinished.delete(oldest);
    }
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
    for (const entry of [...this.pending.values(), ...this.outbox]) entry.fail(error);
    this.pending.clear();
    this.outbox.length = 0;
    for (const transfer of [...this.transfers.values()]) this.settleTransfer(transfer, error);
    if (this.connectionState !== 'closed') this.setState({ state: 'closed', error });
  }
}

function isInterruption(err: unknown): boolean {
  return isRpcError(err, 'CANCELLED') && err.data?.['interrupted'] === true;
}

function cancelledError(): RpcError {
  const spec = ApplicationErrors.CANCELLED;
  return new RpcError({ code: spec.code, message: spec.message, data: { reason: 'CANCELLED' } });
}

function outcomeOf(finished: TransferFinishedParams, totalBytes: number | undefined): UploadOutcome | DownloadOutcome | Error {
  if (finished.outcome === 'completed') {
    if (finished.result !== undefined) return finished.result as UploadResult | DownloadResult;
    return { recovered: true, transferId: finished.transferId, name: finished.name, size: totalBytes ?? 0 };
  }
  const error: ProtocolError =
    finished.error === undefined
      ? finished.outcome === 'cancelled'
        ? cancelledError().toProtocolError()
        : { code: JsonRpcErrorCode.INTERNAL_ERROR, message: 'The transfer failed.' }
      : (finished.error as ProtocolError);
  return new RpcError(error);
}

/** Open a client over any transport: resolves once connected (ConnectError otherwise). */
export async function createClient(openTransport: OpenTransport, options: ClientOptions = {}): Promise<CloudlockerClient> {
  const client = new CloudlockerClient(openTransport, options);
  await client.start();
  return client;
}
