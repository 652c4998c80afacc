/** The JSON-RPC 2.0 messages the client sends and receives, and how to tell them apart. */
import type { ProtocolError } from '../../protocol/index.js';

export interface JsonRpcRequest {
  readonly jsonrpc: '2.0';
  readonly id: number;
  readonly method: string;
  readonly params?: unknown;
}

export interface JsonRpcResponse {
  readonly id: number | string | null;
  readonly result?: unknown;
  readonly error?: ProtocolError;
}

export interface JsonRpcNotification {
  readonly method: string;
  readonly params: Record<string, unknown>;
}

export type InboundMessage =
  | { readonly kind: 'response'; readonly message: JsonRpcResponse }
  | { readonly kind: 'notification'; readonly message: JsonRpcNotification }
  | { readonly kind: 'other' };

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Classify one inbound text frame; anything unexpected is 'other' (and ignored). */
export function parseInbound(text: string): InboundMessage {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { kind: 'other' };
  }
  if (!isRecord(value) || value['jsonrpc'] !== '2.0') return { kind: 'other' };
  if (typeof value['method'] === 'string' && !('id' in value)) {
    return { kind: 'notification', message: { method: value['method'], params: isRecord(value['params']) ? value['params'] : {} } };
  }
  if ('id' in value && ('result' in value || isRecord(value['error']))) {
    return { kind: 'response', message: value as unknown as JsonRpcResponse };
  }
  return { kind: 'other' };
}
