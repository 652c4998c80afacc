/**
 * Test helpers for anything that talks to a running server over wss:
 * start one on a free port in a temporary data directory, open authenticated
 * (or deliberately unauthenticated) clients, call methods, capture
 * notifications, and try handshakes that are expected to fail.
 *
 *   const server = await startTestServer();
 *   const client = await openClient(server);
 *   const info = await client.request('getServerInfo', {});
 *   await client.close(); await server.stop();
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { WebSocket } from 'ws';
import type { MethodDescriptorOf, MethodName, ParamsOf, ProtocolError, ResultOf } from '../../protocol/index.js';
import { createLogger } from '../../src/logging.js';
import { startServer, type RunningServer, type ServerOptions } from '../../src/server/index.js';

export async function makeTempDir(prefix = 'cloudlocker-test-'): Promise<string> {
  return mkdtemp(path.join(os.tmpdir(), prefix));
}

/** Every log line the server wrote (JSON text), for assertions such as "the token is never logged". */
export interface LogCapture {
  readonly lines: string[];
  text(): string;
}

export interface TestServer extends RunningServer {
  /** The certificate the server presents (PEM): what clients trust. */
  readonly caPem: string;
  readonly logs: LogCapture;
  /** Close the server and delete the data directory if this helper made it. */
  stop(): Promise<void>;
}

/**
 * A server on 127.0.0.1 and a free port, in a fresh temporary data directory
 * (unless `dataDir` is given), ignoring CLOUDLOCKER_* variables (unless `env`
 * is given), logging at debug level into memory.
 */
export async function startTestServer(options: ServerOptions = {}): Promise<TestServer> {
  const ownDataDir = options.dataDir === undefined ? await makeTempDir() : undefined;
  const lines: string[] = [];
  const logger =
    options.logger ??
    createLogger({ level: 'debug', destination: { write: (line: string) => void lines.push(line) } });
  let running: RunningServer;
  try {
    running = await startServer({ port: 0, env: {}, ...options, dataDir: options.dataDir ?? ownDataDir, logger });
  } catch (err) {
    if (ownDataDir !== undefined) await rm(ownDataDir, { recursive: true, force: true });
    throw err;
  }
  const caPem = readFileSync(running.certificate.path, 'utf8');
  return {
    ...running,
    caPem,
    logs: { lines, text: () => lines.join('') },
    close: () => running.close(),
    stop: async () => {
      await running.close();
      if (ownDataDir !== undefined) await rm(ownDataDir, { recursive: true, force: true });
    },
  };
}

export interface ClientOptions {
  /** The token to present; null for none. Default: the server's. */
  token?: string | null;
  /** How to present it. Default 'header' (Authorization: Bearer). */
  tokenVia?: 'header' | 'query';
  /** An Origin header to send (none by default, like a script). */
  origin?: string;
  /** Replace the Host header. */
  host?: string;
  /** Request path. Default RPC_PATH ("/rpc"). */
  path?: string;
  /** Extra request headers. */
  headers?: Record<string, string>;
  /** Subprotocols to offer. */
  protocols?: string[];
  /** ws maxPayload for inbound (server → client) frames. Default ws's. */
  maxPayload?: number;
}

function clientUrlAndHeaders(server: TestServer, options: ClientOptions): { url: string; headers: Record<string, string> } {
  const base = new URL(server.url);
  base.pathname = options.path ?? base.pathname;
  const token = options.token === undefined ? server.token : options.token;
  const headers: Record<string, string> = { ...options.headers };
  if (token !== null) {
    if (options.tokenVia === 'query') base.searchParams.set('token', token);
    else headers['Authorization'] = `Bearer ${token}`;
  }
  if (options.origin !== undefined) headers['Origin'] = options.origin;
  if (options.host !== undefined) headers['Host'] = options.host;
  return { url: base.toString(), headers };
}

function connect(server: TestServer, options: ClientOptions): WebSocket {
  const { url, headers } = clientUrlAndHeaders(server, options);
  return new WebSocket(url, options.protocols ?? [], {
    ca: server.caPem,
    headers,
    ...(options.maxPayload === undefined ? {} : { maxPayload: options.maxPayload }),
  });
}

export type HandshakeOutcome =
  | { readonly status: 101; readonly protocol: string }
  | { readonly status: number; readonly body: string; readonly headers: Record<string, string | string[] | undefined> };

/** Attempt a handshake and report how it ended: 101 (and close at once) or the HTTP refusal. */
export function tryHandshake(server: TestServer, options: ClientOptions = {}): Promise<HandshakeOutcome> {
  return new Promise((resolve, reject) => {
    const ws = connect(server, options);
    ws.on('open', () => {
      const protocol = ws.protocol;
      ws.close();
      resolve({ status: 101, protocol });
    });
    ws.on('unexpected-response', (_request, response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => {
        resolve({ status: response.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8'), headers: response.headers });
        ws.terminate();
      });
    });
    ws.on('error', (err) => reject(err));
  });
}

export interface JsonRpcResponseMessage {
  jsonrpc: '2.0';
  id: string | number | null;
  result?: unknown;
  error?: ProtocolError;
}

export interface NotificationMessage {
  jsonrpc: '2.0';
  method: string;
  params: Record<string, unknown>;
}

/** A failed call, with the error object the server sent. */
export class RpcCallError extends Error {
  constructor(readonly error: ProtocolError) {
    super(`${error.code} ${error.message}`);
  }
}

/** A deliberately small JSON-RPC client over one WebSocket. */
export class TestClient {
  readonly notifications: NotificationMessage[] = [];
  /** Resolves with the close code and reason once the connection has closed. */
  readonly closed: Promise<{ code: number; reason: string }>;
  private nextId = 1;
  private readonly pending = new Map<
    string,
    { resolve: (response: JsonRpcResponseMessage) => void; reject: (err: Error) => void; method: string }
  >();
  private readonly unclaimed: unknown[] = [];
  private readonly waiters: Array<() => void> = [];

  constructor(readonly ws: WebSocket) {
    this.closed = new Promise((resolve) =>
      ws.on('close', (code, reason) => {
        // A call whose answer never came fails here, naming itself, rather than as a test timeout.
        for (const [id, { reject, method }] of this.pending) reject(new Error(`the connection closed (${code}) before the answer to ${id} (${method})`));
        this.pending.clear();
        resolve({ code, reason: reason.toString('utf8') });
      }),
    );
    ws.on('message', (data: Buffer) => this.onMessage(data.toString('utf8')));
    ws.on('error', () => undefined); // surfaced through `closed`
  }

  /** Send a request and resolve with the whole response (result or error). Ids are strings "c1", "c2"... */
  call(method: string, params?: unknown): Promise<JsonRpcResponseMessage> {
    const id = `c${this.nextId++}`;
    const response = new Promise<JsonRpcResponseMessage>((resolve, reject) => this.pending.set(id, { resolve, reject, method }));
    // Not every test awaits every call; one that does still sees the rejection.
    response.catch(() => undefined);
    this.ws.send(JSON.stringify({ jsonrpc: '2.0', id, method, ...(params === undefined ? {} : { params }) }));
    return response;
  }

  /** A typed call that resolves with the result or rejects with RpcCallError. */
  async request<N extends MethodName>(
    method: N,
    params: ParamsOf<MethodDescriptorOf<N>>,
  ): Promise<ResultOf<MethodDescriptorOf<N>>> {
    const response = await this.call(method, params);
    if (response.error !== undefined) throw new RpcCallError(response.error);
    return response.result as ResultOf<MethodDescriptorOf<N>>;
  }

  /** Send any text (or bytes, as a binary frame) as it is. */
  sendRaw(data: string | Buffer): void {
    this.ws.send(data);
  }

  /** The next message that is neither a notification nor the answer to call(): for raw frames. */
  async nextMessage(timeoutMs = 5000): Promise<unknown> {
    await this.waitUntil(() => this.unclaimed.length > 0, timeoutMs, 'a message');
    return this.unclaimed.shift();
  }

  /** Every message received so far that nextMessage() has not returned (and forget them). */
  takeUnclaimed(): unknown[] {
    return this.unclaimed.splice(0);
  }

  /** Send raw text and resolve with the parsed answer. */
  async exchange(text: string, timeoutMs = 5000): Promise<unknown> {
    this.sendRaw(text);
    return this.nextMessage(timeoutMs);
  }

  /** Resolves true if no unclaimed message arrives within `ms`. */
  async staysSilent(ms: number): Promise<boolean> {
    await new Promise((resolve) => setTimeout(resolve, ms));
    return this.unclaimed.length === 0;
  }

  async waitForNotification(
    predicate: (notification: NotificationMessage) => boolean,
    timeoutMs = 5000,
  ): Promise<NotificationMessage> {
    let found: NotificationMessage | undefined;
    await this.waitUntil(() => (found = this.notifications.find(predicate)) !== undefined, timeoutMs, 'a notification');
    return found as NotificationMessage;
  }

  async close(): Promise<void> {
    if (this.ws.readyState === WebSocket.CLOSED) return;
    this.ws.close();
    await this.closed;
  }

  private onMessage(text: string): void {
    const message = JSON.parse(text) as unknown;
    if (typeof message === 'object' && message !== null && !Array.isArray(message)) {
      const record = message as Record<string, unknown>;
      if (typeof record['method'] === 'string' && !('id' in record)) {
        this.notifications.push(message as NotificationMessage);
        this.wake();
        return;
      }
      const id = record['id'];
      const waiting = typeof id === 'string' ? this.pending.get(id) : undefined;
      if (waiting !== undefined) {
        this.pending.delete(id as string);
        waiting.resolve(message as JsonRpcResponseMessage);
        return;
      }
    }
    this.unclaimed.push(message);
    this.wake();
  }

  private wake(): void {
    for (const waiter of this.waiters.splice(0)) waiter();
  }

  private async waitUntil(condition: () => boolean, timeoutMs: number, what: string): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!condition()) {
      const remaining = deadline - Date.now();
      if (remaining <= 0) throw new Error(`timed out waiting for ${what}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, remaining);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }
}

/** An open, authenticated (by default) client; rejects if the handshake fails. */
export function openClient(server: TestServer, options: ClientOptions = {}): Promise<TestClient> {
  return new Promise((resolve, reject) => {
    const ws = connect(server, options);
    const client = new TestClient(ws);
    ws.once('open', () => resolve(client));
    ws.once('unexpected-response', (_request, response) => {
      reject(new Error(`handshake refused with HTTP ${response.statusCode ?? '?'}`));
      ws.terminate();
    });
    ws.once('error', reject);
  });
}
