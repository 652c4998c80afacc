/**
 * Client-chosen transfer ids. The client always names its transfers itself:
 * it can then cancel before the server answers, recognise the transfer's
 * notifications, and settle the request from `listTransfers` after a
 * reconnect. Works in Node 20 and every browser (Web Crypto is global in both).
 */

export function newTransferId(): string {
  const crypto = globalThis.crypto;
  // randomUUID needs a secure context in browsers; getRandomValues does not.
  if (typeof crypto.randomUUID === 'function') return crypto.randomUUID();
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (byte) => byte.toString(16).padStart(2, '0')).join('');
}
