/**
 * Finding the running service from Node: `<dataDir>/server.json` gives the
 * URL, the token and the certificate to pin. The data directory is chosen as
 * the service chooses it: the given one, else CLOUDLOCKER_DATA_DIR, else the
 * platform's application-data directory.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { platformDataDir } from '../config/data-dir.js';
import { readDiscoveryFile, discoveryFilePath } from '../config/discovery-record.js';
import { ConnectError } from './errors.js';

export interface DiscoverOptions {
  /** Default: CLOUDLOCKER_DATA_DIR, else the platform's application-data directory. */
  dataDir?: string;
  /** Where CLOUDLOCKER_DATA_DIR and the platform variables are read. Default process.env. */
  env?: Readonly<Record<string, string | undefined>>;
}

/** Everything needed to connect to the service found in a data directory (holds the token: never log it). */
export interface DiscoveredService {
  readonly url: string;
  readonly token: string;
  /** PEM of the service's certificate, to trust exactly it. */
  readonly ca: string;
  readonly spkiSha256: string;
  readonly sha256: string;
  readonly certificatePath: string;
  readonly pid: number;
  readonly version: string;
  readonly startedAt: string;
  readonly dataDir: string;
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value === '' ? undefined : value;
}

/** The data directory the service would use for these settings (absolute). */
export function resolveDataDir(dataDir?: string, env: Readonly<Record<string, string | undefined>> = process.env): string {
  return path.resolve(nonEmpty(dataDir) ?? nonEmpty(env['CLOUDLOCKER_DATA_DIR']) ?? platformDataDir(env));
}

/** Read `<dataDir>/server.json` and the certificate it names; ConnectError `not-running` when there is none. */
export async function discover(options: DiscoverOptions = {}): Promise<DiscoveredService> {
  const dataDir = resolveDataDir(options.dataDir, options.env);
  const record = await readDiscoveryFile(dataDir);
  if (record === undefined) {
    throw new ConnectError(
      'not-running',
      `No cloudlocker service is running for ${dataDir} (no readable ${path.basename(discoveryFilePath(dataDir))} there): start one with "cloudlocker serve --data-dir ${dataDir}", or pass --url.`,
    );
  }
  let ca: string;
  try {
    ca = await readFile(record.certificate.path, 'utf8');
  } catch (err) {
    throw new ConnectError('certificate', `Cannot read the service's certificate ${record.certificate.path}: ${(err as Error).message}`, { cause: err });
  }
  return {
    url: record.url,
    token: record.token,
    ca,
    spkiSha256: record.certificate.spkiSha256,
    sha256: record.certificate.sha256,
    certificatePath: record.certificate.path,
    pid: record.pid,
    version: record.version,
    startedAt: record.startedAt,
    dataDir,
  };
}
