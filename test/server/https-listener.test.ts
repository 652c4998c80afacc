/**
 * The HTTPS server's TLS context (src/server/https-listener.ts): with the
 * generated certificate it is made without a trust store (`ca: []`), so Node
 * does not parse its ~140 bundled root CAs at every start (issue 17); TLS
 * clients that trust the certificate still connect. The user's own
 * certificate keeps Node's default.
 */
import { createRequire } from 'node:module';
import { rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { jest } from '@jest/globals';
import { createLogger } from '../../src/logging.js';
import { closeHttpsServer, createHttpsServer, listen } from '../../src/server/https-listener.js';
import { loadOrCreateCertificate, type ServerCertificate } from '../../src/server/tls-certificate.js';
import { makeTempDir } from '../helpers/server.js';

// The CommonJS module object: node:https reads createSecureContext from it at each call, so a spy on it sees the call.
const tls = createRequire(import.meta.url)('node:tls') as typeof import('node:tls');
const logger = createLogger({ level: 'silent', destination: { write: () => undefined } });

let dataDir: string;
let certificate: ServerCertificate;
beforeAll(async () => {
  dataDir = await makeTempDir();
  certificate = await loadOrCreateCertificate({ dataDir });
});
afterAll(async () => {
  await rm(dataDir, { recursive: true, force: true });
});

function contextOptions(tlsOptions: Parameters<typeof createHttpsServer>[0]): import('node:tls').SecureContextOptions {
  const spy = jest.spyOn(tls, 'createSecureContext');
  try {
    createHttpsServer(tlsOptions, logger);
    expect(spy).toHaveBeenCalledTimes(1);
    return spy.mock.calls[0]![0]!;
  } finally {
    spy.mockRestore();
  }
}

it('makes the context of the generated certificate without a trust store (no root CAs parsed)', () => {
  expect(certificate.source).toBe('generated');
  expect(contextOptions(certificate).ca).toEqual([]);
  expect(contextOptions({ ...certificate, source: 'reused' }).ca).toEqual([]);
});

it("keeps Node's default trust store for the user's own certificate", () => {
  expect(contextOptions({ ...certificate, source: 'user' }).ca).toBeUndefined();
  expect(contextOptions({ certPem: certificate.certPem, keyPem: certificate.keyPem }).ca).toBeUndefined();
});

it('still completes a TLS handshake with a client that trusts the certificate', async () => {
  const server = createHttpsServer(certificate, logger);
  await listen(server, 0, '127.0.0.1');
  try {
    const { port } = server.address() as AddressInfo;
    const peer = await new Promise<string>((resolve, reject) => {
      const socket = tls.connect({ host: '127.0.0.1', port, servername: 'localhost', ca: certificate.certPem }, () => {
        const fingerprint = socket.getPeerX509Certificate()?.fingerprint256 ?? '';
        socket.destroy();
        resolve(fingerprint);
      });
      socket.on('error', reject);
    });
    expect(peer.replace(/:/g, '').toLowerCase()).toBe(certificate.sha256);
  } finally {
    await closeHttpsServer(server);
  }
});
