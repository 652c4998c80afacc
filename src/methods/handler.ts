/**
 * How a method handler looks to the server. Handlers get params that have
 * already passed the protocol's JSON Schema and name rules, and either
 * resolve with the result or throw a CloudlockerError / InvalidParamsError;
 * anything else becomes -32603 with a generic message.
 */
import type { AnyMethod, MethodDescriptorOf, MethodName, ParamsOf, ResultOf } from '../../protocol/index.js';

/** Per-call facts the server knows about the caller. */
export interface CallContext {
  /** Stable id of the connection that sent the request, for logs. */
  readonly connectionId: string;
}

export type MethodHandler<D extends AnyMethod> = (params: ParamsOf<D>, call: CallContext) => Promise<ResultOf<D>>;

/** One handler per protocol method (every method must have one). */
export type MethodHandlers = { readonly [N in MethodName]: MethodHandler<MethodDescriptorOf<N>> };
