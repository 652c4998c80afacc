/**
 * The server's TLS certificate: the user's own (--tls-cert/--tls-key), or a
 * self-signed ECDSA P-256 certificate for localhost, 127.0.0.1 and ::1 kept
 * in `<dataDir>/tls/`. It is made on first start, reused across restarts, and
 * renewed when it expires within 30 days or cannot be read. Renewal keeps the
 * private key when it is still sound, so a client pinning the SPKI hash keeps
 * working.
 */
import { X509Certificate, createHash, createPrivateKey, createPublicKey, randomBytes, type KeyObject } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from '../logging.js';
import { ensurePrivateDirectory, writeFileAtomic } from '../fs/atomic-file.js';

export interface ServerCertificate {
  readonly certPem: string;
  readonly keyPem: string;
  /** The certificate file (PEM): what `wscat --ca` and other clients trust. */
  readonly path: string;
  readonly keyPath: string;
  /** SHA-256 of the certificate's DER, lowercase hex without separators. */
  readonly sha256: string;
  /** SHA-256 of the SubjectPublicKeyInfo DER, base64: Chromium/Electron pinning form. */
  readonly spkiSha256: string;
  readonly notAfter: Date;
  /** Where it came from on this start. */
  readonly source: 'user' | 'generated' | 'reused' | 'renewed';
}

export interface CertificateOptions {
  readonly dataDir: string;
  /** The user's own certificate and key (PEM files); used as they are. */
  readonly userCertificate?: { readonly certPath: string; readonly keyPath: string } | undefined;
  /** Default: now. */
  readonly now?: Date;
  /** Lifetime of a generated certificate. Default 365 days. */
  readonly validityDays?: number;
  /** Renew a generated certificate when it expires within this many days. Default 30. */
  readonly renewBeforeDays?: number;
  readonly logger?: Logger;
}

export const TLS_DIR_NAME = 'tls';
const DAY_MS = 24 * 60 * 60 * 1000;
const EC_ALGORITHM = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;

/** Thrown when the user's certificate or key cannot be used; the message says what to fix. */
export class CertificateError extends Error {
  override readonly name = 'CertificateError';
}

export async function loadOrCreateCertificate(options: CertificateOptions): Promise<ServerCertificate> {
  if (options.userCertificate !== undefined) return loadUserCertificate(options.userCertificate, options);

  const now = options.now ?? new Date();
  const directory = path.join(options.dataDir, TLS_DIR_NAME);
  const certPath = path.join(directory, 'cert.pem');
  const keyPath = path.join(directory, 'key.pem');
  await ensurePrivateDirectory(directory);

  const existing = await readPair(certPath, keyPath);
  const renewBefore = (options.renewBeforeDays ?? 30) * DAY_MS;
  const { certificate, certPem: existingCertPem, keyPem: existingKeyPem } = existing;
  if (certificate !== undefined && existingCertPem !== undefined && existingKeyPem !== undefined && existing.keyMatches) {
    const notBefore = new Date(certificate.validFrom);
    const notAfter = new Date(certificate.validTo);
    if (notBefore.getTime() <= now.getTime() && notAfter.getTime() - now.getTime() > renewBefore) {
      return describe(existingCertPem, existingKeyPem, certPath, keyPath, 'reused', certificate);
    }
  }

  // Keep a sound key so that SPKI pins survive renewal; anything odd gets a new key.
  const reusableKey = existing.key !== undefined && isP256(existing.key) ? existing.key : undefined;
  const { certPem, keyPem } = await generateSelfSigned(reusableKey, now, options.validityDays ?? 365);
  // Key first: a crash between the two writes leaves a mismatched pair, which the next start replaces.
  await writeFileAtomic(keyPath, keyPem, 0o600);
  await writeFileAtomic(certPath, certPem, 0o644);
  const source = existing.certPem === undefined ? 'generated' : 'renewed';
  options.logger?.info({ certificate: certPath, keptKey: reusableKey !== undefined }, `TLS certificate ${source}`);
  return describe(certPem, keyPem, certPath, keyPath, source);
}

/** The two fingerprints clients pin, from a PEM certificate (or the same certificate already parsed). */
export function certificateFingerprints(certPem: string | X509Certificate): { sha256: string; spkiSha256: string; notAfter: Date } {
  const certificate = typeof certPem === 'string' ? new X509Certificate(certPem) : certPem;
  const spki = certificate.publicKey.export({ type: 'spki', format: 'der' });
  return {
    sha256: createHash('sha256').update(certificate.raw).digest('hex'),
    spkiSha256: createHash('sha256').update(spki).digest('base64'),
    notAfter: new Date(certificate.validTo),
  };
}

async function loadUserCertificate(
  files: { certPath: string; keyPath: string },
  options: CertificateOptions,
): Promise<ServerCertificate> {
  const certPem = await readText(files.certPath, 'the TLS certificate (--tls-cert)');
  const keyPem = await readText(files.keyPath, 'the TLS key (--tls-key)');
  let certificate: X509Certificate;
  let key: KeyObject;
  try {
    certificate = new X509Certificate(certPem);
  } catch {
    throw new CertificateError(`${files.certPath} is not a PEM certificate: pass the certificate file to --tls-cert.`);
  }
  try {
    key = createPrivateKey(keyPem);
  } catch {
    throw new CertificateError(
      `${files.keyPath} is not an unencrypted PEM private key: pass the certificate's private key to --tls-key.`,
    );
  }
  if (!certificate.checkPrivateKey(key)) {
    throw new CertificateError(`The key in ${files.keyPath} does not belong to the certificate in ${files.certPath}.`);
  }
  const now = options.now ?? new Date();
  if (new Date(certificate.validTo).getTime() < now.getTime()) {
    options.logger?.warn({ certificate: files.certPath, notAfter: certificate.validTo }, 'the TLS certificate has expired');
  }
  return describe(certPem, keyPem, files.certPath, files.keyPath, 'user', certificate);
}

interface ExistingPair {
  certPem?: string;
  keyPem?: string;
  certificate?: X509Certificate;
  key?: KeyObject;
  keyMatches: boolean;
}

async function readPair(certPath: string, keyPath: string): Promise<ExistingPair> {
  const pair: ExistingPair = { keyMatches: false };
  pair.certPem = await readFile(certPath, 'utf8').catch(() => undefined);
  pair.keyPem = await readFile(keyPath, 'utf8').catch(() => undefined);
  try {
    if (pair.certPem !== undefined) pair.certificate = new X509Certificate(pair.certPem);
  } catch {
    // Corrupt: replaced below.
  }
  try {
    if (pair.keyPem !== undefined) pair.key = createPrivateKey(pair.keyPem);
  } catch {
    // Corrupt: replaced below.
  }
  if (pair.certificate !== undefined && pair.key !== undefined) {
    pair.keyMatches = pair.certificate.checkPrivateKey(pair.key);
  }
  return pair;
}

function isP256(key: KeyObject): boolean {
  return key.type === 'private' && key.asymmetricKeyType === 'ec' && key.asymmetricKeyDetails?.namedCurve === 'prime256v1';
}

async function generateSelfSigned(
  existingKey: KeyObject | undefined,
  now: Date,
  validityDays: number,
): Promise<{ certPem: string; keyPem: string }> {
  // Loaded only to make a certificate (first start, or a renewal): every
  // other start spares the memory it and its ASN.1 stack take (~10 MiB RSS).
  const x509 = await import('@peculiar/x509');
  x509.cryptoProvider.set(globalThis.crypto);
  const keys = existingKey === undefined ? await newKeyPair() : await importKeyPair(existingKey);
  const serial = randomBytes(16);
  serial[0] = (serial[0] ?? 0) & 0x7f; // a positive INTEGER, as RFC 5280 asks
  const certificate = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial.toString('hex'),
    name: 'CN=cloudlocker (localhost)',
    // An hour of slack for clocks that disagree slightly.
    notBefore: new Date(now.getTime() - 60 * 60 * 1000),
    notAfter: new Date(now.getTime() + validityDays * DAY_MS),
    signingAlgorithm: EC_ALGORITHM,
    keys,
    extensions: [
      new x509.SubjectAlternativeNameExtension([
        { type: 'dns', value: 'localhost' },
        { type: 'ip', value: '127.0.0.1' },
        { type: 'ip', value: '::1' },
      ]),
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
    ],
  });
  const pkcs8 = Buffer.from(await globalThis.crypto.subtle.exportKey('pkcs8', keys.privateKey));
  const keyPem = createPrivateKey({ key: pkcs8, format: 'der', type: 'pkcs8' }).export({ type: 'pkcs8', format: 'pem' }) as string;
  return { certPem: certificate.toString('pem'), keyPem };
}

async function newKeyPair(): Promise<CryptoKeyPair> {
  return globalThis.crypto.subtle.generateKey(EC_ALGORITHM, true, ['sign', 'verify']);
}

async function importKeyPair(privateKey: KeyObject): Promise<CryptoKeyPair> {
  const subtle = globalThis.crypto.subtle;
  const pkcs8 = privateKey.export({ type: 'pkcs8', format: 'der' });
  const spki = createPublicKey(privateKey).export({ type: 'spki', format: 'der' });
  return {
    privateKey: await subtle.importKey('pkcs8', pkcs8, EC_ALGORITHM, true, ['sign']),
    publicKey: await subtle.importKey('spki', spki, EC_ALGORITHM, true, ['verify']),
  };
}

function describe(
  certPem: string,
  keyPem: string,
  certPath: string,
  keyPath: string,
  source: ServerCertificate['source'],
  /** certPem already parsed (a start that reuses the certificate parsed it to check it): not parsed twice. */
  parsed?: X509Certificate,
): ServerCertificate {
  return { certPem, keyPem, path: certPath, keyPath, source, ...certificateFingerprints(parsed ?? certPem) };
}

async function readText(file: string, what: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'error';
    throw new CertificateError(`Cannot read ${what} at ${file} (${code}).`);
  }
}
