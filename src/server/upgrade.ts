/**
 * The WebSocket upgrade: the only way in. The handshake is checked here
 * (path, token, Origin, Host: handshake.ts) and the connection cap applied
 * before ws takes the socket; everything refused gets a short HTTP answer
 * and is closed.
 */
import { STATUS_CODES, type IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { WebSocketServer } from 'ws';
import { RPC_PATH } from '../../protocol/index.js';
import { urlPathForLog, type Logger } from '../logging.js';
import type { Connections } from './connections.js';
import { checkHandshake, type HandshakePolicy } from './handshake.js';
import type { RpcDispatcher } from './rpc-dispatcher.js';

export interface UpgradeOptions {
  readonly policy: HandshakePolicy;
  readonly wss: WebSocketServer;
  readonly connections: Connections;
  readonly maxConnections: number;
  readonly logger: Logger;
  /** The dispatcher, once the handlers are built; until then every upgrade is refused with 503. */
  readonly dispatcher: () => RpcDispatcher | undefined;
}

/** The listener for the HTTPS server's `upgrade` event. */
export function createUpgradeHandler(options: UpgradeOptions): (request: IncomingMessage, socket: Duplex, head: Buffer) => void {
  const { policy, wss, connections, maxConnections, logger } = options;
  /** Handshakes accepted but not yet open: they count towards maxConnections. */
  let upgrading = 0;
  return (request, socket, head) => {
    socket.on('error', (err) => logger.debug({ err: { message: err.message } }, 'socket error during the handshake'));
    const dispatcher = options.dispatcher();
    if (!connections.accepting || dispatcher === undefined) {
      rejectUpgrade(socket, 503, 'The server is starting or stopping: try again in a moment.');
      return;
    }
    const verdict = checkHandshake(request, policy);
    if (!verdict.ok) {
      logger.info(
        { status: verdict.status, reason: verdict.reason, path: urlPathForLog(request.url), remote: request.socket.remoteAddress },
        'refused a WebSocket handshake',
      );
      rejectUpgrade(socket, verdict.status, REFUSAL_TEXT[verdict.status], verdict.status === 401 ? ['WWW-Authenticate: Bearer realm="cloudlocker"'] : []);
      return;
    }
    if (connections.size + upgrading >= maxConnections) {
      logger.warn({ maxConnections }, 'refused a WebSocket handshake: too many connections');
      rejectUpgrade(socket, 503, 'Too many connections to this server: close some, or raise maxConnections.', ['Retry-After: 1']);
      return;
    }
    // ws answers a malformed upgrade itself (400) without calling back: the slot is freed when the socket closes.
    let counted = true;
    const release = () => {
      if (counted) {
        counted = false;
        upgrading -= 1;
      }
    };
    upgrading += 1;
    socket.once('close', release);
    wss.handleUpgrade(request, socket, head, (ws) => {
      release();
      connections.serve(ws, request, dispatcher);
    });
  };
}

const REFUSAL_TEXT: Record<401 | 403 | 404, string> = {
  401: 'A valid token is required: send "Authorization: Bearer <token>" or the "token" query parameter (see server.json).',
  403: 'This Origin or Host is not allowed to connect (see --allow-origin).',
  404: `The JSON-RPC endpoint is ${RPC_PATH}.`,
};

function rejectUpgrade(socket: Duplex, status: number, message: string, extraHeaders: string[] = []): void {
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  const body = `${message}\n`;
  const head = [
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Error'}`,
    'Connection: close',
    'Content-Type: text/plain; charset=utf-8',
    `Content-Length: ${Buffer.byteLength(body)}`,
    'Cache-Control: no-store',
    ...extraHeaders,
  ].join('\r\n');
  socket.once('finish', () => socket.destroy());
  socket.end(`${head}\r\n\r\n${body}`);
}
