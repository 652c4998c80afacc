/**
 * The client's table of requests: ids, the answers awaited, the outbox of
 * requests made while no connection is open, timeouts and abort signals.
 * One way to make a request (`call`): sent at once on the transport given,
 * or queued until `flush` when there is none. The client decides which
 * (client.ts); this table knows nothing of reconnecting.
 */
import { RequestAbortedError, RequestTimeoutError, RpcError } from './errors.js';
import type { JsonRpcResponse } from './json-rpc.js';
import type { Transport } from './transport.js';

export interface OutgoingRequest {
  readonly method: string;
  readonly params: unknown;
  readonly resolve: (result: unknown) => void;
  readonly fail: (error: Error) => void;
  /** Set for upload and download: kept across a reconnect instead of failing. */
  readonly transferId: string | undefined;
  id: number | undefined;
}

export interface CallOptions {
  /** 0: no timeout. */
  readonly timeoutMs: number;
  readonly signal?: AbortSignal | undefined;
  readonly transferId?: string | undefined;
}

export class RequestTable {
  private nextId = 1;
  private readonly pending = new Map<number, OutgoingRequest>();
  private readonly outbox: OutgoingRequest[] = [];

  /** Send now on `transport`, or queue for the next `flush` when it is undefined. Settles exactly once. */
  call(method: string, params: unknown, options: CallOptions, transport: Transport | undefined): Promise<unknown> {
    const { timeoutMs, signal, transferId } = options;
    return new Promise((resolve, reject) => {
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
      if (transport !== undefined) this.send(entry, transport);
      else this.outbox.push(entry);
    });
  }

  /** Send what waited for a connection. */
  flush(transport: Transport): void {
    for (const entry of this.outbox.splice(0)) this.send(entry, transport);
  }

  /** Settle the request a response answers; a late answer (timed out, abandoned) is dropped. */
  answer(response: JsonRpcResponse): void {
    const { id, result, error } = response;
    const entry = typeof id === 'number' ? this.pending.get(id) : undefined;
    if (entry === undefined) return;
    this.pending.delete(id as number);
    if (error !== undefined) entry.fail(new RpcError(error));
    else entry.resolve(result);
  }

  /** The requests sent on a connection that has closed, no longer awaited here: the caller fails or keeps each. */
  takeSent(): OutgoingRequest[] {
    const sent = [...this.pending.values()];
    this.pending.clear();
    return sent;
  }

  /** Fail everything sent or queued. */
  failAll(error: Error): void {
    for (const entry of [...this.pending.values(), ...this.outbox]) entry.fail(error);
    this.pending.clear();
    this.outbox.length = 0;
  }

  private send(entry: OutgoingRequest, transport: Transport): void {
    const id = this.nextId++;
    entry.id = id;
    this.pending.set(id, entry);
    const message = { jsonrpc: '2.0', id, method: entry.method, ...(entry.params === undefined ? {} : { params: entry.params }) };
    transport.send(JSON.stringify(message));
  }
}
