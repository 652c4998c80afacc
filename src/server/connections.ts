/**
 * The open WebSocket connections: serving each one (frames to the
 * dispatcher, answers back with backpressure, notifications from the hub),
 * the heartbeat that cuts off connections that stopped answering pings, and
 * the graceful close at shutdown (answers in flight first, then a 1001 to
 * everyone, then a cut-off after the grace period).
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { WebSocket, type RawData } from 'ws';
import { CLOSE_GOING_AWAY } from '../../protocol/index.js';
import type { ServerConfig } from '../config/index.js';
import type { Logger } from '../logging.js';
import type { CallContext } from '../methods/handler.js';
import type { NotificationHub, NotificationSink } from './notification-hub.js';
import { ConnectionGate } from './request-gate.js';
import type { RpcDispatcher } from './rpc-dispatcher.js';

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

export interface ConnectionsOptions {
  readonly config: Pick<ServerConfig, 'maxRequestsPerSecond' | 'requestBurst' | 'maxInFlightRequests'>;
  readonly hub: NotificationHub;
  readonly logger: Logger;
  /** How long clients get to finish a closing handshake before they are cut off. */
  readonly closeGraceMs: number;
}

export class Connections {
  /** False until the server is ready, and again from the start of shutdown. */
  accepting = false;
  private readonly sockets = new Set<WebSocket>();
  /** Whether each connection has answered the last ping (a pong proves it reads, not just that it sends). */
  private readonly alive = new WeakMap<WebSocket, boolean>();
  /** Frames being handled, until their answer is handed to the socket: close() lets them finish before closing sockets. */
  private readonly framesInFlight = new Set<Promise<void>>();
  private heartbeat: NodeJS.Timeout | undefined;

  constructor(private readonly options: ConnectionsOptions) {}

  get size(): number {
    return this.sockets.size;
  }

  /** Serve a connection whose handshake passed. */
  serve(ws: WebSocket, request: IncomingMessage, dispatcher: RpcDispatcher): void {
    const { config, hub, logger, closeGraceMs } = this.options;
    const call: CallContext = { connectionId: randomUUID().slice(0, 8) };
    if (!this.accepting) {
      // The handshake passed just as close() began: close() no longer waits for this one.
      ws.close(CLOSE_GOING_AWAY, 'server shutting down');
      setTimeout(() => ws.terminate(), closeGraceMs).unref();
      return;
    }
    this.sockets.add(ws);
    this.alive.set(ws, true);
    ws.on('pong', () => this.alive.set(ws, true));
    const gate = new ConnectionGate({
      ratePerSecond: config.maxRequestsPerSecond,
      burst: config.requestBurst,
      maxInFlight: config.maxInFlightRequests,
      onAbuse: () => {
        logger.warn({ connectionId: call.connectionId }, 'closed a connection that kept sending while refused');
        ws.close(CLOSE_POLICY_VIOLATION, 'too many requests: slow down when answered BUSY');
        setTimeout(() => ws.terminate(), closeGraceMs).unref();
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
      const answered = dispatcher.handleFrame(rawDataToText(data), call, gate).then((response) => {
        if (response === undefined || ws.readyState !== WebSocket.OPEN) return;
        ws.send(response, afterSend);
        if (ws.bufferedAmount > RESPONSE_HIGH_WATERMARK_BYTES && !ws.isPaused) {
          logger.debug({ connectionId: call.connectionId }, 'paused reading: the client is not reading its answers');
          ws.pause();
        }
      }).catch((err: unknown) => logger.error({ err, connectionId: call.connectionId }, 'failed to send an answer'));
      this.framesInFlight.add(answered);
      void answered.finally(() => this.framesInFlight.delete(answered));
    });
    ws.on('error', (err) => logger.debug({ connectionId: call.connectionId, err: { message: err.message } }, 'connection error'));
    ws.on('close', (code) => {
      this.sockets.delete(ws);
      leaveHub();
      logger.debug({ connectionId: call.connectionId, code }, 'connection closed');
    });

    /** After every send (answer or notification): log a failure; read again once the client has caught up. */
    function afterSend(err?: Error): void {
      if (err !== undefined && err !== null) logger.debug({ connectionId: call.connectionId, err: { message: err.message } }, 'send failed');
      if (ws.isPaused && ws.bufferedAmount < RESPONSE_LOW_WATERMARK_BYTES && ws.readyState === WebSocket.OPEN) ws.resume();
    }
  }

  /**
   * Liveness: a connection that has not answered the previous ping (a dead
   * peer, a client that stopped reading) is cut off, which also frees what
   * the server keeps for it.
   */
  startHeartbeat(intervalMs: number): void {
    this.heartbeat = setInterval(() => {
      for (const ws of this.sockets) {
        if (this.alive.get(ws) === false) {
          this.options.logger.debug('cut off a connection that did not answer a ping');
          ws.terminate();
          continue;
        }
        this.alive.set(ws, false);
        ws.ping();
      }
    }, intervalMs);
    this.heartbeat.unref();
  }

  /** The start of shutdown: no new connection is served, no more pings. */
  stopAccepting(): void {
    this.accepting = false;
    clearInterval(this.heartbeat);
  }

  /**
   * Let the answers in flight reach their sockets (the handlers have just
   * stopped: an interrupted upload answers CANCELLED), then close every
   * connection with 1001, cutting off those that do not finish the closing
   * handshake within the grace period.
   */
  async closeAll(): Promise<void> {
    await settleWithin([...this.framesInFlight], this.options.closeGraceMs);
    await closeSockets(this.sockets, this.options.closeGraceMs);
  }
}

function rawDataToText(data: RawData): string {
  if (Buffer.isBuffer(data)) return data.toString('utf8');
  if (Array.isArray(data)) return Buffer.concat(data).toString('utf8');
  return Buffer.from(data).toString('utf8');
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
