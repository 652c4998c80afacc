/**
 * Certificate pinning for the Node client. The service's certificate is
 * self-signed; a client trusts it by its SHA-256 fingerprints from
 * server.json, never by turning verification off.
 *
 * The token must not reach a server that fails the pin, so the check happens
 * in the TLS handshake (Node's `checkServerIdentity`, which runs before any
 * byte of the HTTP upgrade request leaves), never after the upgrade.
 */
import { X509Certificate, createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import { isIP } from 'node:net';
import type { PeerCertificate } from 'node:tls';

// Not `import tls from 'node:tls'`: importing a built-in as an ES module builds its namespace by
// reading every export, and node:tls's `rootCertificates` getter then parses Node's ~140 root CA
// certificates. This file is in the `cloudlocker` command's graph, so every `serve` paid 1-10 ms for it
// at start (docs/benchmarks.md, start-up). require() returns the module without touching the getter.
const tls = createRequire(import.meta.url)('node:tls') as typeof import('node:tls');
import { ConnectError } from './errors.js';

export interface CertificatePin {
  /** base64 SHA-256 of the SubjectPublicKeyInfo (server.json `certificate.spkiSha256`; survives renewal). */
  readonly spkiSha256?: string;
  /** SHA-256 of the certificate's DER bytes, hex (server.json `certificate.sha256`); colons and case are ignored. */
  readonly sha256?: string;
}

export function hasPin(pin: CertificatePin): boolean {
  return pin.spkiSha256 !== undefined || pin.sha256 !== undefined;
}

export function spkiSha256Of(der: Buffer): string {
  const spki = new X509Certificate(der).publicKey.export({ type: 'spki', format: 'der' });
  return createHash('sha256').update(spki).digest('base64');
}

export function sha256Of(der: Buffer): string {
  return createHash('sha256').update(der).digest('hex');
}

function normaliseHex(value: string): string {
  return value.replace(/:/g, '').toLowerCase();
}

/** The TLS handshake's verdict when the certificate is not the pinned one. */
export class PinMismatchError extends Error {
  override readonly name = 'PinMismatchError';
}

/** undefined when `der` satisfies every pin given; otherwise the error to refuse the connection with. */
export function pinProblem(der: Buffer, pin: CertificatePin): PinMismatchError | undefined {
  if (pin.spkiSha256 !== undefined && spkiSha256Of(der) !== pin.spkiSha256) {
    return new PinMismatchError('the server certificate does not match the pinned spkiSha256');
  }
  if (pin.sha256 !== undefined && sha256Of(der) !== normaliseHex(pin.sha256)) {
    return new PinMismatchError('the server certificate does not match the pinned sha256');
  }
  return undefined;
}

/** A `checkServerIdentity` for tls/https/ws options that accepts exactly the pinned certificate. */
export function pinnedIdentityCheck(pin: CertificatePin): (host: string, certificate: PeerCertificate) => Error | undefined {
  return (_host, certificate) => pinProblem(certificate.raw, pin);
}

export function derToPem(der: Buffer): string {
  const lines = der.toString('base64').match(/.{1,64}/g) ?? [];
  return `-----BEGIN CERTIFICATE-----\n${lines.join('\n')}\n-----END CERTIFICATE-----\n`;
}

/**
 * Fetch the certificate a server presents, without sending it anything but
 * a TLS handshake, and check it against the pin. Used when only a pin is
 * known: the real connection then trusts exactly this certificate as its CA
 * (and checks the pin again), so the token is sent only over a verified session.
 */
export function fetchPinnedCertificate(host: string, port: number, pin: CertificatePin, timeoutMs = 10_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({
      host,
      port,
      // SNI carries host names only, never addresses.
      ...(isIP(host) === 0 ? { servername: host } : {}),
      // Only to read the certificate: nothing is sent on this connection, and the pin decides.
      rejectUnauthorized: false,
      minVersion: 'TLSv1.2',
    });
    const fail = (error: Error) => {
      socket.destroy();
      reject(error);
    };
    socket.setTimeout(timeoutMs, () => fail(new ConnectError('unreachable', `No TLS answer from ${host}:${port} within ${timeoutMs} ms.`)));
    socket.once('error', (err) => fail(new ConnectError('unreachable', `Cannot reach the cloudlocker service at ${host}:${port}: ${err.message}`, { cause: err })));
    socket.once('secureConnect', () => {
      const der = socket.getPeerCertificate(false).raw;
      socket.destroy();
      const problem = der === undefined ? new Error('the server sent no certificate') : pinProblem(der, pin);
      if (problem !== undefined || der === undefined) {
        reject(new ConnectError('certificate', `Refusing to connect to ${host}:${port}: ${problem?.message ?? 'no certificate'}.`, { cause: problem }));
        return;
      }
      resolve(derToPem(der));
    });
  });
}
