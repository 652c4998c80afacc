/** A folder upload as a transfer group (transfer-group.ts): its files' uploads, and empty folders' markers. */
import { EMPTY_FOLDER_MARKER, type UploadFolderResult } from '../../protocol/index.js';
import type { EncryptionSpec, FormatRegistry } from '../crypto/index.js';
import type { Storage } from '../storage/storage.js';
import type { FolderContents } from './folder-walk.js';
import type { TransferEngine } from './transfer-engine.js';
import { runTransferGroup } from './transfer-group.js';
import type { TransferReservation } from './transfer-requests.js';

export interface FolderUploadRequest {
  readonly reservation: TransferReservation;
  readonly name: string;
  readonly contents: FolderContents;
  readonly overwrite: boolean;
  /** What each file is sealed with: per name, since a format may bind the name (age's author stanza signs it). */
  readonly encryptionFor: (name: string) => EncryptionSpec;
  readonly keyPath: string;
  readonly keyCreated: boolean;
}

export async function runFolderUpload(
  engine: TransferEngine,
  storage: Storage,
  formats: FormatRegistry,
  request: FolderUploadRequest,
): Promise<UploadFolderResult> {
  const { contents } = request;
  const keyId = formats.createSealer(request.encryptionFor(contents.files[0]?.name ?? `${request.name}/${EMPTY_FOLDER_MARKER}`)).keyId;
  return runTransferGroup(engine, {
    reservation: request.reservation,
    totalBytes: contents.totalBytes,
    items: contents.files,
    runItem: async (file, member, groupId, signal) => {
      if (file.source === undefined) {
        await writeEmptyMarker(storage, formats, request, file.name, signal);
        return 0;
      }
      const result = await engine.upload({
        reservation: member,
        source: file.source,
        name: file.name,
        overwrite: request.overwrite,
        encryption: request.encryptionFor(file.name),
        keyPath: request.keyPath,
        keyCreated: request.keyCreated,
        groupId,
      });
      return result.size;
    },
    result: ({ filesDone, size, failed }) => ({
      transferId: request.reservation.transferId,
      name: request.name,
      filesTotal: contents.files.length,
      filesStored: filesDone,
      size,
      emptyFolders: contents.emptyFolders,
      failed,
      skipped: contents.skipped.map((entry) => ({ path: entry.path, reason: entry.reason })),
      keyId,
      keyPath: request.keyPath,
      keyCreated: request.keyCreated,
    }),
  });
}

/** An empty folder's marker: the encrypted form of an empty file, written directly (no local file to read). */
async function writeEmptyMarker(storage: Storage, formats: FormatRegistry, request: FolderUploadRequest, name: string, signal: AbortSignal): Promise<void> {
  const sealer = formats.createSealer(request.encryptionFor(name));
  const body = Buffer.concat([sealer.header, sealer.encryptChunk(0, new Uint8Array(0), true)]);
  const writer = await storage.beginWrite(name, { expectedSize: body.length, signal });
  try {
    await writer.writePart(0, 0, body);
    await writer.complete({ overwrite: request.overwrite });
  } catch (err) {
    await writer.abort().catch(() => undefined);
    throw err;
  }
}
