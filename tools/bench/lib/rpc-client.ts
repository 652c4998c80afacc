/**
 * The least JSON-RPC client a measurement needs: one wss connection,
 * requests matched to answers by id, notifications counted (and handed to a
 * listener when one is set). Nothing else runs in it, so its own cost stays
 * out of the figures as far as possible.
 */
import { WebSocket } from 'ws';

export interface RpcEndpoint {
  readonly url: string;
  readonly token: string;
  readonly caPem: string;
}

export class RpcError extends Error {
  constructor(readonly error: { code: number; message: string; data?: unknown }) {
    super(`${error.code} ${error.message}${error.data === undefined ? '' : ` ${JSON.stringify(error.data)}`}`);
  }
}

interface Pending {
  resolve(value: unknown): void;
  reject(error: unknown): void;
}

export class BenchRpcClient {
  notificationCount = 0;
  onNotification: ((method: string, params: unknown) => void) | undefined;
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();

  private constructor(private readonly ws: WebSocket) {
    ws.on('message', (data: Buffer) => this.onMessage(data));
    ws.on('close', () => {
      for (const { reject } of this.pending.values()) reject(new Error('connection closed'));
      this.pending.clear();
    });
  }

  static connect(endpoint: RpcEndpoint): Promise<BenchRpcClient> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(endpoint.url, {
        ca: endpoint.caPem,
        headers: { Authorization: `Bearer ${endpoint.token}` },
        perMessageDeflate: false,
      });
      ws.once('open', () => resolve(new BenchRpcClient(ws)));
      ws.once('error', reject);
      ws.once('unexpected-response', (_request, response) => reject(new Error(`handshake refused: HTTP ${response.statusCode}`)));
    });
  }

  call<R = unknown>(method: string, params?: unknown): Promise<R> {
    const id = this.nextId++;
    return new Promise<R>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (value: unknown) => void, reject });
      this.ws.send(JSON.stringify({ jsonrpc: '2.0', id, method, ...(params === undefined ? {} : { params }) }));
    });
  }

  /** Stop reading from the socket (a UI that has stopped listening), or start again. */
  setPaused(paused: boolean): void {
    if (paused) this.ws.pause();
    else this.ws.resume();
  }

  close(): Promise<void> {
    if (this.ws.readyState === WebSocket.CLOSED) return Promise.resolve();
    return new Promise((resolve) => {
      this.ws.once('close', () => resolve());
      this.ws.close();
    });
  }

  private onMessage(data: Buffer): void {
    const message = JSON.parse(data.toString('utf8')) as {
      id?: number;
      method?: string;
      params?: unknown;
      result?: unknown;
      error?: { code: number; message: string; data?: unknown };
    };
    if (message.method !== undefined && message.id === undefined) {
      this.notificationCount += 1;
      this.onNotification?.(message.method, message.params);
      return;
    }
    const pending = message.id === undefined ? undefined : this.pending.get(message.id);
    if (pending === undefined) return;
    this.pending.delete(message.id as number);
    if (message.error !== undefined) pending.reject(new RpcError(message.error));
    else pending.resolve(message.result);
  }
}
