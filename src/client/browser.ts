/**
 * The cloudlocker client for browsers and Electron renderers: the native
 * WebSocket, the token in the `token` query parameter (a browser cannot set
 * headers on a WebSocket). No Node import anywhere below this file.
 *
 * Trusting the service's self-signed certificate is the browser's business:
 * Electron pins it with `session.setCertificateVerifyProc`, Chromium with
 * `--ignore-certificate-errors-spki-list` (docs/electron.md).
 *
 *   const client = await connect({ endpoint: () => window.cloudlocker.connection() });
 */
import { createClient, type ClientOptions, type CloudlockerClient } from './client.js';
import { ConnectError } from './errors.js';
import type { OpenTransport, Transport } from './transport.js';

export interface BrowserEndpoint {
  /** wss://127.0.0.1:<port>/rpc */
  readonly url: string;
  readonly token: string;
}

/** The part of the WebSocket constructor the client uses (the global one by default). */
export type WebSocketConstructor = new (url: string) => WebSocket;

export interface BrowserConnectOptions extends ClientOptions, Partial<BrowserEndpoint> {
  /**
   * Where to connect, asked again at every (re)connect: a renderer should get
   * url and token from its preload here, since a restarted service has a new token.
   */
  endpoint?: () => BrowserEndpoint | Promise<BrowserEndpoint>;
  /** Give up on a handshake after this many ms. Default 10000. */
  handshakeTimeoutMs?: number;
  /** Default: globalThis.WebSocket. */
  WebSocket?: WebSocketConstructor;
}

export function browserTransport(
  endpoint: () => BrowserEndpoint | Promise<BrowserEndpoint>,
  options: { handshakeTimeoutMs?: number; WebSocket?: WebSocketConstructor } = {},
): OpenTransport {
  return async (handlers) => {
    const { url, token } = await endpoint();
    const target = new URL(url);
    target.searchParams.set('token', token);
    const where = `${target.protocol}//${target.host}${target.pathname}`;
    const Impl = options.WebSocket ?? globalThis.WebSocket;
    const timeoutMs = options.handshakeTimeoutMs ?? 10_000;
    return new Promise<Transport>((resolve, reject) => {
      const ws = new Impl(target.toString());
      let opened = false;
      const timer = setTimeout(() => {
        ws.close();
        reject(new ConnectError('unreachable', `No answer from the cloudlocker service at ${where} within ${timeoutMs} ms.`));
      }, timeoutMs);
      ws.addEventListener('open', () => {
        clearTimeout(timer);
        opened = true;
        resolve({ send: (text) => ws.send(text), close: (code, reason) => ws.close(code, reason) });
      });
      // 'close' follows every 'error' and carries what the page may know.
      ws.addEventListener('error', () => undefined);
      ws.addEventListener('message', (event: MessageEvent) => {
        if (typeof event.data === 'string') handlers.onMessage(event.data);
      });
      ws.addEventListener('close', (event: CloseEvent) => {
        clearTimeout(timer);
        if (opened) {
          handlers.onClose({ code: event.code, reason: event.reason });
          return;
        }
        // A browser does not say why a handshake failed (the page must not learn it).
        reject(
          new ConnectError(
            'refused',
            `Could not connect to the cloudlocker service at ${where}: it is not running, refused this page's origin or the token, or its certificate is not trusted.`,
          ),
        );
      });
    });
  };
}

/** Connect and resolve once the first connection is open; rejects with ConnectError otherwise. */
export function connect(options: BrowserConnectOptions): Promise<CloudlockerClient> {
  const { url, token, endpoint, handshakeTimeoutMs, WebSocket: Impl, ...clientOptions } = options;
  let where: () => BrowserEndpoint | Promise<BrowserEndpoint>;
  if (endpoint !== undefined) where = endpoint;
  else if (url !== undefined && token !== undefined) where = () => ({ url, token });
  else return Promise.reject(new TypeError('connect: pass url and token, or endpoint.'));
  return createClient(
    browserTransport(where, { ...(handshakeTimeoutMs === undefined ? {} : { handshakeTimeoutMs }), ...(Impl === undefined ? {} : { WebSocket: Impl }) }),
    clientOptions,
  );
}

export * from './common.js';
