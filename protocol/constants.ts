/** The protocol version this package describes. */
export const PROTOCOL_VERSION = 1;
/** Path of the WebSocket endpoint on the server. */
export const RPC_PATH = '/rpc';
/** Default cap on an inbound frame; larger frames close the connection with 1009. */
export const DEFAULT_MAX_MESSAGE_BYTES = 1024 * 1024;
/** WebSocket close code for a frame over the size limit (RFC 6455 "message too big"). */
export const CLOSE_MESSAGE_TOO_BIG = 1009;
/** WebSocket close code when the server shuts down (RFC 6455 "going away"); clients take it as a restart. */
export const CLOSE_GOING_AWAY = 1001;
/** Default TCP port of the service. */
export const DEFAULT_PORT = 7575;
/** Default cap on the entries of one batch. */
export const DEFAULT_MAX_BATCH_SIZE = 50;
/** Default least time between two progress notifications of one transfer. */
export const DEFAULT_PROGRESS_INTERVAL_MS = 100;
