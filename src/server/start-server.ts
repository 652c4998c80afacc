/**
 * The secure WebSocket JSON-RPC front door, embeddable in an Electron main
 * process or run by `cloudlocker serve`:
 *
 *   resolveConfig (flags > env > config.json > defaults)
 *     → TLS certificate (own or self-signed, kept in the data directory)
 *     → HTTPS server; WebSocket upgrade authenticated in the `upgrade` event
 *     → JSON-RPC dispatcher (getServerInfo, rpc.discover + what createHandlers adds)
 *     → notification hub → server.json
 *
 * This file wires the parts together and owns start-up and shutdown order;
 * the parts are https-listener.ts (TLS, plain HTTP answers, listen/close),
 * upgrade.ts (handshake checks, connection cap) and connections.ts (serving
 * a connection, heartbeat, graceful close).
 */
import type { AddressInfo } from 'node:net';
import { WebSocketServer } from 'ws';
import { METHODS, RPC_PATH, type GetServerInfoResult } from '../../protocol/index.js';
import { resolveConfig, type ConfigInput, type ServerConfig } from '../config/index.js';
import { ensurePrivateDirectory } from '../fs/atomic-file.js';
import { createLogger, type Logger } from '../logging.js';
import { createGetServerInfoHandler } from '../methods/get-server-info.js';
import type { MethodHandlers } from '../methods/handler.js';
import { createRpcDiscoverHandler } from '../methods/rpc-discover.js';
import { Connections } from './connections.js';
import { removeDiscoveryFile, writeDiscoveryFile, type DiscoveryRecord } from './discovery-file.js';
import { createTokenMatcher, isLoopbackBindAddress, type HandshakePolicy } from './handshake.js';
import { closeHttpsServer, createHttpsServer, listen, urlHost } from './https-listener.js';
import { NotificationHub, type NotificationHubOptions } from './notification-hub.js';
import { acquireInstanceLock } from './instance-lock.js';
import { packageVersion } from './package-version.js';
import { RpcDispatcher, type UntypedHandler } from './rpc-dispatcher.js';
import { loadOrCreateCertificate, type ServerCertificate } from './tls-certificate.js';
import { createUpgradeHandler } from './upgrade.js';

export { ServerStartError } from './https-listener.js';

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
  const logger = givenLogger ?? createLogger({ level: config.logLevel, format: config.logFormat });
  const startedAt = new Date();

  await ensurePrivateDirectory(config.dataDir);
  // One server per data directory (instance-lock.ts); released by close() or when starting fails.
  const instanceLock = await acquireInstanceLock(config.dataDir);
  const releaseLockAndThrow = async (err: unknown): Promise<never> => {
    await instanceLock.release().catch(() => undefined);
    throw err;
  };
  const certificate = await loadOrCreateCertificate({ dataDir: config.dataDir, userCertificate: config.tls, logger }).catch(releaseLockAndThrow);
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
  const connections = new Connections({ config, hub, logger, closeGraceMs: closeGraceMs ?? 1000 });
  let dispatcher: RpcDispatcher | undefined;

  const httpsServer = createHttpsServer(certificate, logger);
  const wss = new WebSocketServer({
    noServer: true,
    maxPayload: config.maxMessageBytes,
    perMessageDeflate: false,
    // Never echo an offered subprotocol (ws picks the first one by default): we define none.
    handleProtocols: () => false,
    clientTracking: false,
  });
  httpsServer.on(
    'upgrade',
    createUpgradeHandler({ policy, wss, connections, maxConnections: config.maxConnections, logger, dispatcher: () => dispatcher }),
  );

  await listen(httpsServer, config.port, config.host).catch(releaseLockAndThrow);
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
    return releaseLockAndThrow(err);
  }
  connections.accepting = true;
  connections.startHeartbeat(config.pingIntervalMs);
  logger.info({ url, dataDir: config.dataDir, discoveryFile, tokenSource: config.tokenSource }, 'cloudlocker listening');

  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= (async () => {
      connections.stopAccepting();
      const serverClosed = closeHttpsServer(httpsServer);
      try {
        await methodSet.close?.();
      } catch (err) {
        logger.error({ err }, 'error while releasing the method handlers');
      }
      // The handlers just stopped (an interrupted upload answers CANCELLED):
      // their answers reach the socket before its close frame, or are lost.
      await connections.closeAll();
      hub.close();
      wss.close();
      if (discoveryRecord !== undefined) {
        await removeDiscoveryFile(config.dataDir, discoveryRecord).catch((err: unknown) =>
          logger.warn({ err }, 'could not remove server.json'),
        );
      }
      await serverClosed;
      await instanceLock.release().catch((err: unknown) => logger.warn({ err }, 'could not remove server.lock'));
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
