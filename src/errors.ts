/**
 * The error type every layer below the server throws. It carries a protocol
 * reason and a message that is safe to show a user: no key material, no
 * token, no stack. The server maps it to a JSON-RPC error in one place.
 * Anything that is not a CloudlockerError reaches clients as -32603 with a
 * generic message.
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
 * Params that passed the schema but are still wrong (an unknown cursor, a
 * name that maps to nothing valid). Answered as -32602 with `data.param`.
 */
export class InvalidParamsError extends Error {
  override readonly name = 'InvalidParamsError';
  constructor(
    message: string,
    readonly param: string,
  ) {
    super(message);
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
 * Only CloudlockerError and InvalidParamsError carry their message through;
 * anything else is an internal error whose message (which may hold paths or
 * internals) stays in the server's log.
 */
export function toErrorObject(err: unknown): ProtocolError {
  if (err instanceof CloudlockerError) {
    return { code: err.code, message: err.message, data: { ...err.details, reason: err.reason } };
  }
  if (err instanceof InvalidParamsError) {
    return { code: JsonRpcErrorCode.INVALID_PARAMS, message: err.message, data: { param: err.param, problem: err.message } };
  }
  return { code: JsonRpcErrorCode.INTERNAL_ERROR, message: 'Internal error: the server could not complete the request. See its log.' };
}
