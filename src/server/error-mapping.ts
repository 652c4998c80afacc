/**
 * The server's side of error mapping: the wire errors it makes itself
 * (parse error, invalid request, method not found), and errorForClient,
 * which maps a thrown error with src/errors.ts toErrorObject — the one
 * mapping — and logs what becomes a bare -32603, so that its message (which
 * may hold paths or internals) stays in the server's log.
 */
import { JsonRpcErrorCode, type ProtocolError } from '../../protocol/index.js';
import { WireError, toErrorObject } from '../errors.js';
import type { Logger } from '../logging.js';

export function methodNotFound(): WireError {
  return new WireError({ code: JsonRpcErrorCode.METHOD_NOT_FOUND, message: 'Method not found' });
}

export function invalidRequest(why: string): ProtocolError {
  return { code: JsonRpcErrorCode.INVALID_REQUEST, message: `Invalid Request: ${why}` };
}

export const PARSE_ERROR: ProtocolError = { code: JsonRpcErrorCode.PARSE_ERROR, message: 'Parse error: the frame is not valid JSON' };
/** The -32603 that toErrorObject gives for anything unexpected. */
export const INTERNAL_ERROR: ProtocolError = toErrorObject(undefined);

export interface ErrorMappingContext {
  readonly logger: Logger;
  readonly method?: string;
  readonly connectionId?: string;
}

export function errorForClient(err: unknown, context: ErrorMappingContext): ProtocolError {
  const mapped = toErrorObject(err);
  if (mapped.code === JsonRpcErrorCode.INTERNAL_ERROR && !(err instanceof WireError)) {
    context.logger.error(
      { err, method: context.method, connectionId: context.connectionId },
      'internal error while handling a request',
    );
  }
  return mapped;
}
