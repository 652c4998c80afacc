import { X509Certificate } from 'node:crypto';
import { readFile, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { CertificateError, loadOrCreateCertificate } from '../../src/server/tls-certificate.js';
import { makeTempDir } from '../helpers/server.js';

const DAY = 24 * 60 * 60 * 1000;
const T0 = new Date('2030-01-01T00:00:00Z');
const at = (days: number) => new Date(T0.getTime() + days * DAY);

let dataDir: string;
beforeEach(async () => {
  dataDir = await makeTempDir();
});
afterEach(async () => {
  await rm(dataDir, { recursive: true, force: true });
});

describe('the generated certificate', () => {
  it('is ECDSA P-256 for localhost, 127.0.0.1 and ::1, a server certificate valid for a year', async () => {
    const generated = await loadOrCreateCertificate({ dataDir, now: T0 });
    expect(generated.source).toBe('generated');
    const certificate = new X509Certificate(generated.certPem);
    expect(certificate.subjectAltName).toBe('DNS:localhost, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1');
    expect(certificate.publicKey.asymmetricKeyDetails?.namedCurve).toBe('prime256v1');
    expect(certificate.ca).toBe(false);
    expect(certificate.keyUsage).toEqual(['1.3.6.1.5.5.7.3.1']);
    expect(new Date(certificate.validTo).getTime()).toBe(at(365).getTime());
    expect(certificate.checkPrivateKey((await import('node:crypto')).createPrivateKey(generated.keyPem))).toBe(true);
    expect(generated.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(Buffer.from(generated.spkiSha256, 'base64')).toHaveLength(32);
    expect(await readFile(generated.path, 'utf8')).toBe(generated.certPem);
    if (process.platform !== 'win32') expect((await stat(generated.keyPath)).mode & 0o777).toBe(0o600);
  });

  it('is reused while it has more than 30 days left', async () => {
    const generated = await loadOrCreateCertificate({ dataDir, now: T0 });
    const later = await loadOrCreateCertificate({ dataDir, now: at(334) });
    expect(later.source).toBe('reused');
    expect(later.sha256).toBe(generated.sha256);
  });

  it('is renewed within 30 days of expiry, keeping its key so SPKI pins hold', async () => {
    const generated = await loadOrCreateCertificate({ dataDir, now: T0 });
    const renewed = await loadOrCreateCertificate({ dataDir, now: at(336) });
    expect(renewed.source).toBe('renewed');
    expect(renewed.sha256).not.toBe(generated.sha256);
    expect(renewed.spkiSha256).toBe(generated.spkiSha256);
    expect(renewed.notAfter.getTime()).toBe(at(336 + 365).getTime());
  });

  it('is replaced, with a new key, when the files are corrupt', async () => {
    const generated = await loadOrCreateCertificate({ dataDir, now: T0 });
    await writeFile(generated.keyPath, 'not a key');
    const replaced = await loadOrCreateCertificate({ dataDir, now: T0 });
    expect(replaced.source).toBe('renewed');
    expect(replaced.spkiSha256).not.toBe(generated.spkiSha256);

    await writeFile(replaced.path, '-----BEGIN CERTIFICATE-----\ngarbage\n-----END CERTIFICATE-----\n');
    const again = await loadOrCreateCertificate({ dataDir, now: T0 });
    expect(again.source).toBe('renewed');
    // The key was sound: kept.
    expect(again.spkiSha256).toBe(replaced.spkiSha256);
  });

  it('is replaced when the key does not belong to the certificate', async () => {
    const other = await makeTempDir();
    const mine = await loadOrCreateCertificate({ dataDir, now: T0 });
    const theirs = await loadOrCreateCertificate({ dataDir: other, now: T0 });
    await writeFile(mine.keyPath, theirs.keyPem);
    const fixed = await loadOrCreateCertificate({ dataDir, now: T0 });
    expect(fixed.source).toBe('renewed');
    expect(new X509Certificate(fixed.certPem).checkPrivateKey((await import('node:crypto')).createPrivateKey(fixed.keyPem))).toBe(true);
    await rm(other, { recursive: true, force: true });
  });

  it('is replaced when it is not valid yet (the clock went back)', async () => {
    await loadOrCreateCertificate({ dataDir, now: T0 });
    expect((await loadOrCreateCertificate({ dataDir, now: at(-2) })).source).toBe('renewed');
  });
});

describe("the user's own certificate", () => {
  it('is used as it is, and nothing is written to the data directory', async () => {
    const elsewhere = await makeTempDir();
    const own = await loadOrCreateCertificate({ dataDir: elsewhere, now: T0 });
    const used = await loadOrCreateCertificate({ dataDir, userCertificate: { certPath: own.path, keyPath: own.keyPath } });
    expect(used).toMatchObject({ source: 'user', sha256: own.sha256, spkiSha256: own.spkiSha256, path: own.path });
    await expect(stat(path.join(dataDir, 'tls'))).rejects.toMatchObject({ code: 'ENOENT' });
    await rm(elsewhere, { recursive: true, force: true });
  });

  it('is refused with a clear error when the key does not match or a file is missing', async () => {
    const a = await loadOrCreateCertificate({ dataDir: path.join(dataDir, 'a'), now: T0 });
    const b = await loadOrCreateCertificate({ dataDir: path.join(dataDir, 'b'), now: T0 });
    await expect(loadOrCreateCertificate({ dataDir, userCertificate: { certPath: a.path, keyPath: b.keyPath } })).rejects.toThrow(
      new CertificateError(`The key in ${b.keyPath} does not belong to the certificate in ${a.path}.`),
    );
    await expect(
      loadOrCreateCertificate({ dataDir, userCertificate: { certPath: path.join(dataDir, 'nope.pem'), keyPath: b.keyPath } }),
    ).rejects.toThrow(/Cannot read the TLS certificate.*ENOENT/);
    await expect(loadOrCreateCertificate({ dataDir, userCertificate: { certPath: a.keyPath, keyPath: a.keyPath } })).rejects.toThrow(
      /not a PEM certificate/,
    );
  });
});
