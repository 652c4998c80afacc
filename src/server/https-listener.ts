/**
 * The HTTPS server under the WebSocket endpoint: TLS settings and timeouts,
 * the answer to plain HTTP requests (where the endpoint is, nothing else),
 * listening with errors that say what to do, and closing.
 */
import https from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { RPC_PATH } from '../../protocol/index.js';
import { urlPathForLog, type Logger } from '../logging.js';

/** A TLS handshake or HTTP request head that takes longer is cut off (Node's defaults are 120 s and 60 s). */
const TLS_HANDSHAKE_TIMEOUT_MS = 10_000;
const HEADERS_TIMEOUT_MS = 10_000;

/** The server could not start (port in use, address not available, ...); the message says what to do. */
export class ServerStartError extends Error {
  override readonly name = 'ServerStartError';
}

export function createHttpsServer(
  tls: { readonly certPem: string; readonly keyPem: string; readonly source?: 'user' | 'generated' | 'reused' | 'renewed' },
  logger: Logger,
): https.Server {
  const server = https.createServer(
    {
      cert: tls.certPem,
      key: tls.keyPem,
      // No trust store for our own self-signed certificate. A TLS server uses one only to check client
      // certificates (never asked for here) and to complete its own chain (a self-signed certificate
      // has none); without a `ca` Node gives every context its ~140 bundled root CAs, parsing them all
      // on the first (start-up CPU, issue 17). Only the certificate we made: sources generated, reused,
      // renewed. The user's own certificate (--tls-cert, source user) and a listener given no source keep
      // Node's default, in case a chain is completed from that store.
      ...(tls.source === 'generated' || tls.source === 'reused' || tls.source === 'renewed' ? { ca: [] } : {}),
      minVersion: 'TLSv1.2',
      handshakeTimeout: TLS_HANDSHAKE_TIMEOUT_MS,
      headersTimeout: HEADERS_TIMEOUT_MS,
    },
    answerPlainRequest,
  );
  server.on('tlsClientError', (err) => logger.debug({ err: { message: err.message } }, 'TLS handshake failed'));
  server.on('clientError', (err, socket) => {
    logger.debug({ err: { message: err.message } }, 'bad HTTP request');
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
    else socket.destroy();
  });
  return server;
}

/** Not a WebSocket upgrade: say where the endpoint is, serve nothing else. */
function answerPlainRequest(request: IncomingMessage, response: ServerResponse): void {
  const path = urlPathForLog(request.url);
  const body =
    path === '/' || path === RPC_PATH
      ? {
          name: 'cloudlocker',
          error: 'Upgrade Required',
          hint: `Connect with a WebSocket to ${RPC_PATH} and speak JSON-RPC 2.0; authenticate with "Authorization: Bearer <token>" or "?token=".`,
        }
      : { name: 'cloudlocker', error: 'Not Found', hint: `The only endpoint is the WebSocket at ${RPC_PATH}.` };
  const status = body.error === 'Not Found' ? 404 : 426;
  const text = JSON.stringify(body);
  response.writeHead(status, {
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': Buffer.byteLength(text),
    'Cache-Control': 'no-store',
    ...(status === 426 ? { Upgrade: 'websocket', Connection: 'Upgrade' } : {}),
  });
  response.end(text);
}

/** The host part of the server's URL for the address it is bound to. */
export function urlHost(address: AddressInfo): string {
  // A wildcard bind is reached locally through loopback, which the certificate names.
  if (address.address === '0.0.0.0' || address.address === '::') return '127.0.0.1';
  return address.family === 'IPv6' || address.address.includes(':') ? `[${address.address}]` : address.address;
}

/** Listen; rejects with a ServerStartError that says what to do. */
export function listen(server: https.Server, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException) => {
      server.off('listening', onListening);
      reject(listenError(err, port, host));
    };
    const onListening = () => {
      server.off('error', onError);
      resolve();
    };
    server.once('error', onError);
    server.once('listening', onListening);
    server.listen(port, host);
  });
}

function listenError(err: NodeJS.ErrnoException, port: number, host: string): Error {
  switch (err.code) {
    case 'EADDRINUSE':
      return new ServerStartError(
        `Port ${port} on ${host} is already in use: is another cloudlocker running (see server.json in its data directory)? ` +
          'Stop it, or choose another port with --port (0 picks a free one).',
      );
    case 'EADDRNOTAVAIL':
    case 'ENOTFOUND':
      return new ServerStartError(`Cannot listen on ${host}: no such address on this machine. Check --host.`);
    case 'EACCES':
      return new ServerStartError(`Not allowed to listen on port ${port}: choose a port above 1023 with --port.`);
    default:
      return new ServerStartError(`Cannot listen on ${host}:${port} (${err.code ?? err.message}).`);
  }
}

export function closeHttpsServer(server: https.Server): Promise<void> {
  return new Promise((resolve) => {
    if (!server.listening) {
      resolve();
      return;
    }
    server.close(() => resolve());
    // Idle keep-alive and half-finished HTTP requests would hold close() open.
    server.closeIdleConnections();
  });
}
