/**
 * A bare WebSocket echo server over TLS: the floor a JSON-RPC round trip over
 * wss can reach on this machine. Run by rpc-latency.ts as a process of its
 * own (as the cloudlocker server is), with cloudlocker's certificate and key.
 *
 *   node dist/tools/bench/echo-server.js CERT_PEM KEY_PEM
 *
 * Prints "listening PORT" once ready; answers every text frame with the same text.
 */
import { readFileSync } from 'node:fs';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { WebSocketServer } from 'ws';

const [certPath, keyPath] = process.argv.slice(2);
if (certPath === undefined || keyPath === undefined) throw new Error('usage: echo-server.js CERT_PEM KEY_PEM');

const server = https.createServer({ cert: readFileSync(certPath), key: readFileSync(keyPath), minVersion: 'TLSv1.2' });
// The same WebSocket settings as cloudlocker's server (no compression).
const wss = new WebSocketServer({ server, perMessageDeflate: false });
wss.on('connection', (ws) => {
  ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
});
server.listen(0, '127.0.0.1', () => {
  process.stdout.write(`listening ${(server.address() as AddressInfo).port}\n`);
});
process.on('SIGINT', () => {
  wss.close();
  server.close(() => process.exit(0));
});
