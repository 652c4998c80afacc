/**
 * The smallest JSON-RPC client the load scenarios need: one wss connection,
 * requests matched to answers by id, notifications counted and dropped.
 * (The project's own client does much more — reconnects, transfer tracking —
 * which would be measured along with the server.)
 */
import { WebSocket } from 'ws';

export interface LoadTarget {
  /** wss://host:port/rpc */
  readonly url: string;
  readonly token: string;
  /** The server's certificate (PEM), trusted by pinning. */
  readonly caPem: string;
}

export interface RpcErrorObject {
  readonly code: number;
  readonly message: string;
  readonly data?: Record<string, unknown>;
}

/** A call answered with an error object. */
export class RpcError extends Error {
  constructor(readonly error: RpcErrorObject) {
    super(`${error.code} ${error.message}`);
  }
}

export class RpcConnection {
  notifications = 0;
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (value: unknown) => void; reject: (error: Error) => void }>();

  private constructor(private readonly ws: WebSocket) {
    ws.on('message', (data: Buffer) => this.onMessage(data.toString('utf8')));
    ws.on('close', () => {
      for (const { reject } of this.pending.values()) reject(new Error('connection closed'));
      this.pending.clear();
    });
    ws.on('error', () => undefined); // surfaced through close
  }

  static open(target: LoadTarget): Promise<RpcConnection> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(target.url, { ca: target.caPem, headers: { Authorization: `Bearer ${target.token}` } });
      ws.once('open', () => resolve(new RpcConnection(ws)));
      ws.once('unexpected-response', (_request, response) => {
        reject(new Error(`handshake refused with HTTP ${response.statusCode ?? '?'}`));
        ws.terminate();
      });
      ws.once('error', reject);
    });
  }

  call<T = unknown>(method: string, params?: Record<string, unknown>): Promise<T> {
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (value: unknown) => void, reject });
      this.ws.send(JSON.stringify({ jsonrpc: '2.0', id, method, ...(params === undefined ? {} : { params }) }));
    });
  }

  close(): Promise<void> {
    if (this.ws.readyState === WebSocket.CLOSED) return Promise.resolve();
    return new Promise((resolve) => {
      this.ws.once('close', () => resolve());
      this.ws.close();
    });
  }

  private onMessage(text: string): void {
    const message = JSON.parse(text) as { id?: unknown; result?: unknown; error?: RpcErrorObject; method?: unknown };
    if (typeof message.method === 'string' && message.id === undefined) {
      this.notifications += 1;
      return;
    }
    const waiter = typeof message.id === 'number' ? this.pending.get(message.id) : undefined;
    if (waiter === undefined) return;
    this.pending.delete(message.id as number);
    if (message.error !== undefined) waiter.reject(new RpcError(message.error));
    else waiter.resolve(message.result);
  }
}
