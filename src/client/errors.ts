/**
 * The errors the client rejects with. Every one is an `Error` with a message a
 * user can act on; none of them ever carries the token.
 *
 * - `RpcError`: the server answered with a JSON-RPC error (`code`, `reason`).
 * - `ConnectError`: no connection could be made (`kind` says why).
 * - `ConnectionLostError`: the connection dropped before the answer came.
 * - `RequestTimeoutError`: no answer within the request's timeout.
 * - `ClientClosedError`: `close()` was called while the request was waiting.
 * - `RequestAbortedError`: the caller's AbortSignal stopped the wait.
 */
import { ApplicationErrors, JsonRpcErrorCode, type ErrorReason, type ProtocolError } from '../../protocol/index.js';

const REASON_BY_CODE: ReadonlyMap<number, ErrorReason> = new Map(
  (Object.entries(ApplicationErrors) as Array<[ErrorReason, { code: number }]>).map(([reason, spec]) => [spec.code, reason]),
);

/** The server answered with a JSON-RPC error object. */
export class RpcError extends Error {
  override readonly name = 'RpcError';
  /** JSON-RPC error code: -32700..-32600 for protocol errors, -32001.. for application errors. */
  readonly code: number;
  /** The application reason (`NOT_FOUND`, `KEY_INVALID`, ...), when the code is an application code. */
  readonly reason: ErrorReason | undefined;
  /** `error.data` as the server sent it (for -32602: `param`, `problem`). */
  readonly data: Readonly<Record<string, unknown>> | undefined;

  constructor(error: ProtocolError) {
    super(error.message);
    this.code = error.code;
    const sentReason = error.data?.reason;
    this.reason = typeof sentReason === 'string' && sentReason in ApplicationErrors ? sentReason : REASON_BY_CODE.get(error.code);
    this.data = error.data;
  }

  /** The error as the protocol writes it, e.g. for a synthesised transferFinished. */
  toProtocolError(): ProtocolError {
    return { code: this.code, message: this.message, ...(this.data === undefined ? {} : { data: { ...this.data } }) };
  }
}

export function isRpcError(value: unknown, reason?: ErrorReason): value is RpcError {
  return value instanceof RpcError && (reason === undefined || value.reason === reason);
}

/** Invalid params (-32602): the request broke the schema or the name rules. */
export function isInvalidParams(value: unknown): value is RpcError {
  return value instanceof RpcError && value.code === JsonRpcErrorCode.INVALID_PARAMS;
}

/**
 * Why a connection could not be made:
 * - `not-running`: no server.json in the data directory (Node `discover`);
 * - `unreachable`: nothing answers at the URL, or the network failed;
 * - `unauthorized`: the token was refused (HTTP 401);
 * - `forbidden`: the Origin or Host was refused (HTTP 403);
 * - `certificate`: the server's certificate is not the pinned one or is not trusted;
 * - `refused`: any other refusal (HTTP 404, 503, a browser that cannot tell which).
 */
export type ConnectErrorKind = 'not-running' | 'unreachable' | 'unauthorized' | 'forbidden' | 'certificate' | 'refused';

export class ConnectError extends Error {
  override readonly name = 'ConnectError';
  constructor(
    readonly kind: ConnectErrorKind,
    message: string,
    options: { cause?: unknown; status?: number } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.status = options.status;
  }
  /** The HTTP status of a refused handshake, when the platform reports it (Node does, browsers do not). */
  readonly status: number | undefined;
}

/** The connection closed before the answer arrived. The server may still have acted on the request. */
export class ConnectionLostError extends Error {
  override readonly name = 'ConnectionLostError';
  constructor(message = 'The connection to the cloudlocker service was lost before it answered; the request may or may not have taken effect.', options?: { cause?: unknown }) {
    super(message, options);
  }
}

export class RequestTimeoutError extends Error {
  override readonly name = 'RequestTimeoutError';
  constructor(
    readonly method: string,
    readonly timeoutMs: number,
  ) {
    super(`The service did not answer ${method} within ${timeoutMs} ms; it may still be working on it.`);
  }
}

export class ClientClosedError extends Error {
  override readonly name = 'ClientClosedError';
  constructor() {
    super('The client was closed.');
  }
}

/** The caller's AbortSignal ended the wait (for methods other than upload and download, which are cancelled on the server). */
export class RequestAbortedError extends Error {
  override readonly name = 'RequestAbortedError';
  constructor(
    readonly method: string,
    options?: { cause?: unknown },
  ) {
    super(`${method} was abandoned by the caller; the service may still carry it out.`, options);
  }
}
