/**
 * What the client core needs from a WebSocket, and nothing more, so that one
 * core serves Node (ws, with certificate pinning) and browsers (the native
 * WebSocket) alike.
 */

/** Callbacks the core installs before the connection opens, so no early message is lost. */
export interface TransportHandlers {
  /** One text frame from the server. */
  onMessage(text: string): void;
  /** The connection closed (for any reason) after it had opened. */
  onClose(info: { code: number; reason: string }): void;
}

/** One open connection. */
export interface Transport {
  send(text: string): void;
  close(code?: number, reason?: string): void;
}

/**
 * Opens one connection: resolves once the WebSocket is open, rejects with a
 * `ConnectError` when the handshake fails. Called again for every reconnect,
 * so an implementation may look the endpoint up afresh each time (a restarted
 * service can have a new port or token).
 */
export type OpenTransport = (handlers: TransportHandlers) => Promise<Transport>;
