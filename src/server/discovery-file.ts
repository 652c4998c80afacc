/**
 * `<dataDir>/server.json`: how a launcher (the Electron main process, the
 * CLI's client commands) finds a running server, its token and the
 * certificate to pin. Mode 0600 because it holds the token; written
 * atomically; removed on clean shutdown, but only by the server that wrote it.
 */
import { readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { writeFileAtomic } from '../fs/atomic-file.js';

export const DISCOVERY_FILE_NAME = 'server.json';

export interface DiscoveryRecord {
  /** wss://host:port/rpc */
  readonly url: string;
  readonly port: number;
  readonly pid: number;
  readonly token: string;
  /** The server's version (package.json). */
  readonly version: string;
  /** ISO 8601. */
  readonly startedAt: string;
  readonly certificate: {
    /** PEM file to trust (wscat --ca, Node's `ca` option). */
    readonly path: string;
    /** SHA-256 of the certificate DER, lowercase hex. */
    readonly sha256: string;
    /** base64 SHA-256 of the SubjectPublicKeyInfo (Chromium/Electron pin). */
    readonly spkiSha256: string;
  };
}

export function discoveryFilePath(dataDir: string): string {
  return path.join(dataDir, DISCOVERY_FILE_NAME);
}

export async function writeDiscoveryFile(dataDir: string, record: DiscoveryRecord): Promise<string> {
  const file = discoveryFilePath(dataDir);
  await writeFileAtomic(file, `${JSON.stringify(record, null, 2)}\n`, 0o600);
  return file;
}

/** The record in `dataDir`, or undefined when there is none or it is unreadable. */
export async function readDiscoveryFile(dataDir: string): Promise<DiscoveryRecord | undefined> {
  try {
    const value = JSON.parse(await readFile(discoveryFilePath(dataDir), 'utf8')) as unknown;
    return isDiscoveryRecord(value) ? value : undefined;
  } catch {
    return undefined;
  }
}

/** Remove the file if it still describes `record` (another server may have replaced it since). */
export async function removeDiscoveryFile(dataDir: string, record: DiscoveryRecord): Promise<void> {
  const current = await readDiscoveryFile(dataDir);
  if (current === undefined || current.pid !== record.pid || current.startedAt !== record.startedAt || current.port !== record.port) {
    return;
  }
  await rm(discoveryFilePath(dataDir), { force: true });
}

function isDiscoveryRecord(value: unknown): value is DiscoveryRecord {
  if (typeof value !== 'object' || value === null) return false;
  const record = value as Record<string, unknown>;
  const certificate = record['certificate'] as Record<string, unknown> | undefined;
  return (
    typeof record['url'] === 'string' &&
    typeof record['port'] === 'number' &&
    typeof record['pid'] === 'number' &&
    typeof record['token'] === 'string' &&
    typeof record['version'] === 'string' &&
    typeof record['startedAt'] === 'string' &&
    typeof certificate === 'object' &&
    certificate !== null &&
    typeof certificate['path'] === 'string' &&
    typeof certificate['sha256'] === 'string' &&
    typeof certificate['spkiSha256'] === 'string'
  );
}
