/**
 * The errors the service throws and the one mapping from anything thrown to
 * the JSON-RPC error object a client sees (toErrorObject, at the bottom).
 *
 * - CloudlockerError: a protocol reason (docs/protocol.md's error table) and
 *   a message safe to show a user: no key material, no token, no stack.
 * - InvalidParamsError: the only -32602, whether the params broke their
 *   schema (server/params-validation.ts) or a rule checked later (an unknown
 *   cursor, a name no object can have).
 * - WireError: an error object already made (method not found, or one the
 *   dispatcher mapped and hands through the JSON-RPC library).
 *
 * Anything else reaches clients as -32603 with a generic message; the server
 * logs it (server/error-mapping.ts).
 */
import { ApplicationErrors, JsonRpcErrorCode, type ErrorReason, type ProtocolError } from '../protocol/errors.js';

export class CloudlockerError extends Error {
  override readonly name = 'CloudlockerError';
  readonly reason: ErrorReason;
  /** Extra, safe, machine-readable detail sent as JSON-RPC `error.data`. */
  readonly details: Record<string, unknown> | undefined;

  constructor(
    reason: ErrorReason,
    message: string = ApplicationErrors[reason].message,
    options: { cause?: unknown; details?: Record<string, unknown> } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.reason = reason;
    this.details = options.details;
  }

  get code(): number {
    return ApplicationErrors[this.reason].code;
  }
}

/**
 * Params that are wrong: answered as -32602 with `data: { param, problem }`.
 * `param` names the offending field (undefined when the params as a whole
 * are wrong); `problem` is the rule broken, the message unless given.
 */
export class InvalidParamsError extends Error {
  override readonly name = 'InvalidParamsError';
  readonly problem: string;
  constructor(
    message: string,
    readonly param: string | undefined,
    options: { problem?: string } = {},
  ) {
    super(message);
    this.problem = options.problem ?? message;
  }
}

/** An error that already is a protocol error object: passed to the client as it is. */
export class WireError extends Error {
  override readonly name = 'WireError';
  constructor(readonly error: ProtocolError) {
    super(error.message);
  }
}

export function isCloudlockerError(err: unknown, reason?: ErrorReason): err is CloudlockerError {
  return err instanceof CloudlockerError && (reason === undefined || err.reason === reason);
}

/** Node system error codes and the reason each one maps to. */
const SYSTEM_ERROR_REASONS: Readonly<Record<string, ErrorReason>> = {
  ENOENT: 'NOT_FOUND',
  ENOTDIR: 'NOT_FOUND',
  EEXIST: 'ALREADY_EXISTS',
  EACCES: 'PERMISSION_DENIED',
  EPERM: 'PERMISSION_DENIED',
  EROFS: 'PERMISSION_DENIED',
  ENOSPC: 'NO_SPACE',
  EDQUOT: 'NO_SPACE',
  EFBIG: 'NO_SPACE',
};

export function systemErrorCode(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

/**
 * Turn an operating-system error on a local file into a CloudlockerError.
 * Errors with no protocol meaning are rethrown unchanged, so that they reach
 * the client as an internal error instead of a misleading reason.
 * `what` names the thing in the user's words ("the source file", "the key
 * file") — never a path, which may be private to the user.
 */
export function fromSystemError(err: unknown, what: string): CloudlockerError {
  if (err instanceof CloudlockerError) return err;
  const code = systemErrorCode(err);
  const reason = code === undefined ? undefined : SYSTEM_ERROR_REASONS[code];
  switch (reason) {
    case 'NOT_FOUND':
      return new CloudlockerError('NOT_FOUND', `${capitalise(what)} does not exist: check the path.`, { cause: err });
    case 'ALREADY_EXISTS':
      return new CloudlockerError('ALREADY_EXISTS', `${capitalise(what)} already exists.`, { cause: err });
    case 'PERMISSION_DENIED':
      return new CloudlockerError(
        'PERMISSION_DENIED',
        `The operating system refused access to ${what}: check its permissions.`,
        { cause: err },
      );
    case 'NO_SPACE':
      return new CloudlockerError('NO_SPACE', `There is no space left to write ${what}: free some space and try again.`, {
        cause: err,
      });
    default:
      throw err;
  }
}

function capitalise(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}

/**
 * The one mapping from anything thrown to the `error` member a client sees.
 * Only CloudlockerError, InvalidParamsError and WireError carry their
 * message through; anything else is an internal error whose message (which
 * may hold paths or internals) stays in the server's log.
 */
export function toErrorObject(err: unknown): ProtocolError {
  if (err instanceof WireError) return err.error;
  if (err instanceof CloudlockerError) {
    return { code: err.code, message: err.message, data: { ...err.details, reason: err.reason } };
  }
  if (err instanceof InvalidParamsError) {
    return {
      code: JsonRpcErrorCode.INVALID_PARAMS,
      message: err.message,
      data: { ...(err.param === undefined ? {} : { param: err.param }), problem: err.problem },
    };
  }
  return { code: JsonRpcErrorCode.INTERNAL_ERROR, message: 'Internal error: the server could not complete the request. See its log.' };
}
