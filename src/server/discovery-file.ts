/**
 * Writing and removing `<dataDir>/server.json` (the record is described in
 * config/discovery-record.ts). Mode 0600 because it holds the token; written
 * atomically; removed on clean shutdown, but only by the server that wrote it.
 */
import { rm } from 'node:fs/promises';
import { discoveryFilePath, readDiscoveryFile, type DiscoveryRecord } from '../config/discovery-record.js';
import { writeFileAtomic } from '../fs/atomic-file.js';

export { DISCOVERY_FILE_NAME, discoveryFilePath, readDiscoveryFile, type DiscoveryRecord } from '../config/discovery-record.js';

export async function writeDiscoveryFile(dataDir: string, record: DiscoveryRecord): Promise<string> {
  const file = discoveryFilePath(dataDir);
  await writeFileAtomic(file, `${JSON.stringify(record, null, 2)}\n`, 0o600);
  return file;
}

/** Remove the file if it still describes `record` (another server may have replaced it since). */
export async function removeDiscoveryFile(dataDir: string, record: DiscoveryRecord): Promise<void> {
  const current = await readDiscoveryFile(dataDir);
  if (current === undefined || current.pid !== record.pid || current.startedAt !== record.startedAt || current.port !== record.port) {
    return;
  }
  await rm(discoveryFilePath(dataDir), { force: true });
}
