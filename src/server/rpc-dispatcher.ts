/**
 * From one inbound text frame to the text of its response (or none), per
 * JSON-RPC 2.0. json-rpc-2.0's JSONRPCServer runs each request, but the
 * frame itself is checked here first, because the library mishandles empty,
 * one-entry and malformed batches, has no batch cap, and can reject without
 * answering:
 *
 * - not JSON → -32700, id null;
 * - `[]` → one -32600 (not an array), id null; more than maxBatchSize
 *   entries → one -32600 saying the cap;
 * - a batch answers with an array, even for one entry; entries that are not
 *   request objects get their own -32600; notifications get no answer, and a
 *   batch of only notifications gets no frame at all;
 * - unknown methods (including `constructor`, `__proto__`...) → -32601;
 * - params checked against the protocol's schemas → -32602;
 * - with a RequestGate (one per connection), each message is admitted
 *   first: over the rate or the in-flight cap, a request is answered BUSY
 *   instead of running.
 *
 * handleFrame never rejects, whatever the input.
 */
import {
  JSONRPCServer,
  createJSONRPCErrorResponse,
  type JSONRPCID,
  type JSONRPCRequest,
  type JSONRPCResponse,
} from 'json-rpc-2.0';
import { findMethod, type AnyMethod, type ProtocolError } from '../../protocol/index.js';
import type { CallContext } from '../methods/handler.js';
import type { Logger } from '../logging.js';
import { WireError } from '../errors.js';
import { INTERNAL_ERROR, PARSE_ERROR, errorForClient, invalidRequest, methodNotFound } from './error-mapping.js';
import { validateParams, validatorFor } from './params-validation.js';
import type { RequestGate } from './request-gate.js';

/** A handler as the dispatcher calls it: params already validated. */
export type UntypedHandler = (params: Record<string, unknown>, call: CallContext) => Promise<unknown>;

export interface RpcDispatcherOptions {
  /** Handlers by protocol method name; only names the protocol knows are ever looked up. */
  readonly handlers: ReadonlyMap<string, UntypedHandler>;
  /** Most entries a batch may hold. */
  readonly maxBatchSize: number;
  readonly logger: Logger;
}

type Checked = { readonly request: JSONRPCRequest } | { readonly response: JSONRPCResponse };

export class RpcDispatcher {
  private readonly rpc = new JSONRPCServer<CallContext>({ errorListener: () => undefined });
  private readonly maxBatchSize: number;
  private readonly logger: Logger;

  constructor(options: RpcDispatcherOptions) {
    this.maxBatchSize = options.maxBatchSize;
    this.logger = options.logger;
    for (const [name, handler] of options.handlers) {
      const descriptor = findMethod(name);
      if (descriptor === undefined) throw new Error(`not a protocol method: ${name}`);
      // Precompiled at build time (tools/gen-validators.ts): a method added to protocol/ without
      // regenerating them fails here, at start, rather than on its first call.
      validatorFor(descriptor);
      this.rpc.addMethod(name, (params: unknown, call: CallContext) => this.invoke(descriptor, handler, params, call));
    }
    this.rpc.mapErrorToJSONRPCErrorResponse = (id: JSONRPCID, error: unknown) => {
      const mapped = errorForClient(error, { logger: this.logger });
      return createJSONRPCErrorResponse(id, mapped.code, mapped.message, mapped.data);
    };
  }

  /**
   * The response frame for one inbound text frame, or undefined when nothing
   * is to be sent. `gate`, when given, admits each message (see
   * request-gate.ts). Never rejects.
   */
  async handleFrame(text: string, call: CallContext, gate?: RequestGate): Promise<string | undefined> {
    try {
      let payload: unknown;
      try {
        payload = JSON.parse(text);
      } catch {
        gate?.charge();
        return serialize(errorResponse(null, PARSE_ERROR));
      }
      if (!Array.isArray(payload)) {
        const response = await this.handleEntry(payload, call, gate);
        return response === null ? undefined : serialize(response);
      }
      if (payload.length === 0 || payload.length > this.maxBatchSize) {
        // Charged as the number of entries sent, so an oversized batch is no cheaper than its entries.
        for (let i = 0; i < Math.max(1, Math.min(payload.length, this.maxBatchSize + 1)); i++) gate?.charge();
        return serialize(
          errorResponse(
            null,
            invalidRequest(payload.length === 0 ? 'an empty batch' : `a batch may hold at most ${this.maxBatchSize} requests; split it`),
          ),
        );
      }
      const responses = (await Promise.all(payload.map((entry) => this.handleEntry(entry, call, gate)))).filter(
        (response): response is JSONRPCResponse => response !== null,
      );
      return responses.length === 0 ? undefined : `[${responses.map(serialize).join(',')}]`;
    } catch (err) {
      // Not expected: every path above answers for itself. Keep the connection and the process alive.
      this.logger.error({ err, connectionId: call.connectionId }, 'failed to handle a frame');
      return serialize(errorResponse(null, INTERNAL_ERROR));
    }
  }

  private async handleEntry(entry: unknown, call: CallContext, gate: RequestGate | undefined): Promise<JSONRPCResponse | null> {
    const checked = checkRequest(entry);
    if ('response' in checked) {
      gate?.charge();
      return checked.response;
    }
    const { request } = checked;
    const refusal = gate?.enter();
    if (refusal !== undefined) return request.id === undefined ? null : errorResponse(request.id, refusal);
    try {
      if (findMethod(request.method) === undefined || !this.rpc.hasMethod(request.method)) {
        return request.id === undefined ? null : errorResponse(request.id, methodNotFound().error);
      }
      return await this.rpc.receive(request, call);
    } catch (err) {
      const mapped = errorForClient(err, { logger: this.logger, method: request.method, connectionId: call.connectionId });
      return request.id === undefined ? null : errorResponse(request.id, mapped);
    } finally {
      gate?.leave();
    }
  }

  private async invoke(descriptor: AnyMethod, handler: UntypedHandler, params: unknown, call: CallContext): Promise<unknown> {
    const started = performance.now();
    try {
      const result = await handler(validateParams(descriptor, params), call);
      this.logger.debug({ method: descriptor.method, connectionId: call.connectionId, ms: elapsed(started) }, 'request done');
      return result;
    } catch (err) {
      const mapped = errorForClient(err, { logger: this.logger, method: descriptor.method, connectionId: call.connectionId });
      this.logger.debug(
        { method: descriptor.method, connectionId: call.connectionId, ms: elapsed(started), code: mapped.code },
        'request failed',
      );
      // Already mapped (and logged if internal): hand the library a protocol error it passes through.
      throw new WireError(mapped);
    }
  }
}

/** A request object, or the -32600 to answer instead. */
function checkRequest(entry: unknown): Checked {
  if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) {
    return { response: errorResponse(null, invalidRequest('expected a request object')) };
  }
  const candidate = entry as Record<string, unknown>;
  const hasId = Object.hasOwn(candidate, 'id');
  const id = candidate['id'];
  if (hasId && !isValidId(id)) {
    return { response: errorResponse(null, invalidRequest('"id" must be a string, a number or null')) };
  }
  const answerId: JSONRPCID = hasId ? (id as JSONRPCID) : null;
  if (candidate['jsonrpc'] !== '2.0') {
    return { response: errorResponse(answerId, invalidRequest('"jsonrpc" must be "2.0"')) };
  }
  if (typeof candidate['method'] !== 'string') {
    return { response: errorResponse(answerId, invalidRequest('"method" must be a string')) };
  }
  const request: JSONRPCRequest = { jsonrpc: '2.0', method: candidate['method'] };
  if (hasId) request.id = id as JSONRPCID;
  if (Object.hasOwn(candidate, 'params')) request.params = candidate['params'];
  return { request };
}

function isValidId(id: unknown): id is JSONRPCID {
  return typeof id === 'string' || id === null || (typeof id === 'number' && Number.isFinite(id));
}

function errorResponse(id: JSONRPCID, error: ProtocolError): JSONRPCResponse {
  return createJSONRPCErrorResponse(id, error.code, error.message, error.data);
}

/** One response as text; a result that cannot be serialized becomes -32603 for that id alone. */
function serialize(response: JSONRPCResponse): string {
  try {
    return JSON.stringify(response);
  } catch {
    return JSON.stringify(errorResponse(response.id, INTERNAL_ERROR));
  }
}

function elapsed(started: number): number {
  return Math.round((performance.now() - started) * 10) / 10;
}
