/**
 * The Node transport: `ws` with the token in the Authorization header and the
 * service's certificate pinned (by its PEM as the only CA, by its SPKI or DER
 * hash, or both). A server that fails the pin never sees the token.
 */
import { WebSocket } from 'ws';
import { fetchPinnedCertificate, hasPin, pinnedIdentityCheck, PinMismatchError, type CertificatePin } from './certificate-pin.js';
import { ConnectError } from './errors.js';
import type { OpenTransport, Transport } from './transport.js';

export interface NodeEndpoint extends CertificatePin {
  /** wss://127.0.0.1:<port>/rpc (server.json `url`). */
  readonly url: string;
  readonly token: string;
  /**
   * PEM of the certificate (or CA) to trust, e.g. the file server.json names.
   * Without it and without a pin, Node's usual CA store decides (which refuses
   * the service's self-signed certificate).
   */
  readonly ca?: string | Buffer;
}

export interface NodeTransportOptions {
  /** Give up on a handshake after this many ms. Default 10000. */
  handshakeTimeoutMs?: number;
}

/** After close(), how long to wait for the closing handshake before dropping the socket. */
const CLOSE_GRACE_MS = 2000;

const CERTIFICATE_ERROR_CODES = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

/** An OpenTransport that asks `endpoint()` where to connect at every (re)connect. */
export function nodeTransport(endpoint: () => NodeEndpoint | Promise<NodeEndpoint>, options: NodeTransportOptions = {}): OpenTransport {
  return async (handlers) => openNodeWebSocket(await endpoint(), handlers, options.handshakeTimeoutMs ?? 10_000);
}

async function openNodeWebSocket(endpoint: NodeEndpoint, handlers: Parameters<OpenTransport>[0], handshakeTimeoutMs: number): Promise<Transport> {
  const url = new URL(endpoint.url);
  if (url.protocol !== 'wss:') throw new ConnectError('refused', `The cloudlocker service speaks wss:// only, not ${url.protocol}//.`);
  const pin: CertificatePin = { spkiSha256: endpoint.spkiSha256, sha256: endpoint.sha256 };
  const pinned = hasPin(pin);
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  const port = url.port === '' ? 443 : Number(url.port);
  // A pin alone is not a CA: fetch the certificate, check it, then trust exactly it.
  const ca = endpoint.ca ?? (pinned ? await fetchPinnedCertificate(host, port, pin, handshakeTimeoutMs) : undefined);
  const where = `${url.protocol}//${url.host}${url.pathname}`;

  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, {
      headers: { Authorization: `Bearer ${endpoint.token}` },
      ...(ca === undefined ? {} : { ca }),
      // The pin replaces the host-name check: only the holder of the pinned key passes.
      ...(pinned ? { checkServerIdentity: pinnedIdentityCheck(pin) } : {}),
      // The pinned certificate may be a leaf issued by some CA: accept it as the anchor.
      allowPartialTrustChain: true,
      minVersion: 'TLSv1.2',
      perMessageDeflate: false,
      handshakeTimeout: handshakeTimeoutMs,
    });
    let opened = false;
    ws.on('unexpected-response', (request, response) => {
      const status = response.statusCode ?? 0;
      request.destroy();
      ws.terminate();
      reject(refusal(status, where));
    });
    ws.on('error', (err: Error & { code?: string }) => {
      if (opened) return; // 'close' follows and reports it
      reject(classifyError(err, where));
    });
    ws.on('open', () => {
      opened = true;
      resolve({
        send: (text) => ws.send(text),
        close: (code, reason) => {
          ws.close(code, reason);
          setTimeout(() => ws.terminate(), CLOSE_GRACE_MS).unref();
        },
      });
    });
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      if (!isBinary) handlers.onMessage(data.toString('utf8'));
    });
    ws.on('close', (code: number, reason: Buffer) => {
      if (opened) handlers.onClose({ code, reason: reason.toString('utf8') });
    });
  });
}

function refusal(status: number, where: string): ConnectError {
  switch (status) {
    case 401:
      return new ConnectError('unauthorized', `The cloudlocker service at ${where} refused the token (HTTP 401): it may have restarted with a new one; read it again from server.json.`, { status });
    case 403:
      return new ConnectError('forbidden', `The cloudlocker service at ${where} refused this Origin or Host (HTTP 403).`, { status });
    default:
      return new ConnectError('refused', `The cloudlocker service at ${where} refused the connection (HTTP ${status}).`, { status });
  }
}

function classifyError(err: Error & { code?: string }, where: string): ConnectError {
  if (err instanceof PinMismatchError) {
    return new ConnectError('certificate', `Refusing to connect to ${where}: ${err.message}. It is not the cloudlocker service you trust.`, { cause: err });
  }
  if (err.code !== undefined && CERTIFICATE_ERROR_CODES.has(err.code)) {
    return new ConnectError('certificate', `The certificate of ${where} is not trusted (${err.code}): pin the service's certificate (server.json).`, { cause: err });
  }
  if (err.code === 'ECONNREFUSED') {
    return new ConnectError(
      'unreachable',
      `No cloudlocker service is listening at ${where}: start it with "cloudlocker serve" (a server.json left by a crashed service points nowhere).`,
      { cause: err },
    );
  }
  return new ConnectError('unreachable', `Cannot connect to the cloudlocker service at ${where}: ${err.message}`, { cause: err });
}
