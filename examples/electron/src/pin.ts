/**
 * Trust exactly the service's certificate: its public key's SHA-256 (SPKI),
 * on the service's host, and nothing else. Never turn certificate checks off.
 */
import { X509Certificate, createHash } from 'node:crypto';
import type { Session } from 'electron';

// [pin]
export function spkiSha256(pem: string): string {
  const spki = new X509Certificate(pem).publicKey.export({ type: 'spki', format: 'der' });
  return createHash('sha256').update(spki).digest('base64');
}

export function pinCertificate(session: Session, serviceUrl: string, pinnedSpkiSha256: string): void {
  const serviceHost = new URL(serviceUrl).hostname; // "127.0.0.1"
  session.setCertificateVerifyProc((request, callback) => {
    if (request.hostname === serviceHost && spkiSha256(request.certificate.data) === pinnedSpkiSha256) {
      callback(0); // the service's own key: trusted
    } else {
      callback(-3); // anything else: Chromium's usual verification (which refuses self-signed certificates)
    }
  });
}
// [/pin]
