/**
 * The one place where a thrown error becomes a JSON-RPC error object. Only
 * the protocol's codes and messages that are safe to show leave the server:
 * anything unexpected is logged here and answered as a bare -32603.
 */
import { JsonRpcErrorCode, type ProtocolError } from '../../protocol/index.js';
import { toErrorObject } from '../errors.js';
import type { Logger } from '../logging.js';
import { ParamsValidationError } from './params-validation.js';

/** An error that already is a protocol error object (method not found, invalid request...). */
export class ProtocolErrorException extends Error {
  override readonly name = 'ProtocolErrorException';
  constructor(readonly error: ProtocolError) {
    super(error.message);
  }
}

export function methodNotFound(): ProtocolErrorException {
  return new ProtocolErrorException({ code: JsonRpcErrorCode.METHOD_NOT_FOUND, message: 'Method not found' });
}

export function invalidRequest(why: string): ProtocolError {
  return { code: JsonRpcErrorCode.INVALID_REQUEST, message: `Invalid Request: ${why}` };
}

export const PARSE_ERROR: ProtocolError = { code: JsonRpcErrorCode.PARSE_ERROR, message: 'Parse error: the frame is not valid JSON' };
/** The same -32603 that src/errors.ts toErrorObject gives for anything unexpected. */
export const INTERNAL_ERROR: ProtocolError = toErrorObject(undefined);

export interface ErrorMappingContext {
  readonly logger: Logger;
  readonly method?: string;
  readonly connectionId?: string;
}

export function toProtocolError(err: unknown, context: ErrorMappingContext): ProtocolError {
  if (err instanceof ProtocolErrorException) return err.error;
  if (err instanceof ParamsValidationError) {
    return {
      code: JsonRpcErrorCode.INVALID_PARAMS,
      message: `Invalid params: ${err.message}`,
      data: { ...(err.param === undefined ? {} : { param: err.param }), problem: err.problem },
    };
  }
  // CloudlockerError and InvalidParamsError carry their message; anything else becomes a bare -32603.
  const mapped = toErrorObject(err);
  if (mapped.code === JsonRpcErrorCode.INTERNAL_ERROR) {
    context.logger.error(
      { err, method: context.method, connectionId: context.connectionId },
      'internal error while handling a request',
    );
  }
  return mapped;
}
