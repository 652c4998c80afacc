/**
 * The secure WebSocket JSON-RPC front door, embeddable in an Electron main
 * process or run by `cloudlocker serve`:
 *
 *   resolveConfig (flags > env > config.json > defaults)
 *     → TLS certificate (own or self-signed, kept in the data directory)
 *     → HTTPS server; WebSocket upgrade authenticated in the `upgrade` event
 *     → JSON-RPC dispatcher (getServerInfo, rpc.discover + what createHandlers adds)
 *     → notification hub → server.json
 */
import { randomUUID } from 'node:crypto';
import https from 'node:https';
import { STATUS_CODES, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocket, WebSocketServer, type RawData } from 'ws';
import { CLOSE_GOING_AWAY, METHODS, RPC_PATH, type GetServerInfoResult } from '../../protocol/index.js';
import { resolveConfig, type ConfigInput, type ServerConfig } from '../config/index.js';
import { createLogger, urlPathForLog, type Logger } from '../logging.js';
import { createGetServerInfoHandler } from '../methods/get-server-info.js';
import type { CallContext, MethodHandlers } from '../methods/handler.js';
import { createRpcDiscoverHandler } from '../methods/rpc-discover.js';
import { ensurePrivateDirectory } from '../fs/atomic-file.js';
import { removeDiscoveryFile, writeDiscoveryFile, type DiscoveryRecord } from './discovery-file.js';
import { checkHandshake, createTokenMatcher, isLoopbackBindAddress, type HandshakePolicy } from './handshake.js';
import { NotificationHub, type NotificationHubOptions, type NotificationSink } from './notification-hub.js';
import { packageVersion } from './package-version.js';
import { ConnectionGate } from './request-gate.js';
import { RpcDispatcher, type UntypedHandler } from './rpc-dispatcher.js';
import { loadOrCreateCertificate, type ServerCertificate } from './tls-certificate.js';

export type StorageInfo = GetServerInfoResult['storage'];

/**
 * Handlers for protocol methods (upload, listFiles, ...), plus optionally
 * what to release at shutdown and the storage to describe in getServerInfo.
 * getServerInfo and rpc.discover are the server's own and cannot be replaced.
 */
export type MethodSet = Partial<MethodHandlers> & {
  /** Called once at shutdown, after no more connections are accepted and before the sockets close. */
  close?: () => Promise<void> | void;
  /** Overrides the storage getServerInfo reports (e.g. the backend's own `location`). */
  storageInfo?: StorageInfo;
};

/** What createHandlers gets to build the file methods with. */
export interface ServerContext {
  readonly config: ServerConfig;
  readonly logger: Logger;
  /** Publish transferProgress / transferFinished to every connection. */
  readonly notifications: NotificationHub;
  /** wss://host:port/rpc, with the port actually bound. */
  readonly serverUrl: string;
}

export interface ServerOptions extends ConfigInput {
  /**
   * Where CLOUDLOCKER_* variables are read from. Default: `process.env`.
   * Pass `{}` to ignore the environment (tests, apps that configure everything).
   */
  env?: Readonly<Record<string, string | undefined>>;
  /** How errors about these options name them: 'cli' says "--port", 'api' says "option port". Default 'api'. */
  optionsSource?: 'cli' | 'api';
  /** A pino logger to use. Default: a new one at config.logLevel writing JSON lines to stderr. */
  logger?: Logger;
  /**
   * Builds the handlers of the other protocol methods (storage, transfer
   * engine, file methods). Called once, after the port is bound and before
   * any connection is accepted. Default: none (those methods answer -32601).
   */
  createHandlers?: (context: ServerContext) => MethodSet | Promise<MethodSet>;
  /** What getServerInfo reports as storage. Default: from config (`local` + store directory, or `s3` + s3://bucket/prefix). */
  storageInfo?: StorageInfo;
  /** Write `<dataDir>/server.json`. Default true. */
  writeDiscoveryFile?: boolean;
  /** Watermarks of the notification hub. Default: 1 MiB high, 256 KiB low. */
  notificationHub?: NotificationHubOptions;
  /** How long close() lets clients finish the closing handshake before cutting them off. Default 1000 ms. */
  closeGraceMs?: number;
}

export interface RunningServer {
  /** wss://host:port/rpc */
  readonly url: string;
  readonly port: number;
  readonly host: string;
  readonly token: string;
  readonly certificate: { readonly path: string; readonly sha256: string; readonly spkiSha256: string };
  readonly dataDir: string;
  /** Path of server.json, or undefined when it was not written. */
  readonly discoveryFile: string | undefined;
  readonly config: ServerConfig;
  readonly logger: Logger;
  readonly notifications: NotificationHub;
  /** Stop accepting, release the handlers, close connections (1001), remove server.json. Safe to call twice. */
  close(): Promise<void>;
}

/** The server could not start (port in use, address not available, ...); the message says what to do. */
export class ServerStartError extends Error {
  override readonly name = 'ServerStartError';
}

/** WebSocket close code for "unsupported data": binary frames. */
const CLOSE_UNSUPPORTED_DATA = 1003;
/** WebSocket close code for "policy violation": a client that ignores BUSY and keeps sending. */
const CLOSE_POLICY_VIOLATION = 1008;
/**
 * Responses waiting in a connection's send buffer beyond which the server
 * stops reading that connection's requests (TCP then pushes back on the
 * client), and below which it reads again. A client that sends and never
 * reads cannot make the server buffer answers without bound.
 */
const RESPONSE_HIGH_WATERMARK_BYTES = 4 * 1024 * 1024;
const RESPONSE_LOW_WATERMARK_BYTES = 1024 * 1024;
/** A TLS handshake or HTTP request head that takes longer is cut off (Node's defaults are 120 s and 60 s). */
const TLS_HANDSHAKE_TIMEOUT_MS = 10_000;
const HEADERS_TIMEOUT_MS = 10_000;
const OWN_METHODS = new Set<string>(['getServerInfo', 'rpc.discover']);

export async function startServer(options: ServerOptions = {}): Promise<RunningServer> {
  const {
    env,
    optionsSource,
    logger: givenLogger,
    createHandlers,
    storageInfo,
    writeDiscoveryFile: shouldWriteDiscoveryFile,
    notificationHub,
    closeGraceMs,
    ...configInput
  } = options;
  const config = await resolveConfig({ options: configInput, optionsSource: optionsSource ?? 'api', env: env ?? process.env });
  const logger = givenLogger ?? createLogger({ level: config.logLevel });
  const startedAt = new Date();

  await ensurePrivateDirectory(config.dataDir);
  const certificate = await loadOrCreateCertificate({ dataDir: config.dataDir, userCertificate: config.tls, logger });
  warnAboutRiskySettings(config, logger);

  const policy: HandshakePolicy = {
    path: RPC_PATH,
    tokenMatches: createTokenMatcher(config.token),
    allowOrigins: new Set(config.allowOrigins),
    requireLoopbackHost: isLoopbackBindAddress(config.host),
  };
  const hub = new NotificationHub({
    ...notificationHub,
    onSendError: (err) => logger.debug({ err }, 'dropped a connection from the notification hub'),
  });
  const sockets = new Set<WebSocket>();
  /** Whether each connection has answered the last ping (a pong proves it reads, not just that it sends). */
  const alive = new WeakMap<WebSocket, boolean>();
  /** Handshakes accepted but not yet open: they count towards maxConnections. */
  let upgrading = 0;
  let dispatcher: RpcDispatcher | undefined;
  let accepting = false;
  /** Frames being handled, until their answer is handed to the socket: close() lets them finish before closing sockets. */
  const framesInFlight = new Set<Promise<void>>();

  const httpsServer = https.createServer(
    {
      cert: certificate.certPem,
      key: certificate.keyPem,
      minVersion: 'TLSv1.2',
      handshakeTimeout: TLS_HANDSHAKE_TIMEOUT_MS,
      headersTimeout: HEADERS_TIMEOUT_MS,
    },
    answerPlainRequest,
  );
  httpsServer.on('tlsClientError', (err) => logger.debug({ err: { message: err.message } }, 'TLS handshake failed'));
  httpsServer.on('clientError', (err, socket) => {
    logger.debug({ err: { message: err.message } }, 'bad HTTP request');
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
    else socket.destroy();
  });

  const wss = new WebSocketServer({
    noServer: true,
    maxPayload: config.maxMessageBytes,
    perMessageDeflate: false,
    // Never echo an offered subprotocol (ws picks the first one by default): we define none.
    handleProtocols: () => false,
    clientTracking: false,
  });

  httpsServer.on('upgrade', (request: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', (err) => logger.debug({ err: { message: err.message } }, 'socket error during the handshake'));
    if (!accepting || dispatcher === undefined) {
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
    if (sockets.size + upgrading >= config.maxConnections) {
      logger.warn({ maxConnections: config.maxConnections }, 'refused a WebSocket handshake: too many connections');
      rejectUpgrade(socket, 503, 'Too many connections to this server: close some, or raise maxConnections.', ['Retry-After: 1']);
      return;
    }
    const activeDispatcher = dispatcher;
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
      onConnection(ws, request, activeDispatcher);
    });
  });

  function onConnection(ws: WebSocket, request: IncomingMessage, activeDispatcher: RpcDispatcher): void {
    const call: CallContext = { connectionId: randomUUID().slice(0, 8) };
    if (!accepting) {
      // The handshake passed just as close() began: close() no longer waits for this one.
      ws.close(CLOSE_GOING_AWAY, 'server shutting down');
      setTimeout(() => ws.terminate(), closeGraceMs ?? 1000).unref();
      return;
    }
    sockets.add(ws);
    alive.set(ws, true);
    ws.on('pong', () => alive.set(ws, true));
    const gate = new ConnectionGate({
      ratePerSecond: config.maxRequestsPerSecond,
      burst: config.requestBurst,
      maxInFlight: config.maxInFlightRequests,
      onAbuse: () => {
        logger.warn({ connectionId: call.connectionId }, 'closed a connection that kept sending while refused');
        ws.close(CLOSE_POLICY_VIOLATION, 'too many requests: slow down when answered BUSY');
        setTimeout(() => ws.terminate(), closeGraceMs ?? 1000).unref();
      },
    });
    const sink: NotificationSink = {
      get bufferedAmount() {
        return ws.bufferedAmount;
      },
      send: (text) => ws.send(text, afterSend),
    };
    const leaveHub = hub.add(sink);
    logger.debug({ connectionId: call.connectionId, origin: request.headers.origin }, 'connection opened');

    ws.on('message', (data: RawData, isBinary: boolean) => {
      if (isBinary) {
        ws.close(CLOSE_UNSUPPORTED_DATA, 'cloudlocker accepts JSON-RPC in text frames only');
        return;
      }
      const answered = activeDispatcher.handleFrame(rawDataToText(data), call, gate).then((response) => {
        if (response === undefined || ws.readyState !== WebSocket.OPEN) return;
        ws.send(response, afterSend);
        if (ws.bufferedAmount > RESPONSE_HIGH_WATERMARK_BYTES && !ws.isPaused) {
          logger.debug({ connectionId: call.connectionId }, 'paused reading: the client is not reading its answers');
          ws.pause();
        }
      }).catch((err: unknown) => logger.error({ err, connectionId: call.connectionId }, 'failed to send an answer'));
      framesInFlight.add(answered);
      void answered.finally(() => framesInFlight.delete(answered));
    });
    ws.on('error', (err) => logger.debug({ connectionId: call.connectionId, err: { message: err.message } }, 'connection error'));
    ws.on('close', (code) => {
      sockets.delete(ws);
      leaveHub();
      logger.debug({ connectionId: call.connectionId, code }, 'connection closed');
    });

    /** After every send (answer or notification): log a failure; read again once the client has caught up. */
    function afterSend(err?: Error): void {
      if (err !== undefined && err !== null) logger.debug({ connectionId: call.connectionId, err: { message: err.message } }, 'send failed');
      if (ws.isPaused && ws.bufferedAmount < RESPONSE_LOW_WATERMARK_BYTES && ws.readyState === WebSocket.OPEN) ws.resume();
    }
  }

  await listen(httpsServer, config.port, config.host);
  // After listening, a server error is unexpected and must not take the process down.
  httpsServer.on('error', (err) => logger.error({ err }, 'HTTPS server error'));
  const address = httpsServer.address() as AddressInfo;
  const url = `wss://${urlHost(address)}:${address.port}${RPC_PATH}`;

  let methodSet: MethodSet = {};
  let discoveryRecord: DiscoveryRecord | undefined;
  let discoveryFile: string | undefined;
  try {
    if (createHandlers !== undefined) {
      methodSet = await createHandlers({ config, logger, notifications: hub, serverUrl: url });
    }
    dispatcher = new RpcDispatcher({
      handlers: collectHandlers(methodSet, {
        getServerInfo: createGetServerInfoHandler({
          version: packageVersion(),
          storage: methodSet.storageInfo ?? storageInfo ?? defaultStorageInfo(config),
          limits: {
            maxMessageBytes: config.maxMessageBytes,
            maxBatchSize: config.maxBatchSize,
            maxConcurrentTransfers: config.maxConcurrentTransfers,
            maxQueuedTransfers: config.maxQueuedTransfers,
            progressIntervalMs: config.progressIntervalMs,
          },
        }) as UntypedHandler,
        'rpc.discover': createRpcDiscoverHandler(() => url) as UntypedHandler,
      }, logger),
      maxBatchSize: config.maxBatchSize,
      logger,
    });
    if (shouldWriteDiscoveryFile !== false) {
      discoveryRecord = {
        url,
        port: address.port,
        pid: process.pid,
        token: config.token,
        version: packageVersion(),
        startedAt: startedAt.toISOString(),
        certificate: describeCertificate(certificate),
      };
      discoveryFile = await writeDiscoveryFile(config.dataDir, discoveryRecord);
    }
  } catch (err) {
    await Promise.resolve(methodSet.close?.()).catch(() => undefined);
    await closeHttpsServer(httpsServer);
    throw err;
  }
  accepting = true;
  // Liveness: a connection that has not answered the previous ping (a dead
  // peer, a client that stopped reading) is cut off, which also frees what
  // the server keeps for it.
  const heartbeat = setInterval(() => {
    for (const ws of sockets) {
      if (alive.get(ws) === false) {
        logger.debug('cut off a connection that did not answer a ping');
        ws.terminate();
        continue;
      }
      alive.set(ws, false);
      ws.ping();
    }
  }, config.pingIntervalMs);
  heartbeat.unref();
  logger.info({ url, dataDir: config.dataDir, discoveryFile, tokenSource: config.tokenSource }, 'cloudlocker listening');

  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= (async () => {
      accepting = false;
      clearInterval(heartbeat);
      const serverClosed = closeHttpsServer(httpsServer);
      try {
        await methodSet.close?.();
      } catch (err) {
        logger.error({ err }, 'error while releasing the method handlers');
      }
      // The handlers just stopped (an interrupted upload answers CANCELLED):
      // their answers reach the socket before its close frame, or are lost.
      await settleWithin([...framesInFlight], closeGraceMs ?? 1000);
      await closeSockets(sockets, closeGraceMs ?? 1000);
      hub.close();
      wss.close();
      if (discoveryRecord !== undefined) {
        await removeDiscoveryFile(config.dataDir, discoveryRecord).catch((err: unknown) =>
          logger.warn({ err }, 'could not remove server.json'),
        );
      }
      await serverClosed;
      logger.info('cloudlocker stopped');
    })();
    return closing;
  };

  return {
    url,
    port: address.port,
    host: config.host,
    token: config.token,
    certificate: describeCertificate(certificate),
    dataDir: config.dataDir,
    discoveryFile,
    config,
    logger,
    notifications: hub,
    close,
  };
}

const REFUSAL_TEXT: Record<401 | 403 | 404, string> = {
  401: 'A valid token is required: send "Authorization: Bearer <token>" or the "token" query parameter (see server.json).',
  403: 'This Origin or Host is not allowed to connect (see --allow-origin).',
  404: `The JSON-RPC endpoint is ${RPC_PATH}.`,
};

function collectHandlers(
  methodSet: MethodSet,
  own: Record<'getServerInfo' | 'rpc.discover', UntypedHandler>,
  logger: Logger,
): Map<string, UntypedHandler> {
  const handlers = new Map<string, UntypedHandler>(Object.entries(own));
  for (const { method } of METHODS) {
    if (OWN_METHODS.has(method)) {
      if (typeof methodSet[method] === 'function') logger.warn({ method }, 'createHandlers cannot replace this method; ignored');
      continue;
    }
    const handler = methodSet[method] as UntypedHandler | undefined;
    // Called with the set as `this`, so a class instance can serve as the set.
    if (typeof handler === 'function') handlers.set(method, (params, call) => handler.call(methodSet, params, call));
  }
  return handlers;
}

function defaultStorageInfo(config: ServerConfig): StorageInfo {
  if (config.storage.kind === 'local') return { kind: 'local', location: config.storage.storeDir };
  const prefix = config.storage.prefix.replace(/^\/+/, '');
  return { kind: 's3', location: `s3://${config.storage.bucket}/${prefix}` };
}

function describeCertificate(certificate: ServerCertificate): RunningServer['certificate'] {
  return { path: certificate.path, sha256: certificate.sha256, spkiSha256: certificate.spkiSha256 };
}

function warnAboutRiskySettings(config: ServerConfig, logger: Logger): void {
  if (!isLoopbackBindAddress(config.host)) {
    logger.warn(
      { host: config.host },
      'listening on a non-loopback address: other machines can reach this server; the token is the only protection',
    );
  }
  for (const origin of config.allowOrigins) {
    if (origin === 'null' || origin.startsWith('file:')) {
      logger.warn({ origin }, 'allowing this Origin admits pages you do not control (sandboxed iframes, local files): prefer a custom app:// scheme');
    }
  }
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

function rawDataToText(data: RawData): string {
  if (Buffer.isBuffer(data)) return data.toString('utf8');
  if (Array.isArray(data)) return Buffer.concat(data).toString('utf8');
  return Buffer.from(data).toString('utf8');
}

function urlHost(address: AddressInfo): string {
  // A wildcard bind is reached locally through loopback, which the certificate names.
  if (address.address === '0.0.0.0' || address.address === '::') return '127.0.0.1';
  return address.family === 'IPv6' || address.address.includes(':') ? `[${address.address}]` : address.address;
}

function listen(server: https.Server, port: number, host: string): Promise<void> {
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

function closeHttpsServer(server: https.Server): Promise<void> {
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

/** Waits for every promise to settle, or for `ms`, whichever comes first. */
async function settleWithin(promises: Promise<unknown>[], ms: number): Promise<void> {
  if (promises.length === 0) return;
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, ms);
    timer.unref();
  });
  await Promise.race([Promise.allSettled(promises), timeout]);
  clearTimeout(timer);
}

async function closeSockets(sockets: Set<WebSocket>, graceMs: number): Promise<void> {
  const open = [...sockets];
  if (open.length === 0) return;
  const allClosed = Promise.all(open.map((ws) => new Promise<void>((resolve) => {
    if (ws.readyState === WebSocket.CLOSED) resolve();
    else ws.once('close', () => resolve());
  })));
  for (const ws of open) ws.close(CLOSE_GOING_AWAY, 'server shutting down');
  const timer = new Promise<'timeout'>((resolve) => setTimeout(() => resolve('timeout'), graceMs).unref());
  if ((await Promise.race([allClosed, timer])) === 'timeout') {
    for (const ws of open) ws.terminate();
    await allClosed;
  }
}
