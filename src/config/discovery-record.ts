/**
 * `<dataDir>/server.json`: how a launcher (the Electron main process, the
 * CLI's client commands, the Node client) finds a running server, its token
 * and the certificate to pin. The record and how to read it, shared by the
 * server that writes the file (server/discovery-file.ts) and the clients
 * that read it.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';

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

/** The record in `dataDir`, or undefined when there is none or it is unreadable. */
export async function readDiscoveryFile(dataDir: string): Promise<DiscoveryRecord | undefined> {
  try {
    const value = JSON.parse(await readFile(discoveryFilePath(dataDir), 'utf8')) as unknown;
    return isDiscoveryRecord(value) ? value : undefined;
  } catch {
    return undefined;
  }
}

export function isDiscoveryRecord(value: unknown): value is DiscoveryRecord {
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
